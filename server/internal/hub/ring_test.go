package hub

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// entries returns the ring's content, oldest first.
func entries(r *ring[sample]) []sample {
	out := make([]sample, r.n)
	for i := range out {
		out[i] = *r.at(i)
	}
	return out
}

// TestInsertSortedEqualsInserts: adding a sorted run at once leaves the ring exactly
// as inserting its entries one by one does (order, ties in arrival order, the newest
// limit kept, evictions counted), whatever the overlap with what the ring holds.
func TestInsertSortedEqualsInserts(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 3000 {
		limit := 1 + rng.IntN(40)
		a, b := newRing[sample](limit), newRing[sample](limit)
		// Fill both the same way with a few sorted runs at random offsets.
		for run := range 1 + rng.IntN(5) {
			k := rng.IntN(30)
			start := int64(rng.IntN(60))
			step := int64(rng.IntN(4)) // 0 makes ties
			gen := func(j int) sample { return sample{t: start + int64(j)*step, srv: int64(run), v: float32(j)} }
			for j := range k {
				a.insert(gen(j))
			}
			b.insertSorted(k, gen)
			if got, want := entries(&b), entries(&a); !slices.Equal(got, want) {
				t.Fatalf("iteration %d, run %d (limit %d, k %d, start %d, step %d):\n insertSorted %v\n inserts      %v",
					iter, run, limit, k, start, step, got, want)
			}
			if a.evicted != b.evicted {
				t.Fatalf("iteration %d: evicted %d, want %d", iter, b.evicted, a.evicted)
			}
		}
	}
}

// TestRingGrowsToLimitWhenFast: a ring whose entries would fill it within fillHorizon
// takes its whole buffer at its first growth past 16 (filling it allocates twice);
// a slow one keeps doubling, so it costs little until its entries are there.
func TestRingGrowsToLimitWhenFast(t *testing.T) {
	fill := func(everyUS int64, n int) *ring[sample] {
		r := newRing[sample](500)
		for i := range n {
			r.push(sample{t: int64(i) * everyUS})
		}
		return &r
	}
	if r := fill(100_000, 17); len(r.buf) != 500 { // 10 Hz: 500 entries in 50 s
		t.Fatalf("10 Hz ring after 17 entries: buffer %d, want 500", len(r.buf))
	}
	if r := fill(1_000_000, 17); len(r.buf) != 32 { // 1 Hz: 500 entries in 500 s
		t.Fatalf("1 Hz ring after 17 entries: buffer %d, want 32", len(r.buf))
	}
	if r := fill(1_000_000, 257); len(r.buf) != 500 { // 1 Hz, 243 to go: in 243 s > 60 s, doubling reaches the limit
		t.Fatalf("1 Hz ring after 257 entries: buffer %d, want 500", len(r.buf))
	}
	if r := fill(0, 17); len(r.buf) != 500 { // entries of one instant (a backfill): fast
		t.Fatalf("same-time ring after 17 entries: buffer %d, want 500", len(r.buf))
	}
	allocs := testing.AllocsPerRun(10, func() { fill(100_000, 500) })
	if allocs > 3 { // the ring (escaping here), its 16 entries, its 500
		t.Fatalf("filling a 10 Hz ring of 500 allocated %.0f times, want at most 3", allocs)
	}
	// The entries stay in order through the jump.
	r := fill(100_000, 600)
	if r.n != 500 || r.at(0).t != 100*100_000 || r.last().t != 599*100_000 {
		t.Fatalf("after 600 entries: n %d, oldest %d, newest %d", r.n, r.at(0).t, r.last().t)
	}
}
