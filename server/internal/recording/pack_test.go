package recording

import (
	"io"
	"math"
	"slices"
	"testing"

	"github.com/sensocto/sensocto/server/apirules"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

func TestPackRoundTrip(t *testing.T) {
	t.Parallel()
	t0 := baseTime.UnixMicro()
	var vs []Value
	// Out of order, ties, a server clock behind the sensor's, a long gap, and a series
	// longer than packMaxValues.
	for i := range packMaxValues + 10 {
		vs = append(vs, Value{SensorID: "a", AttributeID: "x", TimeUS: t0 + int64(i)*1000, ServerTimeUS: t0 + int64(i)*1000 + int64(i%7) - 3, Kind: KindNumber, Number: float64(i) / 3})
	}
	vs = append(vs,
		Value{SensorID: "a", AttributeID: "y", TimeUS: t0 + 5, ServerTimeUS: t0, Kind: KindNumber, Number: -1},
		Value{SensorID: "a", AttributeID: "y", TimeUS: t0 + 5, ServerTimeUS: t0 - 9_000_000, Kind: KindNumber, Number: -2}, // tie: arrival order kept
		Value{SensorID: "a", AttributeID: "y", TimeUS: t0 + 2, ServerTimeUS: t0 + 1<<40, Kind: KindNumber, Number: math.MaxFloat64},
		Value{SensorID: "a", AttributeID: "y", TimeUS: t0 + 2 + packMaxSpanUS + 1, ServerTimeUS: t0, Kind: KindNumber, Number: math.SmallestNonzeroFloat64}, // span cut
		Value{SensorID: "a", AttributeID: "y", TimeUS: t0 + 3, ServerTimeUS: t0, Kind: 4, Payload: []byte("{}")},
	)
	c := &chunk{values: vs}
	var sc writeScratch
	sc.prepare(&batch{chunks: []*chunk{c}})
	// The payload, and the number cut off alone by the span (a lone value is a row).
	if len(sc.others) != 2 || sc.others[0].Kind != 4 || sc.others[1].Number != math.SmallestNonzeroFloat64 {
		t.Fatalf("others = %v", sc.others)
	}
	type got struct {
		series string
		t, s   int64
		v      float64
	}
	var out []got
	var dec packDecoder
	for _, p := range sc.packs {
		if p.n > packMaxValues || p.end-p.start > packMaxSpanUS {
			t.Fatalf("pack of %d values over %d µs", p.n, p.end-p.start)
		}
		if err := dec.decode(p.start, p.n, p.times, p.numbers); err != nil {
			t.Fatal(err)
		}
		lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
		for i := range dec.times {
			out = append(out, got{p.sensorID + "/" + p.attributeID, dec.times[i], dec.servers[i], dec.numbers[i]})
			lo, hi, sum = min(lo, dec.numbers[i]), max(hi, dec.numbers[i]), sum+dec.numbers[i]
		}
		if dec.times[0] != p.start || dec.times[p.n-1] != p.end || lo != p.min || hi != p.max || sum != p.sum {
			t.Fatalf("pack summary %+v, decoded %v..%v min %v max %v sum %v", p, dec.times[0], dec.times[p.n-1], lo, hi, sum)
		}
	}
	if len(sc.packs) != 3 {
		t.Fatalf("%d packs, want 3 (x split at %d values, y cut by its span)", len(sc.packs), packMaxValues)
	}
	var want []got
	for _, v := range vs[:packMaxValues+10] {
		want = append(want, got{"a/x", v.TimeUS, v.ServerTimeUS, v.Number})
	}
	y := vs[packMaxValues+10:]
	for _, i := range []int{2, 0, 1} {
		want = append(want, got{"a/y", y[i].TimeUS, y[i].ServerTimeUS, y[i].Number})
	}
	if !slices.Equal(out, want) {
		t.Fatalf("decoded %d values, want %d\n%v\nwant\n%v", len(out), len(want), out[len(out)-4:], want[len(want)-4:])
	}
	if err := dec.decode(sc.packs[0].start, sc.packs[0].n+1, sc.packs[0].times, sc.packs[0].numbers); err == nil {
		t.Fatal("decoded a pack with the wrong count")
	}
}

// TestReadsRowsOfTheOldLayout writes rows the way the store did before numbers were
// packed and blocks summarised (schema version 1), then migrates and records more:
// history, paging, counts and export read both layouts as one series.
func TestReadsRowsOfTheOldLayout(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			db := dbtest.Open(t, dialect)
			ctx := t.Context()
			for _, stmt := range storeMigrations[0].postgres {
				if dialect == "sqlite" {
					break
				}
				if _, err := db.SQL.ExecContext(ctx, stmt); err != nil {
					t.Fatal(err)
				}
			}
			if dialect == "sqlite" {
				for _, stmt := range storeMigrations[0].sqlite {
					if _, err := db.SQL.ExecContext(ctx, stmt); err != nil {
						t.Fatal(err)
					}
				}
			}
			t0 := baseTime.UnixMicro()
			var want []Point
			ins := rebind(dialect, `INSERT INTO measurements (sensor_id, attribute_id, time_us, server_time_us, kind, number) VALUES ('s', 'hr', ?, ?, 1, ?)`)
			for i := range 500 {
				v := 60 + float64(i%30)
				if i == 123 {
					v = 250 // the global max lies in the old layout
				}
				tm := t0 + int64(i)*1_000_000
				if _, err := db.SQL.ExecContext(ctx, ins, tm, tm+5, v); err != nil {
					t.Fatal(err)
				}
				want = append(want, rawNumber(tm, tm+5, v))
			}
			insB := rebind(dialect, `INSERT INTO measurement_blocks (sensor_id, attribute_id, start_time_us, server_time_us, rate_hz, count, samples) VALUES ('s', 'ecg', ?, ?, 250, 64, ?)`)
			var wantECG []Point
			samples := make([]float32, 64)
			for b := range 100 {
				for i := range samples {
					samples[i] = float32(math.Sin(float64(b*64+i) / 7))
				}
				if b == 50 {
					samples[3] = -9
				}
				start := t0 + int64(b)*256_000
				if _, err := db.SQL.ExecContext(ctx, insB, start, start, packSamples(nil, samples)); err != nil {
					t.Fatal(err)
				}
				for i, v := range samples {
					wantECG = append(wantECG, rawNumber(apirules.SampleTimeUS(start, i, 250), start, float64(v)))
				}
			}

			r := newRecorder(t, db, Options{})
			if err := r.EnsureSchema(ctx); err != nil {
				t.Fatal(err)
			}
			if err := r.EnsureSchema(ctx); err != nil { // a second start applies nothing
				t.Fatal(err)
			}
			var versions []int
			rows, err := db.SQL.QueryContext(ctx, `SELECT version FROM `+versionsTable+` ORDER BY version`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var v int
				_ = rows.Scan(&v)
				versions = append(versions, v)
			}
			_ = rows.Close()
			if !slices.Equal(versions, []int{1, 2}) || StoreVersion() != 2 {
				t.Fatalf("versions = %v", versions)
			}
			for i := 500; i < 1500; i++ {
				v := 60 + float64(i%30)
				if i == 1234 {
					v = 12 // the global min lies in the new layout
				}
				tm := t0 + int64(i)*1_000_000
				r.Enqueue(Value{SensorID: "s", AttributeID: "hr", TimeUS: tm, ServerTimeUS: tm + 5, Kind: KindNumber, Number: v})
				want = append(want, rawNumber(tm, tm+5, v))
			}
			for b := 100; b < 200; b++ {
				for i := range samples {
					samples[i] = float32(math.Sin(float64(b*64+i) / 7))
				}
				if b == 150 {
					samples[60] = 9
				}
				start := t0 + int64(b)*256_000
				r.EnqueueBlock(Block{SensorID: "s", AttributeID: "ecg", StartUS: start, ServerTimeUS: start, RateHz: 250, Samples: samples})
				for i, v := range samples {
					wantECG = append(wantECG, rawNumber(apirules.SampleTimeUS(start, i, 250), start, float64(v)))
				}
			}
			if err := r.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			comparePoints(t, "hr", allPoints(t, r, HistoryRequest{SensorID: "s", AttributeID: "hr", MaxPoints: 333}), want)
			comparePoints(t, "ecg", allPoints(t, r, HistoryRequest{SensorID: "s", AttributeID: "ecg", MaxPoints: 999}), wantECG)
			for _, tc := range []struct {
				attr           string
				max            int
				total          uint64
				wantLo, wantHi float64
			}{
				{"hr", 50, 1500, 12, 250},
				{"hr", 7, 1500, 12, 250},
				{"ecg", 40, 200 * 64, -9, 9},
				{"ecg", 13, 200 * 64, -9, 9},
			} {
				h, err := r.Query(ctx, HistoryRequest{SensorID: "s", AttributeID: tc.attr, MaxPoints: tc.max})
				if err != nil {
					t.Fatal(err)
				}
				lo, hi := extremes(h.Points)
				if !h.Downsampled || h.TotalCount != tc.total || lo != tc.wantLo || hi != tc.wantHi || len(h.Points) > tc.max {
					t.Errorf("%s/%d: downsampled=%v total=%d min=%v max=%v points=%d", tc.attr, tc.max, h.Downsampled, h.TotalCount, lo, hi, len(h.Points))
				}
			}
			n, err := r.ExportCSV(ctx, io.Discard, "s", "hr", 0, 0, nil)
			if err != nil || n != 1500 {
				t.Fatalf("export = %d rows, %v", n, err)
			}
		})
	}
}
