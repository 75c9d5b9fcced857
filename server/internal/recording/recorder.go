package recording

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/database"
)

// Options configure a Recorder. Zero fields take the defaults shown.
type Options struct {
	// Logger receives write failures and maintenance reports.
	Logger zerolog.Logger
	// Registerer, when set, gets the recorder's metrics (sensocto_recording_*).
	Registerer prometheus.Registerer
	// Clock defaults to the wall clock.
	Clock Clock

	// QueueBound is the most samples queued (a value counts one, a block its
	// samples) before the oldest are dropped. Default 2,000,000.
	QueueBound int
	// FlushSamples queued start a flush before FlushInterval. Default 65,536.
	FlushSamples int
	// BatchSamples is the most samples written in one transaction. Default 262,144.
	BatchSamples int
	// Writers is how many batches a flush writes at once, each on its own
	// connection and in its own transaction (PostgreSQL: index maintenance is the
	// bottleneck and runs in the server backend, one core per connection). Default 2
	// on PostgreSQL; always 1 on SQLite, which has one writer.
	Writers int
	// FlushInterval is the longest queued data waits while the store is healthy.
	// Default 250 ms.
	FlushInterval time.Duration
	// RetryMin and RetryMax bound the exponential backoff after a failed write.
	// Defaults 100 ms and 5 s.
	RetryMin, RetryMax time.Duration
	// ShutdownTimeout bounds the final flush when Run's context ends. Default 10 s.
	ShutdownTimeout time.Duration
	// MaintenanceInterval is how often Run calls Maintain. Default 1 h.
	MaintenanceInterval time.Duration

	// PartitionsAhead is how many days after today get partitions in advance
	// (PostgreSQL). Default 2.
	PartitionsAhead int
	// PartitionWindow is how far before now a flush still creates a day partition
	// on demand (PostgreSQL); older rows go to the default partition. Default 30 days.
	PartitionWindow time.Duration
	// DefaultRetention applies to sensors without their own retention; 0 keeps
	// data forever.
	DefaultRetention time.Duration
	// BlockLookback is how far before a query's start blocks are read, so a block
	// that starts before the range and reaches into it is included. Blocks longer
	// than this are cut at the range start. Default 60 s.
	BlockLookback time.Duration
}

func (o *Options) setDefaults() {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	defD := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&o.QueueBound, 2_000_000)
	def(&o.FlushSamples, 65_536)
	def(&o.BatchSamples, 262_144)
	def(&o.PartitionsAhead, 2)
	defD(&o.FlushInterval, 250*time.Millisecond)
	defD(&o.RetryMin, 100*time.Millisecond)
	defD(&o.RetryMax, 5*time.Second)
	defD(&o.ShutdownTimeout, 10*time.Second)
	defD(&o.MaintenanceInterval, time.Hour)
	defD(&o.PartitionWindow, 30*24*time.Hour)
	defD(&o.BlockLookback, time.Minute)
	if o.Clock == nil {
		o.Clock = realClock{}
	}
}

// Stats are the recorder's counts, all in samples (a value counts one, a block its
// samples).
type Stats struct {
	// Queued samples wait to be written (including a batch being written).
	Queued int
	// Written samples are in the store.
	Written uint64
	// Dropped samples were lost: the queue was full (oldest first), the value was
	// invalid, or they were still queued when the shutdown flush gave up.
	Dropped uint64
	// Retries counts failed batch writes that were retried.
	Retries uint64
	// LastError describes the last write error without its details ("database
	// unreachable"), empty after a successful write; the error itself is logged.
	LastError string
	// Retrying is set while the last write failed: Run retries with backoff.
	Retrying bool
	// QueueBound is Options.QueueBound.
	QueueBound int
	// LastWrite is when a batch was last written (zero before the first).
	LastWrite time.Time
	// LastLag is how long the oldest sample of the last written batch waited between
	// being queued and being committed.
	LastLag time.Duration
	// OldestQueuedAge is how long the oldest sample waiting (not being written) has
	// waited; 0 when none waits.
	OldestQueuedAge time.Duration
}

// Recorder writes recorded measurements and answers history and export queries.
// Create it with New, start Run in a goroutine the caller owns, feed it with Enqueue
// and EnqueueBlock.
type Recorder struct {
	db      *database.DB
	opts    Options
	log     zerolog.Logger
	q       *queue
	sink    sink
	metrics *metrics
	kick    chan struct{}

	writeMu sync.Mutex // one batch write at a time (Run and Flush)
	ready   atomic.Bool
	retries atomic.Uint64
	invalid atomic.Uint64
	lastErr atomic.Pointer[string]
	purged  atomic.Bool // the first Maintain of the process deleted unreadable rows
}

// New returns a recorder on db. It does no I/O: the store's tables are ensured
// before the first write (Run, Flush) or by EnsureSchema.
func New(db *database.DB, opts Options) (*Recorder, error) {
	opts.setDefaults()
	r := &Recorder{
		db:   db,
		opts: opts,
		log:  opts.Logger.With().Str("component", "recording").Logger(),
		q:    newQueue(opts.QueueBound, opts.Clock.Now),
		kick: make(chan struct{}, 1),
	}
	switch db.Dialect() {
	case database.DialectPostgres:
		r.sink = newPGSink(db.SQL, &r.opts)
		if r.opts.Writers <= 0 {
			r.opts.Writers = 2
		}
	case database.DialectSQLite:
		r.sink = &sqliteSink{db: db.SQL}
		r.opts.Writers = 1
	default:
		return nil, fmt.Errorf("create recorder: unknown dialect %q", db.Dialect())
	}
	m, err := newMetrics(opts.Registerer, r)
	if err != nil {
		return nil, fmt.Errorf("create recorder: %w", err)
	}
	r.metrics = m
	return r, nil
}

// Enqueue queues a copy of v for writing. It never waits for I/O; when the queue is
// full the oldest queued samples are dropped (see Stats.Dropped).
func (r *Recorder) Enqueue(v Value) {
	if r.q.push(&v) >= r.opts.FlushSamples {
		r.signal()
	}
}

// EnqueueValues queues copies of vs under one lock (cheaper than Enqueue per value
// for a batch). The caller may reuse vs and the payloads once it returns.
func (r *Recorder) EnqueueValues(vs []Value) {
	if len(vs) == 0 {
		return
	}
	if r.q.pushMany(vs) >= r.opts.FlushSamples {
		r.signal()
	}
}

// EnqueueBlock queues a copy of b (its samples are copied; the caller may reuse the
// slice). A block without samples is ignored; one whose rate is not positive and
// finite is counted as dropped.
func (r *Recorder) EnqueueBlock(b Block) {
	if len(b.Samples) == 0 {
		return
	}
	if !(b.RateHz > 0) || math.IsInf(b.RateHz, 0) {
		r.invalid.Add(u64(len(b.Samples)))
		return
	}
	if r.q.pushBlock(&b) >= r.opts.FlushSamples {
		r.signal()
	}
}

func (r *Recorder) signal() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Stats returns the current counts.
func (r *Recorder) Stats() Stats {
	queued, written, dropped := r.q.counts()
	s := Stats{
		Queued: queued, Written: written, Dropped: dropped + r.invalid.Load(), Retries: r.retries.Load(),
		QueueBound: r.opts.QueueBound,
	}
	if p := r.lastErr.Load(); p != nil {
		s.LastError, s.Retrying = *p, true
	}
	var oldest time.Time
	s.LastWrite, s.LastLag, oldest = r.q.timing()
	if !oldest.IsZero() {
		s.OldestQueuedAge = max(r.opts.Clock.Now().Sub(oldest), 0)
	}
	return s
}

// EnsureSchema creates the store's tables, indexes and the partitions of today and
// the next PartitionsAhead days if they are missing. It is idempotent and safe to run
// from several processes at once.
func (r *Recorder) EnsureSchema(ctx context.Context) error {
	if err := r.sink.ensure(ctx, r.opts.Clock.Now()); err != nil {
		return fmt.Errorf("ensure measurement store: %w", err)
	}
	r.ready.Store(true)
	return nil
}

// Run writes queued data until ctx ends, then flushes what is left within
// ShutdownTimeout and returns. It also runs Maintain every MaintenanceInterval. Run
// returns an error only when samples were still queued when the final flush gave up
// (they are counted as dropped).
func (r *Recorder) Run(ctx context.Context) error {
	clock := r.opts.Clock
	var backoff time.Duration
	nextMaint := clock.Now()
	for {
		kick := r.kick
		wait := r.opts.FlushInterval
		if backoff > 0 {
			kick, wait = nil, backoff // a full queue does not shorten the backoff
		}
		timer := clock.After(wait)
		select {
		case <-ctx.Done():
			return r.shutdown(ctx)
		case <-kick:
		case <-timer:
		}
		if err := r.drain(ctx); err != nil {
			if ctx.Err() != nil {
				return r.shutdown(ctx)
			}
			r.retries.Add(1)
			backoff = min(max(2*backoff, r.opts.RetryMin), r.opts.RetryMax)
			r.log.Warn().Err(err).Dur("retry_in", backoff).Int("queued", r.Stats().Queued).Msg("recording write failed")
			continue
		}
		backoff = 0
		if now := clock.Now(); !now.Before(nextMaint) {
			nextMaint = now.Add(r.opts.MaintenanceInterval)
			if err := r.Maintain(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn().Err(err).Msg("recording maintenance failed")
			}
		}
	}
}

// shutdown flushes what is queued, retrying with backoff until ShutdownTimeout.
func (r *Recorder) shutdown(parent context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), r.opts.ShutdownTimeout)
	defer cancel()
	backoff := r.opts.RetryMin
	for {
		err := r.drain(ctx)
		if err == nil {
			return nil
		}
		r.retries.Add(1)
		select {
		case <-ctx.Done():
			n := r.q.dropAll()
			r.log.Error().Err(err).Int("dropped", n).Msg("recording shutdown flush gave up")
			return fmt.Errorf("flush recording queue: %d samples dropped: %w", n, err)
		case <-r.opts.Clock.After(backoff):
		}
		backoff = min(2*backoff, r.opts.RetryMax)
	}
}

// Flush writes everything queued now, without retrying: it returns the first error
// (the failed batch stays queued). Tests and tools use it; the server relies on Run.
func (r *Recorder) Flush(ctx context.Context) error {
	return r.drain(ctx)
}

// drain writes the samples queued when it starts, up to Writers batches at a time
// (each in its own transaction, so each is settled on its own: a failed one goes
// back to the head of the queue in order, a written one is done).
func (r *Recorder) drain(ctx context.Context) error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	todo, _, _ := r.q.counts()
	batches := make([]batch, 0, r.opts.Writers)
	errs := make([]error, r.opts.Writers)
	for todo > 0 {
		size := min(r.opts.BatchSamples, max(chunkSamples, todo/r.opts.Writers+1))
		batches = batches[:0]
		for range r.opts.Writers {
			b := r.q.take(size)
			if b.n == 0 {
				break
			}
			batches = append(batches, b)
			todo -= b.n
		}
		if len(batches) == 0 {
			return nil
		}
		if len(batches) == 1 {
			errs[0] = r.write(ctx, &batches[0])
		} else {
			var wg sync.WaitGroup
			for i := range batches {
				wg.Go(func() { errs[i] = r.write(ctx, &batches[i]) })
			}
			wg.Wait()
		}
		for i := len(batches) - 1; i >= 0; i-- { // the oldest failed batch ends up first
			r.q.done(batches[i], errs[i] == nil)
		}
		if err := errors.Join(errs[:len(batches)]...); err != nil {
			// Stats are shown to users (SystemService): the cause, with the database's
			// address and user, is only logged.
			msg := "write failed; see the server log"
			if apperr.IsUnavailable(err) {
				msg = "database unreachable"
			}
			r.lastErr.Store(&msg)
			return err
		}
		r.lastErr.Store(nil)
	}
	return nil
}

func (r *Recorder) write(ctx context.Context, b *batch) error {
	if !r.ready.Load() {
		if err := r.EnsureSchema(ctx); err != nil {
			return err
		}
	}
	start := time.Now()
	err := r.sink.write(ctx, b, r.opts.Clock.Now())
	r.metrics.flushSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("write recorded batch: %w", err)
	}
	r.metrics.flushSamples.Observe(float64(b.n))
	return nil
}
