package recording

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sensocto/sensocto/server/internal/database"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

// Benchmarks run against PostgreSQL (SENSOCTO_TEST_POSTGRES_URL) and are skipped
// without it:
//
//	SENSOCTO_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' \
//	  go test -run '^$' -bench . -benchmem -benchtime 2000000x ./server/internal/recording/

func benchDB(b *testing.B) *database.DB {
	b.Helper()
	if !hasDialectTB(b, database.DialectPostgres) {
		b.Skipf("%s not set", dbtest.PostgresURLEnv)
	}
	return dbtest.Open(b, database.DialectPostgres)
}

func hasDialectTB(tb testing.TB, d string) bool {
	for _, x := range dbtest.Dialects(tb) {
		if x == d {
			return true
		}
	}
	return false
}

// benchRecord feeds n samples through Enqueue/EnqueueBlock while Run writes, the way
// the hub would, and reports samples/s end to end (enqueue to committed).
func benchRecord(b *testing.B, perCall int, feed func(r *Recorder, i int)) {
	db := benchDB(b)
	r, err := New(db, Options{Logger: dbtest.Logger(b), Writers: benchWriters()})
	if err != nil {
		b.Fatal(err)
	}
	if err := r.EnsureSchema(b.Context()); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	calls := b.N / perCall
	for i := range calls {
		// Stay below the bound as a live source would at a sustainable rate; a
		// producer faster than the store would see drops instead.
		for queued, _, _ := r.q.counts(); queued > r.opts.QueueBound/2; queued, _, _ = r.q.counts() {
			runtime.Gosched()
		}
		feed(r, i)
	}
	want := uint64(calls * perCall)
	for r.Stats().Written < want {
		if st := r.Stats(); st.Dropped > 0 || st.LastError != "" {
			b.Fatalf("stats = %+v", st)
		}
		runtime.Gosched()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(want)/elapsed.Seconds(), "samples/s")
}

func BenchmarkRecordValues(b *testing.B) {
	t0 := time.Now().UnixMicro()
	benchRecord(b, 1, func(r *Recorder, i int) {
		r.Enqueue(Value{
			SensorID: sensorIDs[i%len(sensorIDs)], AttributeID: "heartrate",
			TimeUS: t0 + int64(i), ServerTimeUS: t0 + int64(i) + 250, Kind: KindNumber, Number: float64(60 + i%50),
		})
	})
}

func BenchmarkRecordBlocks64(b *testing.B) {
	t0 := time.Now().UnixMicro()
	samples := make([]float32, 64)
	for i := range samples {
		samples[i] = float32(math.Sin(float64(i) / 5))
	}
	benchRecord(b, 64, func(r *Recorder, i int) {
		r.EnqueueBlock(Block{
			SensorID: sensorIDs[i%len(sensorIDs)], AttributeID: "ecg",
			StartUS: t0 + int64(i)*256_000, ServerTimeUS: t0, RateHz: 250, Samples: samples,
		})
	})
}

var sensorIDs = func() []string {
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%03d", i)
	}
	return ids
}()

// benchHistory records data once, then measures Query reducing it to 2,000 points.
func benchHistory(b *testing.B, attr string, fill func(r *Recorder, t0 int64) int64) {
	db := benchDB(b)
	r, err := New(db, Options{Logger: dbtest.Logger(b), BatchSamples: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now().Add(-25 * time.Hour).UnixMicro()
	end := fill(r, t0)
	if err := r.Flush(b.Context()); err != nil {
		b.Fatal(err)
	}
	bytes, samples := diskBytes(b, db)
	req := HistoryRequest{SensorID: "hist", AttributeID: attr, FromUS: t0, ToUS: end, MaxPoints: 2000}
	b.ReportAllocs()
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		h, err := r.Query(b.Context(), req)
		lat = append(lat, time.Since(start))
		if err != nil || !h.Downsampled || len(h.Points) > 2000 {
			b.Fatalf("Query = %d points downsampled=%v, %v", len(h.Points), h.Downsampled, err)
		}
	}
	b.ReportMetric(float64(percentile(lat, 0.95).Microseconds())/1000, "p95-ms")
	b.ReportMetric(bytes/samples, "disk-B/sample")
}

// diskBytes returns the bytes on disk of the measurement store (every partition with
// its indexes and TOAST, pg_total_relation_size) and the samples it holds.
func diskBytes(b *testing.B, db *database.DB) (bytes, samples float64) {
	b.Helper()
	if _, err := db.SQL.ExecContext(b.Context(), `VACUUM ANALYZE measurements, measurement_blocks, measurement_packs`); err != nil {
		b.Fatal(err)
	}
	if err := db.SQL.QueryRowContext(b.Context(), `SELECT
		(SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i
		  WHERE i.inhparent IN ('measurements'::regclass, 'measurement_blocks'::regclass, 'measurement_packs'::regclass)),
		(SELECT coalesce(sum(count), 0) FROM measurement_blocks) + (SELECT coalesce(sum(count), 0) FROM measurement_packs) +
		(SELECT count(*) FROM measurements)`).Scan(&bytes, &samples); err != nil {
		b.Fatal(err)
	}
	return bytes, samples
}

// BenchmarkDiskBytes1HzLive records 1 Hz values of 100 sensors the way they arrive
// live: every flush holds one value per series, so every value is a pack of one. It
// reports the bytes on disk per value of that worst case of packing (b.N values per
// sensor).
func BenchmarkDiskBytes1HzLive(b *testing.B) {
	db := benchDB(b)
	r, err := New(db, Options{Logger: dbtest.Logger(b)})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour).UnixMicro()
	for i := 0; b.Loop(); i++ {
		for _, id := range sensorIDs {
			tm := t0 + int64(i)*1e6
			r.Enqueue(Value{SensorID: id, AttributeID: "heartrate", TimeUS: tm, ServerTimeUS: tm + 20_000, Kind: KindNumber, Number: 60 + float64(i%40)})
		}
		if err := r.Flush(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	bytes, samples := diskBytes(b, db)
	b.ReportMetric(bytes/samples, "disk-B/sample")
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	for i := 1; i < len(s); i++ { // insertion sort: few samples
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func BenchmarkHistory24h1Hz(b *testing.B) {
	benchHistory(b, "heartrate", func(r *Recorder, t0 int64) int64 {
		n := 24 * 3600
		for i := range n {
			r.Enqueue(Value{SensorID: "hist", AttributeID: "heartrate", TimeUS: t0 + int64(i)*1e6, ServerTimeUS: t0, Kind: KindNumber, Number: 60 + 20*math.Sin(float64(i)/600)})
		}
		return t0 + int64(n)*1e6
	})
}

func BenchmarkHistoryECG1h250Hz(b *testing.B) {
	benchHistory(b, "ecg", func(r *Recorder, t0 int64) int64 {
		samples := make([]float32, 64)
		blocks := 900_000 / 64 // 14,062 blocks, 899,968 samples
		for k := range blocks {
			for i := range samples {
				samples[i] = float32(math.Sin(float64(k*64+i) / 9))
			}
			r.EnqueueBlock(Block{SensorID: "hist", AttributeID: "ecg", StartUS: t0 + int64(k)*256_000, ServerTimeUS: t0, RateHz: 250, Samples: samples})
			if k%4096 == 4095 {
				if err := r.Flush(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
		}
		return t0 + int64(blocks)*256_000
	})
}

// BenchmarkCeilingCopyFrom is the ceiling the recorder is compared with: pgx
// CopyFrom of the same row shape as measurements into a bare table (no partitions,
// no index) from pre-built rows, in batches of the recorder's size. Compare its
// rows/s with BenchmarkRecordValues' samples/s. (The psql \copy ceiling is in
// testdata/ceiling.sh.)
func BenchmarkCeilingCopyFrom(b *testing.B) {
	for _, indexed := range []bool{false, true} {
		b.Run(fmt.Sprintf("indexed=%v", indexed), func(b *testing.B) { benchCeiling(b, indexed) })
	}
}

// benchCeiling copies into a bare table, optionally with the recorder's index (to
// separate the cost of the index from the cost of the writer).
func benchCeiling(b *testing.B, indexed bool) {
	db := benchDB(b)
	ctx := b.Context()
	if _, err := db.SQL.ExecContext(ctx, `CREATE TABLE bare (sensor_id text NOT NULL, attribute_id text NOT NULL,
		time_us bigint NOT NULL, server_time_us bigint NOT NULL, kind smallint NOT NULL, number double precision, payload bytea)`); err != nil {
		b.Fatal(err)
	}
	if indexed {
		if _, err := db.SQL.ExecContext(ctx, `CREATE INDEX ON bare (sensor_id, attribute_id, time_us)`); err != nil {
			b.Fatal(err)
		}
	}
	const batch = 262_144
	t0 := time.Now().UnixMicro()
	rows := make([][]any, batch)
	for i := range rows {
		rows[i] = []any{sensorIDs[i%len(sensorIDs)], "heartrate", t0 + int64(i), t0 + int64(i) + 250, int16(1), float64(60 + i%50), nil}
	}
	conn, err := db.SQL.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	b.ResetTimer()
	start := time.Now()
	n := 0
	for n < b.N {
		k := min(batch, b.N-n)
		err := conn.Raw(func(dc any) error {
			_, err := dc.(*stdlib.Conn).Conn().CopyFrom(ctx, pgx.Identifier{"bare"}, valueColumns, pgx.CopyFromRows(rows[:k]))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		n += k
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "rows/s")
}

// benchWriters reads SENSOCTO_BENCH_WRITERS (default: the recorder's default).
func benchWriters() int {
	n, _ := strconv.Atoi(os.Getenv("SENSOCTO_BENCH_WRITERS"))
	return n
}

// BenchmarkEnqueue measures the ingest side alone: the cost the hub pays per value
// (no database; the queue drops its oldest chunk when full).
func BenchmarkEnqueue(b *testing.B) {
	r := newRecorder(b, dbtest.Open(b, database.DialectSQLite), Options{QueueBound: 1 << 20, FlushSamples: 1 << 30})
	v := Value{SensorID: "s", AttributeID: "hr", Kind: KindNumber, Number: 1}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		v.TimeUS = int64(i)
		r.Enqueue(v)
	}
}

// BenchmarkEnqueueBlock64 is BenchmarkEnqueue for blocks of 64 samples.
func BenchmarkEnqueueBlock64(b *testing.B) {
	r := newRecorder(b, dbtest.Open(b, database.DialectSQLite), Options{QueueBound: 1 << 22, FlushSamples: 1 << 30})
	blk := Block{SensorID: "s", AttributeID: "ecg", RateHz: 250, Samples: make([]float32, 64)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		blk.StartUS = int64(i) * 256_000
		r.EnqueueBlock(blk)
	}
}

// BenchmarkEnqueueValues64 is BenchmarkEnqueue for batches of 64 values under one lock
// (what the ingest path does per published batch); ns/op is per value.
func BenchmarkEnqueueValues64(b *testing.B) {
	r := newRecorder(b, dbtest.Open(b, database.DialectSQLite), Options{QueueBound: 1 << 22, FlushSamples: 1 << 30})
	vs := make([]Value, 64)
	for i := range vs {
		vs[i] = Value{SensorID: "s", AttributeID: "hr", Kind: KindNumber, Number: 1}
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for i := range vs {
			vs[i].TimeUS = int64(n)
			n++
		}
		r.EnqueueValues(vs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/value")
}
