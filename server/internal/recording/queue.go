package recording

import (
	"sync"
	"time"
)

// chunkSamples is how many samples a chunk holds before a new one is started; it is
// also the granularity at which the oldest data is dropped.
const chunkSamples = 4096

// chunk is a pooled segment of the queue. Payloads and block samples are copied into
// its arenas, so callers may reuse their slices once Enqueue returns.
type chunk struct {
	values  []Value // Payload slices point into payload
	blocks  []blockRef
	samples []float32 // arena of block samples
	payload []byte    // arena of value payloads
	n       int       // samples held: one per value plus every block sample
	at      time.Time // when its first sample was queued
}

// blockRef is a queued block whose samples live in chunk.samples[off:off+n].
type blockRef struct {
	SensorID     string
	AttributeID  string
	StartUS      int64
	ServerTimeUS int64
	RateHz       float64
	off, n       int
}

func (c *chunk) blockSamples(b *blockRef) []float32 { return c.samples[b.off : b.off+b.n] }

func (c *chunk) reset() {
	clear(c.values) // drop string and payload references
	clear(c.blocks)
	c.values = c.values[:0]
	c.blocks = c.blocks[:0]
	c.samples = c.samples[:0]
	c.payload = c.payload[:0]
	c.n = 0
	c.at = time.Time{}
}

var chunkPool = sync.Pool{New: func() any {
	return &chunk{
		values:  make([]Value, 0, chunkSamples),
		samples: make([]float32, 0, chunkSamples),
	}
}}

// batch is what the writer takes from the queue in one go.
type batch struct {
	chunks []*chunk
	n      int
}

// queue is the bounded FIFO between the ingest path and the writer. Samples taken by
// the writer stay counted against the bound (inflight) until written, but cannot be
// dropped while being written: meanwhile the oldest queued chunk goes instead. A
// failed batch goes back to the head, where it is the first to be dropped. Drops
// happen a whole chunk (up to chunkSamples) at a time.
type queue struct {
	mu       sync.Mutex
	chunks   []*chunk // oldest first; the last one is filled
	queued   int      // samples in chunks
	inflight int      // samples taken by the writer, not yet confirmed
	bound    int
	dropped  uint64 // samples
	written  uint64 // samples
	now      func() time.Time

	lastWrite time.Time     // when a batch was last written
	lastLag   time.Duration // queued → written of the oldest sample of that batch
}

func newQueue(bound int, now func() time.Time) *queue {
	return &queue{bound: bound, now: now}
}

// tail returns a chunk with room for n samples (an empty chunk takes a block of any
// size). Called with q.mu held.
func (q *queue) tail(n int) *chunk {
	if k := len(q.chunks); k > 0 {
		if c := q.chunks[k-1]; c.n == 0 || c.n+n <= chunkSamples {
			return c
		}
	}
	c := chunkPool.Get().(*chunk)
	c.at = q.now()
	q.chunks = append(q.chunks, c)
	return c
}

// makeRoom drops the oldest chunks until n more samples fit in the bound, and reports
// whether they fit. Called with q.mu held.
func (q *queue) makeRoom(n int) bool {
	for q.queued+q.inflight+n > q.bound && len(q.chunks) > 0 {
		c := q.chunks[0]
		q.dropped += u64(c.n)
		q.queued -= c.n
		q.popFront(1)
		c.reset()
		chunkPool.Put(c)
	}
	if q.queued+q.inflight+n > q.bound {
		q.dropped += u64(n)
		return false
	}
	return true
}

// u64 converts a non-negative count.
func u64(n int) uint64 {
	if n < 0 {
		return 0
	}
	return uint64(n)
}

func (q *queue) popFront(k int) {
	m := copy(q.chunks, q.chunks[k:])
	clear(q.chunks[m:])
	q.chunks = q.chunks[:m]
}

// push queues a copy of v and returns the samples queued.
func (q *queue) push(v *Value) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pushLocked(v)
	return q.queued
}

// pushLocked queues a copy of v (its payload into the tail chunk's arena). Called
// with q.mu held.
func (q *queue) pushLocked(v *Value) {
	if !q.makeRoom(1) {
		return
	}
	c := q.tail(1)
	cv := *v
	if v.Payload != nil {
		off := len(c.payload)
		c.payload = append(c.payload, v.Payload...)
		cv.Payload = c.payload[off:len(c.payload):len(c.payload)]
	}
	c.values = append(c.values, cv)
	c.n++
	q.queued++
}

// pushMany queues copies of vs under one lock and returns the samples queued.
func (q *queue) pushMany(vs []Value) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range vs {
		q.pushLocked(&vs[i])
	}
	return q.queued
}

// pushBlock queues a copy of b and returns the samples queued.
func (q *queue) pushBlock(b *Block) int {
	n := len(b.Samples)
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.makeRoom(n) {
		return q.queued
	}
	c := q.tail(n)
	off := len(c.samples)
	c.samples = append(c.samples, b.Samples...)
	c.blocks = append(c.blocks, blockRef{
		SensorID: b.SensorID, AttributeID: b.AttributeID,
		StartUS: b.StartUS, ServerTimeUS: b.ServerTimeUS, RateHz: b.RateHz,
		off: off, n: n,
	})
	c.n += n
	q.queued += n
	return q.queued
}

// take removes the oldest chunks, at least one and about max samples, for writing.
func (q *queue) take(maxSamples int) batch {
	q.mu.Lock()
	defer q.mu.Unlock()
	var b batch
	k := 0
	for k < len(q.chunks) && (k == 0 || b.n+q.chunks[k].n <= maxSamples) {
		c := q.chunks[k]
		if c.n == 0 {
			break
		}
		b.chunks = append(b.chunks, c)
		b.n += c.n
		k++
	}
	q.popFront(k)
	q.queued -= b.n
	q.inflight += b.n
	return b
}

// done settles a taken batch: written, or back to the head of the queue (and the
// bound enforced, dropping the oldest first).
func (q *queue) done(b batch, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inflight -= b.n
	if ok {
		q.written += u64(b.n)
		if len(b.chunks) > 0 {
			q.lastWrite = q.now()
			q.lastLag = q.lastWrite.Sub(b.chunks[0].at)
		}
		for _, c := range b.chunks {
			c.reset()
			chunkPool.Put(c)
		}
		return
	}
	q.chunks = append(b.chunks, q.chunks...)
	q.queued += b.n
	q.makeRoom(0)
}

// counts returns queued (including in-flight), written and dropped samples.
func (q *queue) counts() (queued int, written, dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.queued + q.inflight, q.written, q.dropped
}

// timing returns when a batch was last written, how long its oldest sample had
// waited, and when the oldest sample still queued (not in flight) was queued (zero
// when none is).
func (q *queue) timing() (lastWrite time.Time, lastLag time.Duration, oldest time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.chunks) > 0 && q.chunks[0].n > 0 {
		oldest = q.chunks[0].at
	}
	return q.lastWrite, q.lastLag, oldest
}

// dropAll discards everything queued (not in flight) and counts it as dropped.
func (q *queue) dropAll() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.queued
	for _, c := range q.chunks {
		c.reset()
		chunkPool.Put(c)
	}
	q.popFront(len(q.chunks))
	q.dropped += u64(n)
	q.queued = 0
	return n
}
