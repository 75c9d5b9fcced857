package recording

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensocto/sensocto/server/apirules"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

// writeAll enqueues and flushes data through a fresh recorder on a fresh database.
func writeAll(t *testing.T, dialect string, values []Value, blocks []Block) *Recorder {
	t.Helper()
	r := newRecorder(t, dbtest.Open(t, dialect), Options{})
	for _, v := range values {
		r.Enqueue(v)
	}
	for _, b := range blocks {
		r.EnqueueBlock(b)
	}
	if err := r.Flush(t.Context()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return r
}

func extremes(ps []Point) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, p := range ps {
		lo, hi = math.Min(lo, p.Min), math.Max(hi, p.Max)
	}
	return lo, hi
}

func TestDownsampleKeepsGlobalExtremes(t *testing.T) {
	t.Parallel()
	t0 := baseTime.UnixMicro()
	// Scalars: 1 Hz for 3 h with one spike up and one down.
	var values []Value
	for i := range 3 * 3600 {
		v := 70 + 5*math.Sin(float64(i)/300)
		switch i {
		case 4321:
			v = 180
		case 7777:
			v = 31
		}
		values = append(values, Value{SensorID: "s", AttributeID: "hr", TimeUS: t0 + int64(i)*1e6, ServerTimeUS: t0, Kind: KindNumber, Number: v})
	}
	// Waveform: 250 Hz for 2 min in blocks of 64, a one-sample R peak and trough.
	var blocks []Block
	for b := range 2 * 60 * 250 / 64 {
		s := make([]float32, 64)
		for i := range s {
			s[i] = float32(0.1 * math.Sin(float64(b*64+i)/7))
		}
		if b == 101 {
			s[13] = 3.25
		}
		if b == 300 {
			s[63] = -2.5
		}
		blocks = append(blocks, Block{SensorID: "s", AttributeID: "ecg", StartUS: t0 + int64(b)*256_000, ServerTimeUS: t0, RateHz: 250, Samples: s})
	}
	// Other kinds: each bucket keeps its first value.
	var payloads []Value
	for i := range 100 {
		payloads = append(payloads, Value{SensorID: "s", AttributeID: "geo", TimeUS: t0 + int64(i)*1e6, Kind: 4, Payload: []byte(fmt.Sprintf(`{"i":%d}`, i))})
	}
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			r := writeAll(t, dialect, slices.Concat(values, payloads), blocks) // a copy each: the subtests run in parallel
			geo, err := r.Query(t.Context(), HistoryRequest{SensorID: "s", AttributeID: "geo", MaxPoints: 10})
			if err != nil || !geo.Downsampled || len(geo.Points) != 10 || geo.TotalCount != 100 {
				t.Fatalf("geo = %d points total %d downsampled %v, %v", len(geo.Points), geo.TotalCount, geo.Downsampled, err)
			}
			for i, p := range geo.Points {
				if want := fmt.Sprintf(`{"i":%d}`, i*10); string(p.Payload) != want || p.Count != 10 || p.Kind != 4 || p.TimeUS > t0+int64(i)*10e6 {
					t.Fatalf("geo bucket %d = %+v, want %s", i, p, want)
				}
			}
			tests := []struct {
				attr           string
				from, to       int64
				max            int
				total          uint64
				wantLo, wantHi float64
			}{
				{"hr", 0, 0, 100, 3 * 3600, 31, 180},
				{"hr", 0, 0, 10, 3 * 3600, 31, 180}, // most packs lie in one bucket: summaries only
				{"hr", t0 + 4321e6, t0 + 4322e6 + 1, 1, 2, 70 + 5*math.Sin(4322.0/300), 180},
				{"hr", t0 + 4000e6, t0 + 8000e6, 7, 4000, 31, 180},
				{"ecg", 0, 0, 50, uint64(len(blocks) * 64), -2.5, 3.25},
				{"ecg", t0 + 101*256_000 + 13*4000, t0 + 300*256_000 + 63*4000 + 1, 3, (300-101)*64 + 50 + 1, -2.5, 3.25},
			}
			for _, tc := range tests {
				h, err := r.Query(t.Context(), HistoryRequest{SensorID: "s", AttributeID: tc.attr, FromUS: tc.from, ToUS: tc.to, MaxPoints: tc.max})
				if err != nil {
					t.Fatalf("Query: %v", err)
				}
				lo, hi := extremes(h.Points)
				var sum uint64
				for _, p := range h.Points {
					sum += uint64(p.Count)
				}
				if !h.Downsampled || len(h.Points) > tc.max || h.TotalCount != tc.total || sum != tc.total || lo != tc.wantLo || hi != tc.wantHi {
					t.Errorf("%s [%d,%d)/%d: downsampled=%v points=%d total=%d sum=%d min=%v max=%v; want total %d min %v max %v",
						tc.attr, tc.from, tc.to, tc.max, h.Downsampled, len(h.Points), h.TotalCount, sum, lo, hi, tc.total, tc.wantLo, tc.wantHi)
				}
				if !slices.IsSortedFunc(h.Points, func(a, b Point) int { return int(a.TimeUS - b.TimeUS) }) {
					t.Errorf("%s: points not in time order", tc.attr)
				}
			}
		})
	}
}

func TestRawPagingEveryPointOnce(t *testing.T) {
	t.Parallel()
	t0 := baseTime.UnixMicro()
	var values []Value
	// Ties: three values at each of some times, and overlapping blocks.
	for i := range 200 {
		ts := t0 + int64(i/3)*1000
		values = append(values, Value{SensorID: "s", AttributeID: "a", TimeUS: ts, ServerTimeUS: t0 + int64(i), Kind: KindNumber, Number: float64(i)})
	}
	blocks := []Block{
		{SensorID: "s", AttributeID: "a", StartUS: t0 + 500, ServerTimeUS: t0, RateHz: 1000, Samples: []float32{1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010}},
		{SensorID: "s", AttributeID: "a", StartUS: t0 + 3000, ServerTimeUS: t0 + 1, RateHz: 500, Samples: []float32{1011, 1012, 1013, 1014, 1015, 1016}},
	}
	var recorded []Point
	for _, v := range values {
		recorded = append(recorded, rawNumber(v.TimeUS, v.ServerTimeUS, v.Number))
	}
	for _, b := range blocks {
		for i, s := range b.Samples {
			recorded = append(recorded, rawNumber(apirules.SampleTimeUS(b.StartUS, i, b.RateHz), b.ServerTimeUS, float64(s)))
		}
	}
	slices.SortStableFunc(recorded, func(a, b Point) int { return int(a.TimeUS - b.TimeUS) }) // values before samples at equal times
	// The in-memory window overlaps the recorded data from t0+60ms on.
	cut := t0 + 60_000
	var recent []Point
	for _, p := range recorded {
		if p.TimeUS >= cut {
			recent = append(recent, p)
		}
	}
	recent = append(recent, rawNumber(t0+70_000, t0+70_000, 999)) // not yet written
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			r := writeAll(t, dialect, values, blocks)
			for _, size := range []int{1, 2, 3, 7, 1000} {
				got := allPoints(t, r, HistoryRequest{SensorID: "s", AttributeID: "a", MaxPoints: size})
				if len(got) != len(recorded) {
					t.Fatalf("page size %d: %d points, want %d", size, len(got), len(recorded))
				}
				seen := map[[2]int64]int{}
				for i, p := range got {
					seen[[2]int64{p.TimeUS, int64(p.Number)}]++
					if i > 0 && p.TimeUS < got[i-1].TimeUS {
						t.Fatalf("page size %d: out of order at %d", size, i)
					}
				}
				for _, p := range recorded {
					if seen[[2]int64{p.TimeUS, int64(p.Number)}] != 1 {
						t.Fatalf("page size %d: point %+v seen %d times", size, p, seen[[2]int64{p.TimeUS, int64(p.Number)}])
					}
				}
				// With the in-memory window: recorded before it, the window from it on.
				withRecent := allPoints(t, r, HistoryRequest{SensorID: "s", AttributeID: "a", MaxPoints: size, Recent: recent})
				if len(withRecent) != len(recorded)+1 || withRecent[len(withRecent)-1].Number != 999 {
					t.Fatalf("page size %d with recent: %d points, want %d", size, len(withRecent), len(recorded)+1)
				}
			}
			h, err := r.Query(t.Context(), HistoryRequest{SensorID: "s", AttributeID: "a", Recent: recent})
			if err != nil {
				t.Fatal(err)
			}
			if h.Downsampled || h.TotalCount != uint64(len(recorded)+1) {
				t.Fatalf("merged: downsampled=%v total=%d, want %d", h.Downsampled, h.TotalCount, len(recorded)+1)
			}
			if _, err := r.Query(t.Context(), HistoryRequest{SensorID: "s", AttributeID: "a", Raw: true, PageToken: "nope"}); err == nil {
				t.Fatal("bad page token accepted")
			}
		})
	}
}

func TestExportCSV(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMicro()
	values := []Value{
		{SensorID: "s:1", AttributeID: "a", TimeUS: t0, ServerTimeUS: t0 + 7, Kind: KindNumber, Number: 1.5},
		{SensorID: "s:1", AttributeID: "a", TimeUS: t0 + 25_000, ServerTimeUS: t0 + 25_009, Kind: 6, Payload: []byte(`{"k":"v, w"}`)},
		{SensorID: "s:1", AttributeID: "a", TimeUS: t0 + 40_000, ServerTimeUS: t0 + 40_001, Kind: 5, Payload: []byte(`plain text`)},
		{SensorID: "s:1", AttributeID: "a", TimeUS: t0 + 99_000_000, ServerTimeUS: t0, Kind: KindNumber, Number: 5}, // outside
		{SensorID: "s:1", AttributeID: "b", TimeUS: t0 + 1, ServerTimeUS: t0, Kind: KindNumber, Number: 5},          // other attribute
	}
	blocks := []Block{
		// Starts before the range: its first two samples are left out.
		{SensorID: "s:1", AttributeID: "a", StartUS: t0 - 20_000, ServerTimeUS: t0 + 100, RateHz: 100, Samples: []float32{-1, -2, 0.25, -3e-5, 12}},
	}
	want := CSVHeader +
		"2026-01-02T03:04:05.000000Z,1767323045000000,1767323045000007,s:1,a,1.5\n" +
		"2026-01-02T03:04:05.000000Z,1767323045000000,1767323045000100,s:1,a,0.25\n" +
		"2026-01-02T03:04:05.010000Z,1767323045010000,1767323045000100,s:1,a,-2.9999999242136255e-05\n" +
		"2026-01-02T03:04:05.020000Z,1767323045020000,1767323045000100,s:1,a,12\n" +
		`2026-01-02T03:04:05.025000Z,1767323045025000,1767323045025009,s:1,a,"{""k"":""v, w""}"` + "\n" +
		"2026-01-02T03:04:05.040000Z,1767323045040000,1767323045040001,s:1,a,plain text\n"
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			r := writeAll(t, dialect, values, blocks)
			var buf bytes.Buffer
			n, err := r.ExportCSV(t.Context(), &buf, "s:1", "a", t0, t0+1_000_000, nil)
			if err != nil {
				t.Fatal(err)
			}
			if buf.String() != want || n != 6 {
				t.Fatalf("export (%d rows):\n%s\nwant:\n%s", n, buf.String(), want)
			}
		})
	}
}

// TestExportCSVColumnsAndRecent: structured values get a column per key (nested keys
// joined with "."), keys without a column go to "other", and the in-memory window
// replaces the recorded rows from its first time on, so each value is written once.
func TestExportCSVColumnsAndRecent(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMicro()
	bat := func(tm int64, payload string) Value {
		return Value{SensorID: "s", AttributeID: "battery", TimeUS: tm, ServerTimeUS: tm, Kind: 6, Payload: []byte(payload)}
	}
	values := []Value{
		bat(t0, `{"level":80,"charging":true}`),
		bat(t0+1_000_000, `{"level":79,"charging":false}`),
		bat(t0+2_000_000, `{"level":78,"charging":false}`), // also in memory
		{SensorID: "s", AttributeID: "imu", TimeUS: t0, ServerTimeUS: t0, Kind: 6, Payload: []byte(`{"accelerometer":{"x":1,"y":2,"z":3},"gyroscope":{"x":-1,"y":-2,"z":-3}}`)},
	}
	recent := []Point{
		{TimeUS: t0 + 2_000_000, ServerTimeUS: t0 + 2_000_000, Kind: 6, Payload: []byte(`{"level":78,"charging":false}`)},
		{TimeUS: t0 + 3_000_000, ServerTimeUS: t0 + 3_000_000, Kind: 6, Payload: []byte(`{"level":77,"charging":false,"note":"a, b"}`)},
	}
	row := func(tm int64, rest string) string {
		return time.UnixMicro(tm).UTC().Format("2006-01-02T15:04:05.000000Z") + "," + strconv.FormatInt(tm, 10) + "," + strconv.FormatInt(tm, 10) + rest + "\n"
	}
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			r := writeAll(t, dialect, values, nil)
			var buf bytes.Buffer
			n, err := r.ExportCSV(t.Context(), &buf, "s", "battery", 0, 0, recent)
			if err != nil {
				t.Fatal(err)
			}
			want := "time_iso8601,time_us,server_time_us,sensor_id,attribute_id,charging,level,note,other\n" +
				row(t0, ",s,battery,true,80,,") +
				row(t0+1_000_000, ",s,battery,false,79,,") +
				row(t0+2_000_000, ",s,battery,false,78,,") +
				row(t0+3_000_000, `,s,battery,false,77,"a, b",`)
			if buf.String() != want || n != 4 {
				t.Fatalf("export (%d rows):\n%s\nwant:\n%s", n, buf.String(), want)
			}
			buf.Reset()
			if _, err := r.ExportCSV(t.Context(), &buf, "s", "imu", 0, 0, nil); err != nil {
				t.Fatal(err)
			}
			want = "time_iso8601,time_us,server_time_us,sensor_id,attribute_id,accelerometer.x,accelerometer.y,accelerometer.z,gyroscope.x,gyroscope.y,gyroscope.z,other\n" +
				row(t0, ",s,imu,1,2,3,-1,-2,-3,")
			if buf.String() != want {
				t.Fatalf("imu export:\n%s\nwant:\n%s", buf.String(), want)
			}
		})
	}
}

func TestRetentionAndSetRecording(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			db := dbtest.Open(t, dialect)
			ctx := t.Context()
			u := db.Client.User.Create().SetEmail("o@example.org").SetDisplayName("O").SaveX(ctx)
			for _, id := range []string{"keep", "short"} {
				db.Client.Sensor.Create().SetID(id).SetName(id).SetOwner(u).SaveX(ctx)
			}
			clock := newFakeClock(baseTime)
			r := newRecorder(t, db, Options{Clock: clock})
			hour := time.Hour
			if _, err := r.SetRecording(ctx, "short", true, &hour); err != nil {
				t.Fatal(err)
			}
			if _, err := r.SetRecording(ctx, "short", true, nil); err != nil { // idempotent
				t.Fatal(err)
			}
			s, err := r.SetRecording(ctx, "keep", true, nil)
			if err != nil || !s.RecordingEnabled || s.RecordingRetentionSeconds != nil {
				t.Fatalf("SetRecording keep = %+v, %v", s, err)
			}
			if _, err := r.SetRecording(ctx, "missing", true, nil); err == nil {
				t.Fatal("SetRecording of a missing sensor succeeded")
			}
			on, err := r.RecordingSensors(ctx)
			slices.Sort(on)
			if err != nil || !slices.Equal(on, []string{"keep", "short"}) {
				t.Fatalf("RecordingSensors = %v, %v", on, err)
			}
			if n := db.Client.Recording.Query().CountX(ctx); n != 2 {
				t.Fatalf("%d recording spans, want 2", n)
			}
			if _, err := r.SetRecording(ctx, "keep", false, nil); err != nil {
				t.Fatal(err)
			}

			now := baseTime.UnixMicro()
			var values []Value
			for _, id := range []string{"keep", "short"} {
				for _, age := range []time.Duration{10 * 24 * time.Hour, 2 * time.Hour, time.Minute} {
					values = append(values, Value{SensorID: id, AttributeID: "a", TimeUS: now - age.Microseconds(), ServerTimeUS: now, Kind: KindNumber, Number: 1})
				}
			}
			for _, v := range values {
				r.Enqueue(v)
			}
			r.EnqueueBlock(Block{SensorID: "short", AttributeID: "w", StartUS: now - 3*time.Hour.Microseconds(), RateHz: 1, Samples: []float32{1}})
			if err := r.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if err := r.Maintain(ctx); err != nil {
				t.Fatal(err)
			}
			count := func(sensor, attr string) uint64 {
				h, err := r.Query(ctx, HistoryRequest{SensorID: sensor, AttributeID: attr})
				if err != nil {
					t.Fatal(err)
				}
				return h.TotalCount
			}
			if got := count("keep", "a"); got != 3 {
				t.Errorf("keep: %d values, want 3", got)
			}
			if got := count("short", "a"); got != 1 {
				t.Errorf("short: %d values, want 1", got)
			}
			if got := count("short", "w"); got != 0 {
				t.Errorf("short blocks: %d samples, want 0", got)
			}

			// With every sensor's retention finite, whole old partitions go.
			day := 24 * time.Hour
			if err := r.ApplyRetention(ctx, []Retention{{SensorID: "keep", Keep: 3 * day}, {SensorID: "short", Keep: time.Hour}}); err != nil {
				t.Fatal(err)
			}
			if got := count("keep", "a"); got != 2 {
				t.Errorf("keep after 3-day retention: %d values, want 2", got)
			}
			if n, err := r.DeleteSensorData(ctx, "keep"); err != nil || n != 2 || count("keep", "a") != 0 {
				t.Errorf("DeleteSensorData = %d, %v", n, err)
			}
		})
	}
}

func TestPostgresPartitions(t *testing.T) {
	t.Parallel()
	if !hasDialect(t, "postgres") {
		t.Skipf("%s not set", dbtest.PostgresURLEnv)
	}
	db := dbtest.Open(t, "postgres")
	ctx := t.Context()
	clock := newFakeClock(baseTime)
	r := newRecorder(t, db, Options{Clock: clock, PartitionWindow: 5 * 24 * time.Hour})
	now := baseTime.UnixMicro()
	old := now - (20 * 24 * time.Hour).Microseconds() // beyond the window: default partition
	r.Enqueue(Value{SensorID: "s", AttributeID: "a", TimeUS: old, Kind: KindNumber, Number: 1})
	r.Enqueue(Value{SensorID: "s", AttributeID: "a", TimeUS: now - (3 * 24 * time.Hour).Microseconds(), Kind: KindNumber, Number: 2})
	r.EnqueueBlock(Block{SensorID: "s", AttributeID: "b", StartUS: old, RateHz: 1, Samples: []float32{1}})
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	partitions := func(table string) []string {
		rows, err := db.SQL.QueryContext(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = $1::regclass ORDER BY 1`, table)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var n string
			_ = rows.Scan(&n)
			out = append(out, n)
		}
		return out
	}
	want := []string{"measurements_d20260301", "measurements_d20260304", "measurements_d20260305", "measurements_d20260306", "measurements_default"}
	if got := partitions("measurements"); !slices.Equal(got, want) {
		t.Fatalf("partitions = %v, want %v", got, want)
	}
	if got := partitions(packsTable); !slices.Equal(got, []string{"measurement_packs_d20260301", "measurement_packs_d20260304",
		"measurement_packs_d20260305", "measurement_packs_d20260306", "measurement_packs_default"}) {
		t.Fatalf("pack partitions = %v", got)
	}
	var inDefault int
	if err := db.SQL.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM measurements_default) + (SELECT count(*) FROM measurement_packs_default)`).Scan(&inDefault); err != nil || inDefault != 1 {
		t.Fatalf("rows in default = %d, %v", inDefault, err)
	}

	// Once the window reaches the old day, its partition is created and the row
	// moves out of the default partition.
	r.opts.PartitionWindow = 30 * 24 * time.Hour
	r.Enqueue(Value{SensorID: "s", AttributeID: "a", TimeUS: old + 1, Kind: KindNumber, Number: 3})
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.SQL.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM measurements_default) + (SELECT count(*) FROM measurement_packs_default)`).Scan(&inDefault); err != nil || inDefault != 0 {
		t.Fatalf("rows in default after partition = %d, %v", inDefault, err)
	}
	if got := partitions(packsTable); !slices.Contains(got, "measurement_packs_d20260212") {
		t.Fatalf("partitions = %v, want the old day", got)
	}
	h, err := r.Query(ctx, HistoryRequest{SensorID: "s", AttributeID: "a"})
	if err != nil || h.TotalCount != 3 {
		t.Fatalf("history = %d values, %v", h.TotalCount, err)
	}

	// Retention drops whole days older than the longest retention.
	if err := r.ApplyRetention(ctx, []Retention{{SensorID: "s", Keep: 10 * 24 * time.Hour}}); err != nil {
		t.Fatal(err)
	}
	got := partitions("measurements")
	if slices.Contains(got, "measurements_d20260212") || !slices.Contains(got, "measurements_d20260301") {
		t.Fatalf("partitions after retention = %v", got)
	}
	if b := partitions("measurement_blocks"); slices.Contains(b, "measurement_blocks_d20260212") {
		t.Fatalf("block partitions after retention = %v", b)
	}
	if s := strings.Join(got, ","); !strings.Contains(s, "default") {
		t.Fatal(fmt.Sprint("default partition gone: ", s))
	}
}
