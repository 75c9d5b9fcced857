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
