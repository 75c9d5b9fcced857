package recording

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

// insertBadBlock writes a block row the way the recorder did before the API bounded
// rates and times: end_time_us is what the overflowing arithmetic gave.
func insertBadBlock(t *testing.T, r *Recorder, start int64, rate float64, end int64) {
	t.Helper()
	q := rebind(r.db.Dialect(), `INSERT INTO measurement_blocks
	  (sensor_id, attribute_id, start_time_us, server_time_us, rate_hz, count, samples, end_time_us, min_value, max_value, sum_value)
	  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if _, err := r.db.SQL.ExecContext(t.Context(), q, "s", "ecg", start, start, rate, 3, packSamples(nil, []float32{7, 8, 9}), end, 7.0, 9.0, 24.0); err != nil {
		t.Fatalf("insert bad block: %v", err)
	}
}

// Rows with impossible times or rates, written before the API refused them (a block of
// rate 1e-13, one starting near int64 max, a value at int64 max), no longer fail the
// attribute's history: readers leave them out and Maintain deletes them (issue 11 item
// 7). On PostgreSQL these failed every query with "bigint out of range".
func TestBadRowsDoNotBreakReads(t *testing.T) {
	t.Parallel()
	t0 := baseTime.UnixMicro()
	var good []Value
	for i := range 50 {
		good = append(good, Value{SensorID: "s", AttributeID: "ecg", TimeUS: t0 + int64(i)*1000, ServerTimeUS: t0, Kind: KindNumber, Number: float64(i)})
	}
	goodBlocks := []Block{{SensorID: "s", AttributeID: "ecg", StartUS: t0 + 100_000, ServerTimeUS: t0, RateHz: 100, Samples: []float32{1, 2, 3, 4}}}
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			bad := []Value{
				{SensorID: "s", AttributeID: "ecg", TimeUS: math.MaxInt64, ServerTimeUS: t0, Kind: KindNumber, Number: 1},
				{SensorID: "s", AttributeID: "ecg", TimeUS: math.MaxInt64 - 1, ServerTimeUS: t0, Kind: KindNumber, Number: 1},
			}
			r := writeAll(t, dialect, append(append([]Value(nil), good...), bad...), goodBlocks)
			insertBadBlock(t, r, t0+200_000, 1e-13, math.MinInt64)           // the end overflowed to a negative time
			insertBadBlock(t, r, math.MaxInt64-10, 100, math.MinInt64+9_989) // start near int64 max
			insertBadBlock(t, r, t0+300_000, 1e-13, math.MaxInt64)           // an end saturated
			wantN := uint64(len(good) + len(goodBlocks[0].Samples))
			check := func(t *testing.T) {
				t.Helper()
				for _, maxPoints := range []int{10, 1000} {
					h, err := r.Query(t.Context(), HistoryRequest{SensorID: "s", AttributeID: "ecg", MaxPoints: maxPoints})
					if err != nil {
						t.Fatalf("Query(max %d): %v", maxPoints, err)
					}
					if h.TotalCount != wantN {
						t.Errorf("Query(max %d): %d values, want %d", maxPoints, h.TotalCount, wantN)
					}
				}
				if ps := allPoints(t, r, HistoryRequest{SensorID: "s", AttributeID: "ecg", MaxPoints: 7}); uint64(len(ps)) != wantN {
					t.Errorf("raw paging: %d points, want %d", len(ps), wantN)
				}
				var buf bytes.Buffer
				n, err := r.ExportCSV(t.Context(), &buf, "s", "ecg", 0, 0, nil)
				if err != nil || uint64(n) != wantN || strings.Count(buf.String(), "\n") != int(wantN)+1 {
					t.Errorf("ExportCSV: %d rows, %v; want %d", n, err, wantN)
				}
			}
			check(t)
			if err := r.Maintain(t.Context()); err != nil {
				t.Fatalf("Maintain: %v", err)
			}
			var blocks, values int
			if err := r.db.SQL.QueryRowContext(t.Context(), `SELECT (SELECT count(*) FROM measurement_blocks), (SELECT count(*) FROM measurements)`).Scan(&blocks, &values); err != nil {
				t.Fatal(err)
			}
			if blocks != 1 {
				t.Errorf("%d blocks after Maintain, want the good one", blocks)
			}
			check(t)
		})
	}
}
