package roomdoc

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
)

// tenThousandChanges returns the fixture's room document after 10,000 changes by
// one peer (each a short edit of the notes, as typing makes them), and the increments
// as the server stored them (one per change).
func tenThousandChanges(b *testing.B, f *fixture) (*automerge.Doc, [][]byte) {
	b.Helper()
	c := f.client(f.alice)
	c.mustSync()
	incs := make([][]byte, 0, 10_000)
	_ = c.doc.SaveIncremental()
	for i := range 10_000 {
		txt := c.doc.Path(keyNotes).Text()
		if err := txt.Insert(txt.Len(), string(rune('a'+i%26))); err != nil {
			b.Fatal(err)
		}
		if _, err := c.doc.Commit(""); err != nil {
			b.Fatal(err)
		}
		incs = append(incs, c.doc.SaveIncremental())
	}
	return c.doc, incs
}

// BenchmarkLoad10kChanges loads a room document of 10,000 changes as a room becomes
// active: from the compacted document (the normal case) and from the compacted
// skeleton plus 10,000 stored increments (a crash before any compaction). It reports
// the stored bytes per change after compaction.
func BenchmarkLoad10kChanges(b *testing.B) {
	f := newFixture(b, "sqlite", allFeatures, Limits{MaxDocumentBytes: 64 << 20})
	ctx := context.Background()
	doc, incs := tenThousandChanges(b, f)
	r, err := f.m.lockRoom(ctx, f.room)
	if err != nil {
		b.Fatal(err)
	}
	skeletonVersion := r.version
	r.mu.Unlock()

	for i, inc := range incs {
		if err := f.m.store.appendIncrement(ctx, f.room, int64(i+1), inc); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("increments", func(b *testing.B) {
		cpu := cpuTime()
		defer func() { b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op") }()
		for range b.N {
			m := f.newManager()
			r := &room{id: f.room, peers: map[string]*peer{}}
			if err := m.load(ctx, r); err != nil {
				b.Fatal(err)
			}
			if n := r.doc.Path(keyNotes).Text().Len(); n != 10_000 {
				b.Fatalf("loaded notes of %d characters", n)
			}
		}
	})
	snap := doc.Save()
	if err := f.m.store.compact(ctx, f.room, snap, int64(len(incs)), skeletonVersion); err != nil {
		b.Fatal(err)
	}
	b.Run("compacted", func(b *testing.B) {
		b.ReportMetric(float64(len(snap))/10_000, "stored-B/change")
		cpu := cpuTime()
		defer func() { b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op") }()
		for range b.N {
			m := f.newManager()
			r := &room{id: f.room, peers: map[string]*peer{}}
			if err := m.load(ctx, r); err != nil {
				b.Fatal(err)
			}
			if n := r.doc.Path(keyNotes).Text().Len(); n != 10_000 {
				b.Fatalf("loaded notes of %d characters", n)
			}
		}
	})
}

// BenchmarkFanOut50 measures change → other member's document: one member edits the
// notes and syncs, and each of the 49 others, attached through its subscription (the
// WatchRoom stream), receives the server's message and applies it; the latency of every
// delivery is recorded and p50/p99 reported.
func BenchmarkFanOut50(b *testing.B) {
	const members = 50
	f := newFixture(b, "sqlite", allFeatures, Limits{})
	ctx := context.Background()
	writer := f.client(f.alice)
	writer.mustSync()
	type reader struct {
		c   *peerClient
		sub *Subscription
	}
	readers := make([]reader, members-1)
	for i := range readers {
		c := f.client(f.bob)
		sub, err := f.m.Attach(ctx, f.bob, f.room, c.id)
		if err != nil {
			b.Fatal(err)
		}
		c.mustSync()
		readers[i] = reader{c, sub}
	}
	var mu sync.Mutex
	var lat []time.Duration
	type due struct {
		n  int
		at time.Time
	}
	var wg sync.WaitGroup
	want := make([]chan due, len(readers))
	stop := make(chan struct{})
	for i, rd := range readers {
		want[i] = make(chan due, 1)
		go func() {
			seen := 0
			target := due{n: -1}
			for {
				select {
				case <-stop:
					return
				case target = <-want[i]:
				case <-rd.sub.Ready():
					if msg := rd.sub.Next(); msg != nil {
						if _, err := rd.c.ss.ReceiveMessage(msg); err != nil {
							panic(err)
						}
						if out, ok := rd.c.ss.GenerateMessage(); ok {
							if _, err := f.m.Sync(ctx, rd.c.user, f.room, rd.c.id, out.Bytes()); err != nil {
								panic(err)
							}
						}
					}
				}
				if n := rd.c.doc.Path(keyNotes).Text().Len(); target.n >= 0 && n >= target.n && n > seen {
					seen = n
					mu.Lock()
					lat = append(lat, time.Since(target.at))
					mu.Unlock()
					wg.Done()
					target.n = -1
				}
			}
		}()
	}
	b.ResetTimer()
	for i := range b.N {
		wg.Add(len(readers))
		sent := time.Now()
		for _, w := range want {
			w <- due{n: i + 1, at: sent}
		}
		writer.edit(func(*automerge.Map) error { return writer.doc.Path(keyNotes).Text().Append("x") })
		writer.mustSync()
		wg.Wait()
	}
	b.StopTimer()
	close(stop)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}

// cpuTime returns the process's user+system CPU time: unlike wall time it does not
// grow when other processes load the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rss returns the process's resident memory in bytes (Automerge's documents live in the
// Rust heap, outside Go's).
func rss(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Skip("no /proc/self/statm")
	}
	fields := strings.Fields(string(raw))
	pages, _ := strconv.ParseInt(fields[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// BenchmarkMemoryPerDocument loads 200 room documents of 1,000 changes each (notes of
// 1,000 characters, 20 strokes) and reports the resident memory per active document.
func BenchmarkMemoryPerDocument(b *testing.B) {
	const rooms = 200
	f := newFixture(b, "sqlite", allFeatures, Limits{})
	c := f.client(f.alice)
	c.mustSync()
	for i := range 1_000 {
		c.edit(func(root *automerge.Map) error {
			txt := c.doc.Path(keyNotes).Text()
			if i%50 == 0 {
				return c.doc.Path(keyWhiteboard, "strokes").List().Append(stroke(fmt.Sprintf("s%d", i), f.alice.String()))
			}
			return txt.Insert(txt.Len(), "n")
		})
	}
	c.mustSync()
	snap := f.serverDoc().Save()
	for range b.N {
		debug.FreeOSMemory()
		before := rss(b)
		docs := make([]*automerge.Doc, rooms)
		for i := range docs {
			d, err := automerge.Load(snap)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := inspect(d, f.lim.withDefaults()); err != nil {
				b.Fatal(err)
			}
			docs[i] = d
		}
		debug.FreeOSMemory()
		b.ReportMetric(float64(rss(b)-before)/rooms/1024, "KiB-RSS/doc")
		b.ReportMetric(float64(len(snap)), "stored-B/doc")
		runtime.KeepAlive(docs)
	}
}
