package recording

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sensocto/sensocto/server/apirules"
	"github.com/sensocto/sensocto/server/internal/database"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// session is simulated recorded data and the points it must read back as.
type session struct {
	values []Value
	blocks []Block
	want   map[string][]Point // by attribute
}

func simulate(t0 int64, nValues, nBlocks int) session {
	s := session{want: map[string][]Point{}}
	for i := range nValues {
		v := Value{SensorID: "s1", AttributeID: "hr", TimeUS: t0 + int64(i)*1_000_000 + 17, ServerTimeUS: t0 + int64(i)*1_000_000 + 5_000, Kind: KindNumber, Number: 60 + float64(i%40) + 0.125}
		s.values = append(s.values, v)
		s.want["hr"] = append(s.want["hr"], rawNumber(v.TimeUS, v.ServerTimeUS, v.Number))
		if i%10 == 0 {
			g := Value{SensorID: "s1", AttributeID: "geo", TimeUS: v.TimeUS, ServerTimeUS: v.ServerTimeUS, Kind: 4, Payload: []byte(fmt.Sprintf(`{"lat":%d.5,"lon":13.4}`, i))}
			s.values = append(s.values, g)
			s.want["geo"] = append(s.want["geo"], Point{TimeUS: g.TimeUS, ServerTimeUS: g.ServerTimeUS, Kind: 4, Payload: g.Payload, Count: 1})
		}
	}
	const rate = 250.0
	for b := range nBlocks {
		start := t0 + int64(b)*256_000 // 64 samples at 250 Hz
		samples := make([]float32, 64)
		for i := range samples {
			samples[i] = float32(math.Sin(float64(b*64+i)/10)) * 1.5
		}
		s.blocks = append(s.blocks, Block{SensorID: "s1", AttributeID: "ecg", StartUS: start, ServerTimeUS: start + 300_000, RateHz: rate, Samples: samples})
		for i, v := range samples {
			s.want["ecg"] = append(s.want["ecg"], rawNumber(apirules.SampleTimeUS(start, i, rate), start+300_000, float64(v)))
		}
	}
	return s
}

func (s session) enqueue(r *Recorder) {
	// Interleave as the hub would, and reuse the caller's sample slice afterwards.
	bi := 0
	for i, v := range s.values {
		r.Enqueue(v)
		if i%3 == 0 && bi < len(s.blocks) {
			b := s.blocks[bi]
			scratch := append([]float32(nil), b.Samples...)
			b.Samples = scratch
			r.EnqueueBlock(b)
			for j := range scratch {
				scratch[j] = -999 // the recorder must have copied
			}
			bi++
		}
	}
	for ; bi < len(s.blocks); bi++ {
		r.EnqueueBlock(s.blocks[bi])
	}
}

func comparePoints(t *testing.T, what string, got, want []Point) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d points, want %d", what, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.TimeUS != w.TimeUS || g.ServerTimeUS != w.ServerTimeUS || g.Kind != w.Kind || g.Number != w.Number ||
			!bytes.Equal(g.Payload, w.Payload) || g.Count != w.Count {
			t.Fatalf("%s: point %d = %+v, want %+v", what, i, g, w)
		}
	}
}

func TestRecordRestartReadBack(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			url := dbtest.URL(t, dialect)
			db := dbtest.OpenURL(t, url)
			if err := db.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			s := simulate(baseTime.UnixMicro(), 3000, 500) // 3,300 values, 32,000 samples
			r := newRecorder(t, db, Options{FlushSamples: 5000, BatchSamples: 10_000})
			stop := runRecorder(t, r)
			s.enqueue(r)
			if err := stop(); err != nil { // shutdown flushes
				t.Fatalf("Run: %v", err)
			}
			st := r.Stats()
			if st.Queued != 0 || st.Dropped != 0 || st.Written != 3300+32000 {
				t.Fatalf("stats = %+v", st)
			}

			// Restart: a new connection pool and a new recorder on the same database.
			db2 := dbtest.OpenURL(t, url)
			r2 := newRecorder(t, db2, Options{})
			for _, attr := range []string{"hr", "geo", "ecg"} {
				got := allPoints(t, r2, HistoryRequest{SensorID: "s1", AttributeID: attr, MaxPoints: 777})
				comparePoints(t, attr, got, s.want[attr])
			}
		})
	}
}

func TestQueueDropsOldestBeyondBound(t *testing.T) {
	t.Parallel()
	q := newQueue(3*chunkSamples, time.Now)
	n := 5 * chunkSamples
	for i := range n {
		q.push(&Value{TimeUS: int64(i), Kind: KindNumber})
	}
	queued, _, dropped := q.counts()
	if queued != 3*chunkSamples || dropped != uint64(2*chunkSamples) {
		t.Fatalf("queued %d dropped %d", queued, dropped)
	}
	b := q.take(chunkSamples)
	if first := b.chunks[0].values[0].TimeUS; first != int64(2*chunkSamples) {
		t.Fatalf("oldest kept = %d, want %d", first, 2*chunkSamples)
	}
	// A batch being written stays counted against the bound but cannot be dropped:
	// the oldest queued chunk goes instead. A failed batch goes back to the head.
	q.push(&Value{TimeUS: int64(n), Kind: KindNumber})
	q.done(b, false)
	b = q.take(chunkSamples)
	if first := b.chunks[0].values[0].TimeUS; first != int64(2*chunkSamples) {
		t.Fatalf("after requeue oldest = %d, want %d", first, 2*chunkSamples)
	}
	q.done(b, true)
	queued, written, dropped := q.counts()
	if written != chunkSamples || queued != chunkSamples+1 || dropped != uint64(3*chunkSamples) {
		t.Fatalf("queued %d written %d dropped %d", queued, written, dropped)
	}
	// Over the bound after a failed write, the failed batch is the first to go.
	for i := range 2 * chunkSamples {
		q.push(&Value{TimeUS: int64(n + 1 + i), Kind: KindNumber})
	}
	b = q.take(chunkSamples)
	q.push(&Value{TimeUS: -1, Kind: KindNumber}) // drops the oldest queued chunk
	q.mu.Lock()
	q.bound = 2 * chunkSamples
	q.mu.Unlock()
	q.done(b, false)
	if queued, _, _ := q.counts(); queued > 2*chunkSamples {
		t.Fatalf("queued %d over the bound after a failed write", queued)
	}
	b = q.take(1)
	if first := b.chunks[0].values[0].TimeUS; first == int64(4*chunkSamples) {
		t.Fatalf("failed batch was kept over newer data")
	}
}

// TestPostgresDownThenRecovers points the recorder at a closed port, shows the
// queue absorbing and retrying with backoff, dropping the oldest beyond the bound,
// and writing everything still queued once the database is back.
func TestPostgresDownThenRecovers(t *testing.T) {
	t.Parallel()
	if !hasDialect(t, database.DialectPostgres) {
		t.Skipf("%s not set", dbtest.PostgresURLEnv)
	}
	db := dbtest.Open(t, database.DialectPostgres)
	cfg, err := pgx.ParseConfig("postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	down := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { _ = down.Close() })

	clock := newFakeClock(baseTime)
	bound := 4 * chunkSamples
	r := newRecorder(t, db, Options{Clock: clock, QueueBound: bound, FlushSamples: 1 << 30})
	sink := r.sink.(*pgSink)
	sink.db.Store(down)
	stop := runRecorder(t, r)

	s := simulate(baseTime.UnixMicro(), 2*chunkSamples, 0)
	for _, v := range s.values {
		if v.AttributeID == "hr" {
			r.Enqueue(v)
		}
	}
	testkit.WaitFor(t, "flush timer", func() bool { return clock.Waiters() == 1 })
	clock.Advance(250 * time.Millisecond)
	testkit.WaitFor(t, "first retry", func() bool { return r.Stats().Retries == 1 && clock.Waiters() == 1 })
	clock.Advance(100 * time.Millisecond)
	testkit.WaitFor(t, "second retry", func() bool { return r.Stats().Retries == 2 && clock.Waiters() == 1 })
	st := r.Stats()
	if st.Queued != 2*chunkSamples || st.Written != 0 || st.Dropped != 0 || st.LastError == "" {
		t.Fatalf("while down: %+v", st)
	}

	// Exceed the bound: the oldest chunk goes, counted.
	for i := range 3 * chunkSamples {
		r.Enqueue(Value{SensorID: "s1", AttributeID: "late", TimeUS: baseTime.UnixMicro() + int64(i), Kind: KindNumber, Number: float64(i)})
	}
	st = r.Stats()
	if st.Dropped != uint64(chunkSamples) || st.Queued != bound {
		t.Fatalf("over the bound: %+v", st)
	}

	sink.db.Store(db.SQL) // recovery
	clock.Advance(200 * time.Millisecond)
	testkit.WaitFor(t, "written after recovery", func() bool { return r.Stats().Written == uint64(bound) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st = r.Stats()
	if st.Queued != 0 || st.LastError != "" || st.Dropped != uint64(chunkSamples) {
		t.Fatalf("after recovery: %+v", st)
	}
	hr := allPoints(t, r, HistoryRequest{SensorID: "s1", AttributeID: "hr", MaxPoints: 5000})
	late := allPoints(t, r, HistoryRequest{SensorID: "s1", AttributeID: "late", MaxPoints: 5000})
	// The oldest chunk (the first chunkSamples hr values) was dropped.
	comparePoints(t, "hr", hr, s.want["hr"][chunkSamples:])
	if len(late) != 3*chunkSamples {
		t.Fatalf("late = %d points", len(late))
	}
}

func hasDialect(t *testing.T, d string) bool {
	for _, x := range dbtest.Dialects(t) {
		if x == d {
			return true
		}
	}
	return false
}

func TestShutdownGivesUpAndCounts(t *testing.T) {
	t.Parallel()
	db := dbtest.Open(t, database.DialectSQLite)
	r := newRecorder(t, db, Options{ShutdownTimeout: time.Nanosecond, Clock: realClock{}})
	r.sink = failingSink{}
	for i := range 10 {
		r.Enqueue(Value{SensorID: "s", AttributeID: "a", TimeUS: int64(i), Kind: KindNumber})
	}
	stop := runRecorder(t, r)
	err := stop()
	if err == nil || !strings.Contains(err.Error(), "10 samples dropped") {
		t.Fatalf("Run = %v", err)
	}
	if st := r.Stats(); st.Dropped != 10 || st.Queued != 0 {
		t.Fatalf("stats = %+v", st)
	}
}
