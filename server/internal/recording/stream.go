package recording

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/sensocto/sensocto/server/apirules"
)

// Point is one point of history: a raw value or sample, or the summary of a bucket
// of them.
type Point struct {
	// TimeUS is the value's time, or the bucket's start.
	TimeUS int64
	// ServerTimeUS is the server receive time (raw points only; a block's samples
	// share the block's).
	ServerTimeUS int64
	// Kind of the value; KindNumber for block samples and numeric buckets.
	Kind Kind
	// Number is the value, or a numeric bucket's mean.
	Number float64
	// Payload is the encoded value of other kinds (a bucket's first one).
	Payload []byte
	// Min and Max of a numeric bucket; equal to Number for a raw number.
	Min, Max float64
	// Count is how many raw values the point stands for (1 for a raw point).
	Count uint32
}

func rawNumber(t, server int64, v float64) Point {
	return Point{TimeUS: t, ServerTimeUS: server, Kind: KindNumber, Number: v, Min: v, Max: v, Count: 1}
}

// rebind turns ? placeholders into $n for PostgreSQL.
func rebind(dialect, q string) string {
	if dialect != "postgres" {
		return q
	}
	var sb strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			sb.WriteString("$" + strconv.Itoa(n))
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// streamSQL reads values, packed numbers and blocks of one attribute in one cursor
// ordered by time (a pack or block by its start), with a deterministic order for
// ties. Column 3 is the server time of a value or block and the end time of a pack;
// data is a block's samples or a pack's numbers, data2 a pack's times.
const streamSQL = `
SELECT 0 AS src, time_us AS t, server_time_us AS st, kind, number, payload, 0.0 AS rate_hz, 1 AS n, CAST(NULL AS bytea) AS data, CAST(NULL AS bytea) AS data2
  FROM measurements
 WHERE sensor_id = ? AND attribute_id = ? AND time_us >= ? AND time_us < ?
UNION ALL
SELECT 1, start_time_us, server_time_us, 1, NULL, NULL, rate_hz, count, samples, CAST(NULL AS bytea)
  FROM measurement_blocks
 WHERE sensor_id = ? AND attribute_id = ? AND start_time_us >= ? AND start_time_us < ?` + saneBlockSQL + `
UNION ALL
SELECT 2, start_time_us, end_time_us, 1, NULL, NULL, 0.0, count, numbers, times
  FROM measurement_packs
 WHERE sensor_id = ? AND attribute_id = ? AND start_time_us >= ? AND start_time_us < ? AND end_time_us >= ?
 ORDER BY 2, 1, 3, 8, 5, 6, 9, 10`

// pointStream yields the recorded points of one attribute in [from, to) in time
// order, expanding blocks into samples and packs into values. Blocks and packs may
// overlap: expanded points wait in a small heap until no later row can precede them.
// It never holds more than the points of the rows that overlap the current time.
type pointStream struct {
	rows     *sql.Rows
	from, to int64
	h        pointHeap
	seq      uint64
	done     bool
	err      error
	la       streamRow // look-ahead row
	hasLA    bool
	buf      []float32
	dec      packDecoder
}

type streamRow struct {
	src     int
	t       int64
	server  int64 // a pack's end time
	kind    int64
	number  sql.NullFloat64
	payload []byte
	rate    float64
	n       int64
	data    sql.RawBytes
	data2   sql.RawBytes
}

func (r *Recorder) openStream(ctx context.Context, sensorID, attributeID string, from, to int64) (*pointStream, error) {
	q := rebind(r.db.Dialect(), streamSQL)
	rows, err := r.db.SQL.QueryContext(ctx, q,
		sensorID, attributeID, from, to,
		sensorID, attributeID, satSub(from, r.opts.BlockLookback.Microseconds()), to,
		sensorID, attributeID, satSub(from, packMaxSpanUS), to, from)
	if err != nil {
		return nil, fmt.Errorf("query recorded points: %w", err)
	}
	return &pointStream{rows: rows, from: from, to: to}, nil
}

// Close releases the cursor.
func (s *pointStream) Close() error {
	if err := s.rows.Close(); err != nil {
		return fmt.Errorf("close recorded points: %w", err)
	}
	return nil
}

// Err returns the error that ended the stream, if any.
func (s *pointStream) Err() error { return s.err }

func (s *pointStream) load() {
	if s.hasLA || s.done {
		return
	}
	if !s.rows.Next() {
		s.done = true
		if err := s.rows.Err(); err != nil {
			s.err = fmt.Errorf("read recorded points: %w", err)
		}
		return
	}
	r := &s.la
	if err := s.rows.Scan(&r.src, &r.t, &r.server, &r.kind, &r.number, &r.payload, &r.rate, &r.n, &r.data, &r.data2); err != nil {
		s.done = true
		s.err = fmt.Errorf("read recorded points: %w", err)
		return
	}
	s.hasLA = true
}

// Next returns the next point; ok is false at the end or on error (see Err).
func (s *pointStream) Next() (Point, bool) {
	for {
		s.load()
		if len(s.h) > 0 && (!s.hasLA || s.h[0].p.TimeUS < s.la.t) {
			return s.h.pop().p, true
		}
		if !s.hasLA {
			return Point{}, false
		}
		s.hasLA = false
		r := &s.la
		if r.src == 0 {
			if r.t < s.from || r.t >= s.to {
				continue
			}
			p := Point{TimeUS: r.t, ServerTimeUS: r.server, Kind: Kind(r.kind), Count: 1} //nolint:gosec // G115: kind is stored from a Kind
			if p.Kind == KindNumber && r.number.Valid {
				p.Number, p.Min, p.Max = r.number.Float64, r.number.Float64, r.number.Float64
			} else {
				p.Payload = r.payload
			}
			s.seq++
			s.h.push(heapItem{p: p, seq: s.seq})
			continue
		}
		if r.src == 2 {
			if err := s.dec.decode(r.t, int(r.n), r.data2, r.data); err != nil {
				s.done, s.err = true, fmt.Errorf("read recorded points: %w", err)
				return Point{}, false
			}
			for i, t := range s.dec.times {
				if t < s.from || t >= s.to {
					continue
				}
				s.seq++
				s.h.push(heapItem{p: rawNumber(t, s.dec.servers[i], s.dec.numbers[i]), seq: s.seq})
			}
			continue
		}
		s.buf = unpackSamples(s.buf[:0], r.data)
		for i, v := range s.buf {
			t := apirules.SampleTimeUS(r.t, i, r.rate)
			if t < s.from || t >= s.to {
				continue
			}
			s.seq++
			s.h.push(heapItem{p: rawNumber(t, r.server, float64(v)), src: 1, seq: s.seq})
		}
	}
}

type heapItem struct {
	p   Point
	src int // 0: values (measurements and packs), 1: block samples
	seq uint64
}

// pointHeap is a binary min-heap by (time, source, arrival): at equal times values
// come before block samples, then rows in their (deterministic) query order. Every
// point of a time is in the heap before the first of them is popped, so the order
// is total and the same for any query start — raw paging relies on it.
type pointHeap []heapItem

func (h pointHeap) less(i, j int) bool {
	if h[i].p.TimeUS != h[j].p.TimeUS {
		return h[i].p.TimeUS < h[j].p.TimeUS
	}
	if h[i].src != h[j].src {
		return h[i].src < h[j].src
	}
	return h[i].seq < h[j].seq
}

func (h *pointHeap) push(it heapItem) {
	*h = append(*h, it)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if !a.less(i, p) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *pointHeap) pop() heapItem {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && a.less(l, m) {
			m = l
		}
		if r < n && a.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top
}

// satSub returns a-b, saturating at the int64 minimum.
func satSub(a, b int64) int64 {
	if r := a - b; r <= a {
		return r
	}
	return a
}
