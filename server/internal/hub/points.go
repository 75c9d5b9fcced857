package hub

// numPoint is a stored plain number: 24 bytes and no pointer, where a Point is 64
// bytes with one (Value.Ext), so the garbage collector does not scan a ring of them.
// At 10,000 sensors with a numeric attribute each, the rings of Points were 320 MB of
// heap the collector scanned on every cycle (docs/performance.md, issue 18).
type numPoint struct {
	t, srv int64
	v      float64
}

func (p numPoint) timeUS() int64 { return p.t }

func (p numPoint) point() Point {
	return Point{TimeUS: p.t, ServerUS: p.srv, Value: Number(p.v)}
}

// plainNumber reports whether v is a number with nothing else set (what a numPoint
// keeps exactly).
func plainNumber(v *Value) bool {
	return v.Kind == KindNumber && v.Has == 0 && v.Ext == nil && v.F[1] == 0 && v.F[2] == 0 && v.F[3] == 0
}

// pointRing keeps a non-waveform attribute's history. While every value stored has
// been a plain number (most attributes: heart rate, temperature, breathing, …) it
// keeps numPoints; the first value of another kind converts it, once, to Points.
type pointRing struct {
	nums  ring[numPoint]
	all   ring[Point]
	mixed bool // all is in use
}

func newPointRing(limit int) pointRing {
	return pointRing{nums: newRing[numPoint](limit)}
}

func (r *pointRing) len() int {
	if r.mixed {
		return r.all.n
	}
	return r.nums.n
}

func (r *pointRing) limit() int {
	if r.mixed {
		return r.all.limit
	}
	return r.nums.limit
}

func (r *pointRing) setLimit(limit int) {
	if r.mixed {
		r.all.setLimit(limit)
		return
	}
	r.nums.setLimit(limit)
}

// insert adds p in time order (see ring.insert).
func (r *pointRing) insert(p Point) {
	if !r.mixed {
		if plainNumber(&p.Value) {
			r.nums.insert(numPoint{t: p.TimeUS, srv: p.ServerUS, v: p.Value.F[0]})
			return
		}
		r.convert()
	}
	r.all.insert(p)
}

// insertNumbers adds the k numbers gen(0) … gen(k-1), in time order (a block's
// samples; see ring.insertSorted).
func (r *pointRing) insertNumbers(k int, gen func(j int) numPoint) {
	if !r.mixed {
		r.nums.insertSorted(k, gen)
		return
	}
	r.all.insertSorted(k, func(j int) Point { return gen(j).point() })
}

// convert moves the numbers into Points, keeping their order, limit and count of
// evictions.
func (r *pointRing) convert() {
	all := ring[Point]{buf: make([]Point, r.nums.n, max(r.nums.n, min(16, r.nums.limit))), n: r.nums.n, limit: r.nums.limit, evicted: r.nums.evicted}
	for i := range r.nums.n {
		all.buf[i] = r.nums.at(i).point()
	}
	r.all, r.nums, r.mixed = all, ring[numPoint]{}, true
}

// at returns the i-th oldest point.
func (r *pointRing) at(i int) Point {
	if r.mixed {
		return *r.all.at(i)
	}
	return r.nums.at(i).point()
}

// span returns the index range [i, j) of the points with from ≤ time < to (to ≤ 0:
// no upper bound).
func (r *pointRing) span(from, to int64) (int, int) {
	if r.mixed {
		return r.all.span(from, to)
	}
	return r.nums.span(from, to)
}

// timeAt returns the time of the i-th oldest point.
func (r *pointRing) timeAt(i int) int64 {
	if r.mixed {
		return r.all.at(i).TimeUS
	}
	return r.nums.at(i).t
}
