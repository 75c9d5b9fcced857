package hub

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestNumPointHasNoPointers: the compact ring's entries hold no pointer, so the
// garbage collector skips their memory (the reason numPoint exists).
func TestNumPointHasNoPointers(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeFor[numPoint]()
	for i := range typ.NumField() {
		switch typ.Field(i).Type.Kind() {
		case reflect.Int64, reflect.Float64:
		default:
			t.Fatalf("numPoint.%s is a %s: the entries must stay pointer-free", typ.Field(i).Name, typ.Field(i).Type)
		}
	}
	if s := typ.Size(); s != 24 {
		t.Fatalf("numPoint is %d bytes, want 24", s)
	}
}

// TestPointRingEqualsRingOfPoints: a pointRing holds exactly what a ring of Points
// fed the same way holds (order, values, limit, evictions), through numbers kept
// compact, blocks of numbers, the conversion at the first value of another kind, and
// limit changes; it stays compact while only plain numbers arrive.
func TestPointRingEqualsRingOfPoints(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for iter := range 2000 {
		limit := 1 + rng.IntN(40)
		pr, ref := newPointRing(limit), newRing[Point](limit)
		other := rng.IntN(3) == 0 // this iteration sends values of other kinds too
		for op := range 1 + rng.IntN(12) {
			switch k := rng.IntN(10); {
			case k < 5: // one value, maybe out of order
				p := Point{TimeUS: int64(rng.IntN(80)), ServerUS: int64(op), Value: Number(float64(rng.IntN(1000)) / 7)}
				if other && rng.IntN(4) == 0 {
					p.Value = Text("t")
					if rng.IntN(2) == 0 {
						p.Value = Vec3(1, 2, 3)
					}
				}
				pr.insert(p)
				ref.insert(p)
			case k < 9: // a block of numbers
				n, start, step := rng.IntN(20), int64(rng.IntN(80)), int64(rng.IntN(3))
				gen := func(j int) numPoint { return numPoint{t: start + int64(j)*step, srv: int64(op), v: float64(j) * 1.5} }
				pr.insertNumbers(n, gen)
				ref.insertSorted(n, func(j int) Point { return gen(j).point() })
			default:
				l := 1 + rng.IntN(40)
				pr.setLimit(l)
				ref.setLimit(l)
			}
			if pr.len() != ref.n || pr.limit() != ref.limit {
				t.Fatalf("iteration %d, op %d: len %d limit %d, want %d, %d", iter, op, pr.len(), pr.limit(), ref.n, ref.limit)
			}
			for i := range ref.n {
				if got, want := pr.at(i), *ref.at(i); got != want || pr.timeAt(i) != want.TimeUS {
					t.Fatalf("iteration %d, op %d: point %d = %+v, want %+v", iter, op, i, got, want)
				}
			}
			i, j := pr.span(20, 60)
			if wi, wj := ref.span(20, 60); i != wi || j != wj {
				t.Fatalf("iteration %d, op %d: span [%d, %d), want [%d, %d)", iter, op, i, j, wi, wj)
			}
		}
		evicted := pr.nums.evicted
		if pr.mixed {
			evicted = pr.all.evicted
		}
		if evicted != ref.evicted {
			t.Fatalf("iteration %d: evicted %d, want %d", iter, evicted, ref.evicted)
		}
		if !other && pr.mixed {
			t.Fatalf("iteration %d: only numbers arrived, but the ring was converted to Points", iter)
		}
	}
}
