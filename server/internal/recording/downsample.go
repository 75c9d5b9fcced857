package recording

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"

	"golang.org/x/sync/errgroup"

	"github.com/sensocto/sensocto/server/apirules"
)

// bucket accumulates the values of one time bucket.
type bucket struct {
	min, max, sum float64
	numbers       uint64 // numeric values in sum
	n             uint64 // all values
	payload       []byte // first non-numeric value
	kind          Kind
	payloadT      int64
	hasPayload    bool
}

func (b *bucket) addNumber(v float64) {
	if b.numbers == 0 {
		b.min, b.max = v, v
	} else {
		b.min = math.Min(b.min, v)
		b.max = math.Max(b.max, v)
	}
	b.sum += v
	b.numbers++
	b.n++
}

func (b *bucket) addPayload(t int64, k Kind, p []byte) {
	b.n++
	if !b.hasPayload || t < b.payloadT {
		b.payload, b.kind, b.payloadT, b.hasPayload = p, k, t, true
	}
}

// grid is a set of equal-width buckets over [lo, hi).
type grid struct {
	lo, width int64
	b         []bucket
}

func newGrid(lo, hi int64, maxPoints int) *grid {
	span := hi - lo
	w := span / int64(maxPoints)
	if span%int64(maxPoints) != 0 {
		w++
	}
	w = max(w, 1)
	n := span / w
	if span%w != 0 {
		n++
	}
	return &grid{lo: lo, width: w, b: make([]bucket, n)}
}

// at returns the bucket of time t (clamped to the grid).
func (g *grid) at(t int64) *bucket {
	i := (t - g.lo) / g.width
	i = min(max(i, 0), int64(len(g.b)-1))
	return &g.b[i]
}

// merge adds a run of n numeric values with the given extremes and sum.
func (b *bucket) merge(lo, hi, sum float64, n uint64) {
	if b.numbers == 0 {
		b.min, b.max = lo, hi
	} else {
		b.min, b.max = math.Min(b.min, lo), math.Max(b.max, hi)
	}
	b.sum += sum
	b.numbers += n
	b.n += n
}

// addBlock buckets the samples (packed little-endian float32s) of a block in
// [from, to). Sample times increase within a block, so it accumulates a run per
// bucket and merges it when the next bucket starts, without a division per sample.
func (g *grid) addBlock(start int64, rate float64, packed []byte, from, to int64) {
	cur := -1
	var (
		next     int64 // start of the bucket after cur
		lo, hi   float32
		sum      float64
		n        uint64
		lastIdx  = len(g.b) - 1
		nSamples = len(packed) / 4
	)
	for i := range nSamples {
		t := apirules.SampleTimeUS(start, i, rate)
		if t < from || t >= to {
			continue
		}
		v := math.Float32frombits(binary.LittleEndian.Uint32(packed[4*i:]))
		if cur < 0 || t >= next {
			if n > 0 {
				g.b[cur].merge(float64(lo), float64(hi), sum, n)
			}
			cur = int(min(max((t-g.lo)/g.width, 0), int64(lastIdx)))
			next = g.lo + int64(cur+1)*g.width
			if cur == lastIdx {
				next = math.MaxInt64
			}
			lo, hi, sum, n = v, v, 0, 0
		}
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
		sum += float64(v)
		n++
	}
	if n > 0 {
		g.b[cur].merge(float64(lo), float64(hi), sum, n)
	}
}

// downsample buckets the range [from, to): recorded numbers in SQL, recorded blocks
// and non-numeric values streamed, the in-memory window in Go.
func (r *Recorder) downsample(ctx context.Context, req HistoryRequest, bd rangeBounds, from, cut, to int64, recent []Point) (History, error) {
	lo, hi := bd.minT, bd.maxT
	if len(recent) > 0 {
		lo = min(lo, recent[0].TimeUS)
		hi = max(hi, recent[len(recent)-1].TimeUS)
	}
	lo, hi = max(lo, from), min(hi, to-1)
	g := newGrid(lo, hi+1, req.MaxPoints)
	if cut > from {
		if err := r.bucketNumbers(ctx, req, g, max(from, lo), cut); err != nil {
			return History{}, err
		}
		if bd.blocks {
			if err := r.bucketBlocks(ctx, req, g, from, cut); err != nil {
				return History{}, err
			}
		}
		if bd.packs {
			if err := r.bucketPacks(ctx, req, g, from, cut); err != nil {
				return History{}, err
			}
		}
	}
	for _, p := range recent {
		b := g.at(p.TimeUS)
		switch {
		case p.Kind == KindNumber && p.Count > 1:
			// An already summarised in-memory point.
			if b.numbers == 0 {
				b.min, b.max = p.Min, p.Max
			} else {
				b.min, b.max = math.Min(b.min, p.Min), math.Max(b.max, p.Max)
			}
			b.sum += p.Number * float64(p.Count)
			b.numbers += uint64(p.Count)
			b.n += uint64(p.Count)
		case p.Kind == KindNumber:
			b.addNumber(p.Number)
		default:
			b.addPayload(p.TimeUS, p.Kind, p.Payload)
		}
	}
	h := History{Downsampled: true}
	for i := range g.b {
		b := &g.b[i]
		if b.n == 0 {
			continue
		}
		h.TotalCount += b.n
		p := Point{TimeUS: g.lo + int64(i)*g.width, Count: uint32(min(b.n, math.MaxUint32))} //nolint:gosec // G115: clamped
		if b.numbers > 0 {
			p.Kind, p.Number, p.Min, p.Max = KindNumber, b.sum/float64(b.numbers), b.min, b.max
		} else {
			p.Kind, p.Payload = b.kind, b.payload
		}
		h.Points = append(h.Points, p)
	}
	return h, nil
}

// bucketNumbers aggregates recorded measurements per bucket in SQL (min, max, sum,
// counts), and streams non-numeric rows to keep each bucket's first one.
func (r *Recorder) bucketNumbers(ctx context.Context, req HistoryRequest, g *grid, from, to int64) error {
	q := rebind(r.db.Dialect(), `SELECT (time_us - ?) / ? AS b, min(number), max(number), sum(number), count(number), count(*)
	  FROM measurements
	 WHERE sensor_id = ? AND attribute_id = ? AND time_us >= ? AND time_us < ?
	 GROUP BY b`)
	rows, err := r.db.SQL.QueryContext(ctx, q, g.lo, g.width, req.SensorID, req.AttributeID, from, to)
	if err != nil {
		return fmt.Errorf("bucket recorded numbers: %w", err)
	}
	defer func() { _ = rows.Close() }()
	payloads := false
	for rows.Next() {
		var (
			i            int64
			mn, mx, sum  sql.NullFloat64
			numbers, all int64
		)
		if err := rows.Scan(&i, &mn, &mx, &sum, &numbers, &all); err != nil {
			return fmt.Errorf("bucket recorded numbers: %w", err)
		}
		b := &g.b[min(max(i, 0), int64(len(g.b)-1))]
		if numbers > 0 {
			if b.numbers == 0 {
				b.min, b.max = mn.Float64, mx.Float64
			} else {
				b.min, b.max = math.Min(b.min, mn.Float64), math.Max(b.max, mx.Float64)
			}
			b.sum += sum.Float64
			b.numbers += uint64(numbers)
		}
		b.n += uint64(all) //nolint:gosec // G115: counts are non-negative
		payloads = payloads || all > numbers
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("bucket recorded numbers: %w", err)
	}
	if !payloads {
		return nil
	}
	q = rebind(r.db.Dialect(), `SELECT time_us, kind, payload FROM measurements
	 WHERE sensor_id = ? AND attribute_id = ? AND time_us >= ? AND time_us < ? AND number IS NULL`)
	prows, err := r.db.SQL.QueryContext(ctx, q, req.SensorID, req.AttributeID, from, to)
	if err != nil {
		return fmt.Errorf("bucket recorded values: %w", err)
	}
	defer func() { _ = prows.Close() }()
	for prows.Next() {
		var (
			t       int64
			k       int64
			payload sql.RawBytes
		)
		if err := prows.Scan(&t, &k, &payload); err != nil {
			return fmt.Errorf("bucket recorded values: %w", err)
		}
		// Counted by the aggregate above; only keep the bucket's first value.
		if b := g.at(t); !b.hasPayload || t < b.payloadT {
			b.payload, b.kind, b.payloadT, b.hasPayload = append([]byte(nil), payload...), Kind(k), t, true //nolint:gosec // G115: kind is stored from a Kind
		}
	}
	if err := prows.Err(); err != nil {
		return fmt.Errorf("bucket recorded values: %w", err)
	}
	return nil
}

// summarisedSQL selects, per bucket of the grid, the merged summaries of the rows of
// a table (measurement_blocks or measurement_packs) that lie wholly in [from, to) and
// in one bucket: those contribute their min, max, sum and count without being
// decoded. Parameters: lo, width, sensor, attribute, max(from, lo), to, to, and the
// bucket test's lo, width, lo, width.
func summarisedSQL(table string) string {
	sane := ""
	if table == blocksTable {
		sane = saneBlockSQL
	}
	return `SELECT (start_time_us - ?) / ? AS b, min(min_value), max(max_value), sum(sum_value), sum(count)
	  FROM ` + table + `
	 WHERE sensor_id = ? AND attribute_id = ? AND start_time_us >= ? AND start_time_us < ? AND end_time_us < ?` + sane + `
	   AND min_value IS NOT NULL AND (start_time_us - ?) / ? = (end_time_us - ?) / ?
	 GROUP BY b`
}

// notSummarised is the condition on the rows summarisedSQL does not take (blocks
// written before summaries existed have a NULL min_value). Parameters: max(from, lo),
// to, lo, width, lo, width.
const notSummarised = ` AND NOT (min_value IS NOT NULL AND start_time_us >= ? AND end_time_us < ?
	AND (start_time_us - ?) / ? = (end_time_us - ?) / ?)`

// summary is one row of summarisedSQL's answer.
type summary struct {
	bucket      int64
	lo, hi, sum float64
	n           int64
}

// bucketSummaries runs summarisedSQL for table on its own connection while decode
// runs on another (the two scans of the same index range overlap on two cores), then
// merges the summaries into the grid.
func (r *Recorder) bucketSummaries(ctx context.Context, table string, req HistoryRequest, g *grid, from, to int64, decode func(context.Context) error) error {
	var sums []summary
	eg, ectx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		var err error
		sums, err = r.summaries(ectx, table, req, g, from, to)
		return err
	})
	eg.Go(func() error { return decode(ectx) })
	if err := eg.Wait(); err != nil {
		return err // both sides wrap their errors
	}
	for _, x := range sums {
		g.b[min(max(x.bucket, 0), int64(len(g.b)-1))].merge(x.lo, x.hi, x.sum, uint64(max(x.n, 0)))
	}
	return nil
}

// summaries returns summarisedSQL's answer for table.
func (r *Recorder) summaries(ctx context.Context, table string, req HistoryRequest, g *grid, from, to int64) ([]summary, error) {
	lo := max(from, g.lo)
	rows, err := r.db.SQL.QueryContext(ctx, rebind(r.db.Dialect(), summarisedSQL(table)),
		g.lo, g.width, req.SensorID, req.AttributeID, lo, to, to, g.lo, g.width, g.lo, g.width)
	if err != nil {
		return nil, fmt.Errorf("bucket summaries of %s: %w", table, err)
	}
	defer func() { _ = rows.Close() }()
	out := make([]summary, 0, len(g.b))
	for rows.Next() {
		var x summary
		if err := rows.Scan(&x.bucket, &x.lo, &x.hi, &x.sum, &x.n); err != nil {
			return nil, fmt.Errorf("bucket summaries of %s: %w", table, err)
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("bucket summaries of %s: %w", table, err)
	}
	return out, nil
}

// bucketBlocks buckets the recorded blocks of the range: blocks lying in one bucket
// by their summaries (in SQL), the others streamed and decoded, one block in memory
// at a time.
func (r *Recorder) bucketBlocks(ctx context.Context, req HistoryRequest, g *grid, from, to int64) error {
	return r.bucketSummaries(ctx, blocksTable, req, g, from, to, func(ctx context.Context) error {
		return r.decodeBlocks(ctx, req, g, from, to)
	})
}

// decodeBlocks buckets the samples of the blocks bucketSummaries does not take.
func (r *Recorder) decodeBlocks(ctx context.Context, req HistoryRequest, g *grid, from, to int64) error {
	q := rebind(r.db.Dialect(), `SELECT start_time_us, rate_hz, samples FROM measurement_blocks
	 WHERE sensor_id = ? AND attribute_id = ? AND start_time_us >= ? AND start_time_us < ?`+saneBlockSQL+notSummarised)
	lo := max(from, g.lo)
	rows, err := r.db.SQL.QueryContext(ctx, q, req.SensorID, req.AttributeID, satSub(from, r.opts.BlockLookback.Microseconds()), to,
		lo, to, g.lo, g.width, g.lo, g.width)
	if err != nil {
		return fmt.Errorf("bucket recorded blocks: %w", err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var (
			start   int64
			rate    float64
			samples sql.RawBytes
		)
		if err := rows.Scan(&start, &rate, &samples); err != nil {
			return fmt.Errorf("bucket recorded blocks: %w", err)
		}
		g.addBlock(start, rate, samples, from, to)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("bucket recorded blocks: %w", err)
	}
	return nil
}

// bucketPacks buckets the recorded packs of the range: packs lying in one bucket by
// their summaries (in SQL), the others streamed and decoded.
func (r *Recorder) bucketPacks(ctx context.Context, req HistoryRequest, g *grid, from, to int64) error {
	return r.bucketSummaries(ctx, packsTable, req, g, from, to, func(ctx context.Context) error {
		return r.decodePacks(ctx, req, g, from, to)
	})
}

// decodePacks buckets the values of the packs bucketSummaries does not take.
func (r *Recorder) decodePacks(ctx context.Context, req HistoryRequest, g *grid, from, to int64) error {
	q := rebind(r.db.Dialect(), `SELECT start_time_us, count, times, numbers FROM measurement_packs
	 WHERE sensor_id = ? AND attribute_id = ? AND start_time_us >= ? AND start_time_us < ? AND end_time_us >= ?`+notSummarised)
	lo := max(from, g.lo)
	rows, err := r.db.SQL.QueryContext(ctx, q, req.SensorID, req.AttributeID, satSub(from, packMaxSpanUS), to, from,
		lo, to, g.lo, g.width, g.lo, g.width)
	if err != nil {
		return fmt.Errorf("bucket recorded packs: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var (
		dec            packDecoder
		times, numbers sql.RawBytes
	)
	for rows.Next() {
		var start, n int64
		if err := rows.Scan(&start, &n, &times, &numbers); err != nil {
			return fmt.Errorf("bucket recorded packs: %w", err)
		}
		if err := dec.decode(start, int(n), times, numbers); err != nil {
			return fmt.Errorf("bucket recorded packs: %w", err)
		}
		g.addValues(dec.times, dec.numbers, from, to)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("bucket recorded packs: %w", err)
	}
	return nil
}

// addValues buckets time-ordered values in [from, to), a run per bucket like
// addBlock.
func (g *grid) addValues(times []int64, values []float64, from, to int64) {
	cur := -1
	var (
		next       int64
		lo, hi     float64
		sum        float64
		n, numbers uint64
		lastIdx    = len(g.b) - 1
	)
	flush := func() {
		if numbers > 0 {
			g.b[cur].merge(lo, hi, sum, numbers)
		}
		g.b[cur].n += n - numbers // NaNs count, but are left out of the summary
	}
	for i, t := range times {
		if t < from || t >= to {
			continue
		}
		if cur < 0 || t >= next {
			if cur >= 0 {
				flush()
			}
			cur = int(min(max((t-g.lo)/g.width, 0), int64(lastIdx)))
			next = g.lo + int64(cur+1)*g.width
			if cur == lastIdx {
				next = math.MaxInt64
			}
			lo, hi, sum, n, numbers = math.Inf(1), math.Inf(-1), 0, 0, 0
		}
		n++
		v := values[i]
		if math.IsNaN(v) {
			continue
		}
		lo, hi = min(lo, v), max(hi, v)
		sum += v
		numbers++
	}
	if cur >= 0 {
		flush()
	}
}
