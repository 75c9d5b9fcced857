package recording

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/sensocto/sensocto/server/apirules"
	"github.com/sensocto/sensocto/server/internal/apperr"
)

// DefaultMaxPoints is used when HistoryRequest.MaxPoints is 0.
const DefaultMaxPoints = 2000

// HistoryRequest selects a time range of one attribute.
type HistoryRequest struct {
	SensorID    string
	AttributeID string
	// FromUS is the start of the range (inclusive); ToUS the end (exclusive), 0 for
	// no end.
	FromUS, ToUS int64
	// MaxPoints caps the answer (DefaultMaxPoints when 0); with Raw it is the page
	// size.
	MaxPoints int
	// Raw asks for raw points page by page; PageToken is the previous answer's
	// NextPageToken (empty for the first page; a token implies Raw).
	Raw       bool
	PageToken string
	// Recent is the in-memory window of the attribute (data the hub holds, possibly
	// not yet written), in time order. From its first point's time on it replaces
	// the recorded rows: the hub's window holds every accepted value since then, so
	// the overlap between recorded and in-memory data is counted once.
	Recent []Point
}

// History is the answer to a history query.
type History struct {
	// Points in time order.
	Points []Point
	// Downsampled is set when Points summarise buckets of raw values.
	Downsampled bool
	// TotalCount is the number of raw values in the range.
	TotalCount uint64
	// NextPageToken continues raw paging; empty on the last page.
	NextPageToken string
}

// Query answers a history request. When the range holds more than MaxPoints values
// and Raw is not set, it returns at most MaxPoints buckets of equal width: for
// numbers and waveform samples each carries min, max, mean and count (so peaks and
// the range's global extremes survive); for other kinds the bucket's first value.
// Numbers are bucketed in SQL; blocks are streamed and bucketed in Go.
func (r *Recorder) Query(ctx context.Context, req HistoryRequest) (History, error) {
	if req.MaxPoints <= 0 {
		req.MaxPoints = DefaultMaxPoints
	}
	to := req.ToUS
	if to <= 0 || to > maxSaneTimeUS {
		to = maxSaneTimeUS // nothing readable lies later (see saneBlockSQL)
	}
	// Nothing is recorded before 0 (the API never accepted negative times); from ≥ 0
	// keeps every time - from below int64 overflow.
	from := max(req.FromUS, 0)
	if to <= from {
		return History{}, apperr.InvalidArgument("to_us", "must be greater than from_us")
	}
	// cut splits the range: recorded rows before it, the in-memory window from it.
	cut := to
	if len(req.Recent) > 0 && req.Recent[0].TimeUS < cut {
		cut = max(from, req.Recent[0].TimeUS)
	}
	recent := clipPoints(req.Recent, cut, to)
	if req.Raw || req.PageToken != "" {
		return r.rawPage(ctx, req, from, cut, to, recent)
	}
	bd, err := r.bounds(ctx, req.SensorID, req.AttributeID, from, cut)
	if err != nil {
		return History{}, err
	}
	if !bd.any && len(recent) == 0 {
		return History{}, nil
	}
	// One pass buckets everything and counts it; when the range turns out to hold
	// no more than MaxPoints values, they are read again raw (few by definition).
	h, err := r.downsample(ctx, req, bd, from, cut, to, recent)
	if err != nil {
		return History{}, err
	}
	if h.TotalCount <= u64(req.MaxPoints) {
		return r.rawAll(ctx, req, from, cut, to, recent)
	}
	return h, nil
}

// Span returns the times of the oldest and newest recorded values of an attribute;
// ok is false when none is recorded. It reads through the indexes, not the rows.
func (r *Recorder) Span(ctx context.Context, sensorID, attributeID string) (firstUS, lastUS int64, ok bool, err error) {
	bd, err := r.bounds(ctx, sensorID, attributeID, 0, maxSaneTimeUS)
	if err != nil || !bd.any {
		return 0, 0, false, err
	}
	return bd.minT, bd.maxT, true, nil
}

// clipPoints returns the points of ps (time-ordered) in [from, to).
func clipPoints(ps []Point, from, to int64) []Point {
	i := 0
	for i < len(ps) && ps[i].TimeUS < from {
		i++
	}
	j := i
	for j < len(ps) && ps[j].TimeUS < to {
		j++
	}
	return ps[i:j]
}

// rangeStats count the recorded rows of a range (raw paging's total).
type rangeStats struct {
	values  uint64 // rows in measurements
	numbers uint64 // of which numeric
	samples uint64 // block samples in [from, to)
}

func (r *Recorder) stats(ctx context.Context, sensorID, attributeID string, from, to int64) (rangeStats, error) {
	var st rangeStats
	if to <= from {
		return st, nil
	}
	var samples sql.NullInt64
	q := rebind(r.db.Dialect(), `SELECT count(*), count(number) FROM measurements
	 WHERE sensor_id = ? AND attribute_id = ? AND time_us >= ? AND time_us < ?`)
	if err := r.db.SQL.QueryRowContext(ctx, q, sensorID, attributeID, from, to).Scan(&st.values, &st.numbers); err != nil {
		return st, fmt.Errorf("count recorded points: %w", err)
	}
	q = rebind(r.db.Dialect(), `SELECT sum(count) FROM measurement_blocks
	 WHERE sensor_id = ? AND attribute_id = ? AND start_time_us >= ? AND start_time_us < ?`+saneBlockSQL)
	lb := satSub(from, r.opts.BlockLookback.Microseconds())
	if err := r.db.SQL.QueryRowContext(ctx, q, sensorID, attributeID, lb, to).Scan(&samples); err != nil {
		return st, fmt.Errorf("count recorded samples: %w", err)
	}
	edge, err := r.edgeCorrection(ctx, sensorID, attributeID, from, to)
	if err != nil {
		return st, err
	}
	st.samples = uint64(max(samples.Int64-edge, 0))
	var packed sql.NullInt64
	q = rebind(r.db.Dialect(), `SELECT sum(count) FROM measurement_packs
	 WHERE sensor_id = ? AND attribute_id = ? AND start_time_us >= ? AND start_time_us < ? AND end_time_us >= ?`)
	if err := r.db.SQL.QueryRowContext(ctx, q, sensorID, attributeID, satSub(from, packMaxSpanUS), to, from).Scan(&packed); err != nil {
		return st, fmt.Errorf("count recorded numbers: %w", err)
	}
	pedge, err := r.packEdgeCorrection(ctx, sensorID, attributeID, from, to)
	if err != nil {
		return st, err
	}
	n := uint64(max(packed.Int64-pedge, 0))
	st.values += n
	st.numbers += n
	return st, nil
}

// packEdgeCorrection returns how many values of the packs reaching into [from, to)
// lie outside it: packs that start before the range, or end at or after its end.
func (r *Recorder) packEdgeCorrection(ctx context.Context, sensorID, attributeID string, from, to int64) (int64, error) {
	q := rebind(r.db.Dialect(), `SELECT start_time_us, count, times, numbers FROM measurement_packs
	 WHERE sensor_id = ? AND attribute_id = ? AND start_time_us >= ? AND start_time_us < ? AND end_time_us >= ?
	   AND (start_time_us < ? OR end_time_us >= ?)`)
	rows, err := r.db.SQL.QueryContext(ctx, q, sensorID, attributeID, satSub(from, packMaxSpanUS), to, from, from, to)
	if err != nil {
		return 0, fmt.Errorf("count edge packs: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var (
		out            int64
		dec            packDecoder
		times, numbers sql.RawBytes
	)
	for rows.Next() {
		var start, n int64
		if err := rows.Scan(&start, &n, &times, &numbers); err != nil {
			return 0, fmt.Errorf("count edge packs: %w", err)
		}
		if err := dec.decode(start, int(n), times, numbers); err != nil {
			return 0, fmt.Errorf("count edge packs: %w", err)
		}
		for _, t := range dec.times {
			if t < from || t >= to {
				out++
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("count edge packs: %w", err)
	}
	return out, nil
}

// rangeBounds are the first and last recorded times of a range, found through the
// index without scanning the range.
type rangeBounds struct {
	minT, maxT int64
	any        bool // any recorded row
	blocks     bool // any recorded block
	packs      bool // any recorded pack
}

func (r *Recorder) bounds(ctx context.Context, sensorID, attributeID string, from, to int64) (rangeBounds, error) {
	bd := rangeBounds{minT: math.MaxInt64, maxT: math.MinInt64}
	if to <= from {
		return bd, nil
	}
	var vMin, vMax, bMin, bMax, pMin, pMax sql.NullInt64
	const where = `WHERE sensor_id = ? AND attribute_id = ? AND time_us >= ? AND time_us < ?`
	const packWhere = `WHERE sensor_id = ? AND attribute_id = ? AND start_time_us >= ? AND start_time_us < ? AND end_time_us >= ?`
	const bwhere = `WHERE sensor_id = ? AND attribute_id = ? AND start_time_us >= ? AND start_time_us < ?` + saneBlockSQL
	q := rebind(r.db.Dialect(), `SELECT
	  (SELECT time_us FROM measurements `+where+` ORDER BY time_us LIMIT 1),
	  (SELECT time_us FROM measurements `+where+` ORDER BY time_us DESC LIMIT 1),
	  (SELECT start_time_us FROM measurement_blocks `+bwhere+` ORDER BY start_time_us LIMIT 1),
	  (SELECT `+blockEndSQL+` FROM measurement_blocks `+bwhere+`
	    ORDER BY start_time_us DESC LIMIT 1),
	  (SELECT start_time_us FROM measurement_packs `+packWhere+` ORDER BY start_time_us LIMIT 1),
	  (SELECT end_time_us FROM measurement_packs `+packWhere+` ORDER BY start_time_us DESC LIMIT 1)`)
	lb := satSub(from, r.opts.BlockLookback.Microseconds())
	plb := satSub(from, packMaxSpanUS)
	if err := r.db.SQL.QueryRowContext(ctx, q,
		sensorID, attributeID, from, to, sensorID, attributeID, from, to,
		sensorID, attributeID, lb, to, sensorID, attributeID, lb, to,
		sensorID, attributeID, plb, to, from, sensorID, attributeID, plb, to, from,
	).Scan(&vMin, &vMax, &bMin, &bMax, &pMin, &pMax); err != nil {
		return bd, fmt.Errorf("find recorded range: %w", err)
	}
	if vMin.Valid {
		bd.any = true
		bd.minT, bd.maxT = vMin.Int64, vMax.Int64
	}
	if pMin.Valid {
		// Packs may overlap too: values past the grid fall into its last bucket.
		bd.any, bd.packs = true, true
		bd.minT = min(bd.minT, max(pMin.Int64, from))
		bd.maxT = max(bd.maxT, min(pMax.Int64, to-1))
	}
	if bMin.Valid {
		bd.any, bd.blocks = true, true
		// The last block to start may not be the last to end if blocks overlap;
		// samples past the grid fall into its last bucket.
		bd.minT = min(bd.minT, max(bMin.Int64, from))
		bd.maxT = max(bd.maxT, min(bMax.Int64, to-1))
	}
	return bd, nil
}

// rawAll returns every point of the range (the caller knows they are few).
func (r *Recorder) rawAll(ctx context.Context, req HistoryRequest, from, cut, to int64, recent []Point) (History, error) {
	var h History
	if cut > from {
		s, err := r.openStream(ctx, req.SensorID, req.AttributeID, from, cut)
		if err != nil {
			return h, err
		}
		defer func() { _ = s.Close() }()
		for p, ok := s.Next(); ok; p, ok = s.Next() {
			h.Points = append(h.Points, p)
		}
		if err := s.Err(); err != nil {
			return h, err
		}
	}
	for _, p := range recent {
		h.Points = append(h.Points, asRaw(p))
	}
	h.TotalCount = uint64(len(h.Points))
	return h, nil
}

// asRaw fills the summary fields of a raw in-memory point.
func asRaw(p Point) Point {
	if p.Count == 0 {
		p.Count = 1
	}
	if p.Kind == KindNumber && p.Count == 1 {
		p.Min, p.Max = p.Number, p.Number
	}
	return p
}

// Page tokens are base64url of a version byte, the time of the last point returned
// and how many points at exactly that time were returned so far.
const pageTokenVersion = 1

func encodePageToken(t int64, skip int) string {
	var b [17]byte
	b[0] = pageTokenVersion
	binary.BigEndian.PutUint64(b[1:], uint64(t))    //nolint:gosec // G115: bit pattern round-trips
	binary.BigEndian.PutUint64(b[9:], uint64(skip)) //nolint:gosec // G115: skip ≥ 0
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodePageToken(s string) (t int64, skip int, err error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 17 || b[0] != pageTokenVersion {
		return 0, 0, apperr.InvalidArgument("page_token", "is not a token from a previous answer")
	}
	t = int64(binary.BigEndian.Uint64(b[1:])) //nolint:gosec // G115: bit pattern round-trips
	k := binary.BigEndian.Uint64(b[9:])
	if k > math.MaxInt32 {
		return 0, 0, apperr.InvalidArgument("page_token", "is not a token from a previous answer")
	}
	return t, int(k), nil
}

// rawPage returns one page of raw points. Every point of the range is returned
// exactly once over the pages, in time order; points with the same time are told
// apart by their position in the deterministic order of the stream.
func (r *Recorder) rawPage(ctx context.Context, req HistoryRequest, from, cut, to int64, recent []Point) (History, error) {
	start, skip := from, 0
	if req.PageToken != "" {
		t, k, err := decodePageToken(req.PageToken)
		if err != nil {
			return History{}, err
		}
		start, skip = max(t, from), k
	}
	var h History
	st, err := r.stats(ctx, req.SensorID, req.AttributeID, from, cut)
	if err != nil {
		return h, err
	}
	h.TotalCount = st.values + st.samples + u64(len(recent))
	size := req.MaxPoints
	origSkip := skip
	atLast := 0 // points of this page at the time of its last point
	more := false
	emit := func(p Point) bool {
		if skip > 0 && p.TimeUS == start {
			skip--
			return true
		}
		if len(h.Points) == size {
			more = true
			return false
		}
		if n := len(h.Points); n > 0 && h.Points[n-1].TimeUS == p.TimeUS {
			atLast++
		} else {
			atLast = 1
		}
		h.Points = append(h.Points, asRaw(p))
		return true
	}
	if cut > start {
		s, err := r.openStream(ctx, req.SensorID, req.AttributeID, start, cut)
		if err != nil {
			return h, err
		}
		for p, ok := s.Next(); ok && emit(p); p, ok = s.Next() {
		}
		err = s.Err()
		_ = s.Close()
		if err != nil {
			return h, err
		}
	}
	if !more {
		for _, p := range clipPoints(recent, start, to) {
			if !emit(p) {
				break
			}
		}
	}
	if more {
		last := h.Points[len(h.Points)-1].TimeUS
		if last == start {
			atLast += origSkip
		}
		h.NextPageToken = encodePageToken(last, atLast)
	}
	return h, nil
}

// edgeCorrection returns how many samples of blocks starting in [from-lookback, to)
// lie outside [from, to): blocks that start before the range, or run past its end.
func (r *Recorder) edgeCorrection(ctx context.Context, sensorID, attributeID string, from, to int64) (int64, error) {
	lb := satSub(from, r.opts.BlockLookback.Microseconds())
	q := rebind(r.db.Dialect(), `SELECT start_time_us, rate_hz, count FROM measurement_blocks
	 WHERE sensor_id = ? AND attribute_id = ? AND start_time_us >= ? AND start_time_us < ?`+saneBlockSQL+`
	   AND (start_time_us < ? OR `+blockEndSQL+` + 1 >= ?)`)
	rows, err := r.db.SQL.QueryContext(ctx, q, sensorID, attributeID, lb, to, from, to)
	if err != nil {
		return 0, fmt.Errorf("count edge blocks: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out int64
	for rows.Next() {
		var start, n int64
		var rate float64
		if err := rows.Scan(&start, &rate, &n); err != nil {
			return 0, fmt.Errorf("count edge blocks: %w", err)
		}
		for i := range int(n) {
			if t := apirules.SampleTimeUS(start, i, rate); t < from || t >= to {
				out++
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("count edge blocks: %w", err)
	}
	return out, nil
}
