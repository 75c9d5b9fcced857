package hub

// Bucket is one downsampled history point: the points of a time span reduced
// to their mean (numbers) or their last value (anything else), with min, max
// and count.
type Bucket struct {
	// TimeUS is the time of the bucket's first point.
	TimeUS int64
	// Value is the mean of the numbers, or the last non-number value.
	Value    Value
	Min, Max float64
	Count    uint32
}

// Downsample reduces points (in time order) to at most maxPoints buckets of
// equal time span over [first, last]. With maxPoints ≤ 0 or enough room every
// point is its own bucket. Buckets with no points are left out.
func Downsample(points []Point, maxPoints int) []Bucket {
	if len(points) == 0 {
		return nil
	}
	if maxPoints <= 0 || len(points) <= maxPoints {
		out := make([]Bucket, len(points))
		for i, p := range points {
			out[i] = Bucket{TimeUS: p.TimeUS, Value: p.Value, Count: 1}
			if p.Value.Kind == KindNumber {
				out[i].Min, out[i].Max = p.Value.F[0], p.Value.F[0]
			}
		}
		return out
	}
	first, last := points[0].TimeUS, points[len(points)-1].TimeUS
	span := float64(last-first+1) / float64(maxPoints)
	out := make([]Bucket, 0, maxPoints)
	cur := -1
	var sum float64
	var nums uint32
	flush := func() {
		if cur >= 0 && nums > 0 {
			b := &out[len(out)-1]
			b.Value = Number(sum / float64(nums))
		}
	}
	for _, p := range points {
		k := min(int(float64(p.TimeUS-first)/span), maxPoints-1)
		if k != cur {
			flush()
			cur, sum, nums = k, 0, 0
			out = append(out, Bucket{TimeUS: p.TimeUS})
		}
		b := &out[len(out)-1]
		b.Count++
		if p.Value.Kind != KindNumber {
			b.Value = p.Value
			continue
		}
		v := p.Value.F[0]
		if nums == 0 || v < b.Min {
			b.Min = v
		}
		if nums == 0 || v > b.Max {
			b.Max = v
		}
		sum += v
		nums++
	}
	flush()
	return out
}
