package hub

import "time"

// timed is an entry of a ring: it knows its time.
type timed interface {
	timeUS() int64
}

// sample is one stored waveform sample: 24 bytes instead of a Point's 64.
type sample struct {
	t, srv int64
	v      float32
}

func (s sample) timeUS() int64 { return s.t }
func (p Point) timeUS() int64  { return p.TimeUS }

// ring keeps the newest entries of an attribute in time order (ties in arrival
// order), at most limit of them. The buffer grows geometrically up to limit, so
// an idle or slow attribute costs little, and a full one never allocates; an
// attribute whose entries come fast enough to fill the ring within fillHorizon
// grows to the limit at once (nextSize), so filling it leaves no garbage behind.
type ring[T timed] struct {
	buf   []T
	head  int // index of the oldest entry
	n     int
	limit int
	// evicted counts entries pushed out (or refused because older than a
	// full ring's oldest).
	evicted uint64
}

// fillHorizon: a ring its entries would fill within this time (at the rate of those
// it holds) takes its whole buffer at once instead of doubling up to it. 10,000
// sensors at 10 Hz filling rings of 500 by doubling made half of what the server
// allocated in their first minute, and the collector's cycles with it.
const fillHorizon = 60 * time.Second

func newRing[T timed](limit int) ring[T] {
	return ring[T]{limit: max(limit, 1)}
}

// at returns the i-th oldest entry.
func (r *ring[T]) at(i int) *T {
	j := r.head + i
	if j >= len(r.buf) {
		j -= len(r.buf)
	}
	return &r.buf[j]
}

func (r *ring[T]) last() *T { return r.at(r.n - 1) }

// nextSize is the size a full buffer grows to: twice its size (at least 16), or the
// limit at once when the entries held came fast enough (in their own time) to fill
// it within fillHorizon.
func (r *ring[T]) nextSize() int {
	size := min(r.limit, max(16, 2*len(r.buf)))
	if size == r.limit || r.n < 2 {
		return size
	}
	span := float64((*r.last()).timeUS() - (*r.at(0)).timeUS()) // µs for n-1 intervals
	if span >= 0 && float64(r.limit-r.n)*span < float64(fillHorizon.Microseconds())*float64(r.n-1) {
		return r.limit
	}
	return size
}

// grow reallocates the buffer to size (≥ r.n), oldest first.
func (r *ring[T]) grow(size int) {
	nb := make([]T, size)
	for i := 0; i < r.n; i++ {
		nb[i] = *r.at(i)
	}
	r.buf, r.head = nb, 0
}

func (r *ring[T]) dropOldest() {
	var zero T
	r.buf[r.head] = zero // release references held by Ext pointers
	r.head++
	if r.head == len(r.buf) {
		r.head = 0
	}
	r.n--
	r.evicted++
}

// setLimit changes the capacity. Shrinking drops the oldest entries at once and
// gives memory back when the buffer is at least twice the new limit.
func (r *ring[T]) setLimit(limit int) {
	r.limit = max(limit, 1)
	for r.n > r.limit {
		r.dropOldest()
	}
	if len(r.buf) >= 2*r.limit {
		r.grow(r.limit)
	}
}

// insert adds x in time order. It reports false when x was refused: the ring
// is full and x is older than everything in it.
func (r *ring[T]) insert(x T) bool {
	for r.n >= r.limit {
		if r.n > 0 && x.timeUS() < (*r.at(0)).timeUS() {
			r.evicted++
			return false
		}
		r.dropOldest()
	}
	t := x.timeUS()
	if r.n == 0 || t >= (*r.last()).timeUS() {
		r.push(x)
		return true
	}
	// Out of order: the first position with a later time (so ties keep
	// arrival order), then shift the newer entries up by one.
	if r.n == len(r.buf) {
		r.grow(r.nextSize())
	}
	lo := r.upperBound(t)
	for i := r.n; i > lo; i-- {
		*r.at(i) = *r.at(i - 1)
	}
	*r.at(lo) = x
	r.n++
	return true
}

// push appends x as the newest entry, dropping the oldest when full. x must
// not be older than the newest entry.
func (r *ring[T]) push(x T) {
	if r.n >= r.limit {
		r.dropOldest()
	}
	if r.n == len(r.buf) {
		r.grow(r.nextSize())
	}
	*r.at(r.n) = x
	r.n++
}

// insertSorted adds the k entries gen(0) … gen(k-1), which are in time order
// (a block's samples), with the result of k calls of insert: ties after the
// entries already there, the newest limit kept. Entries that follow the newest
// are appended; otherwise the run is merged with the entries newer than its
// first in one pass, O(k + those entries), where k inserts would shift them k
// times (a block overlapping the previous one cost O(k × ring size)).
func (r *ring[T]) insertSorted(k int, gen func(i int) T) {
	if k == 0 {
		return
	}
	first := gen(0)
	if r.n == 0 || first.timeUS() >= (*r.last()).timeUS() {
		r.push(first)
		for i := 1; i < k; i++ {
			r.push(gen(i))
		}
		return
	}
	// Take out the entries newer than first (ties stay before the run), then
	// push the merge of them and the run.
	lo := r.upperBound(first.timeUS())
	tail := make([]T, r.n-lo)
	for i := range tail {
		tail[i] = *r.at(lo + i)
	}
	r.n = lo
	i, j := 0, 0
	next := first
	for i < len(tail) || j < k {
		if j == k || i < len(tail) && tail[i].timeUS() <= next.timeUS() {
			r.push(tail[i])
			i++
			continue
		}
		r.push(next)
		if j++; j < k {
			next = gen(j)
		}
	}
}

// upperBound returns the index of the first entry with time > t.
func (r *ring[T]) upperBound(t int64) int {
	lo, hi := 0, r.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if (*r.at(m)).timeUS() <= t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// lowerBound returns the index of the first entry with time ≥ t.
func (r *ring[T]) lowerBound(t int64) int {
	lo, hi := 0, r.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if (*r.at(m)).timeUS() < t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// span returns the index range [i, j) of entries with from ≤ time < to
// (to ≤ 0 means no upper bound).
func (r *ring[T]) span(from, to int64) (int, int) {
	i := r.lowerBound(from)
	j := r.n
	if to > 0 {
		j = r.lowerBound(to)
	}
	return i, max(i, j)
}
