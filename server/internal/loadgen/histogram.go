package loadgen

import "math/bits"

// histogram counts latencies in microseconds in log-linear buckets: 64 linear
// sub-buckets per power of two (about 1.5 % resolution), so it stays small however
// many values it counts. One goroutine owns each histogram; merge combines them.
type histogram struct {
	counts [64 * 64]uint64
	n      uint64
	max    int64
}

func newHistogram() *histogram { return &histogram{} }

func bucketOf(us int64) int {
	if us < 64 {
		return int(max(us, 0))
	}
	exp := bits.Len64(uint64(us)) - 7 // ≥ 0; us>>exp is in [64, 128)
	return 64 + exp*64 + int(uint64(us)>>uint(exp)) - 64
}

// lowOf is the smallest value of bucket b.
func lowOf(b int) int64 {
	if b < 64 {
		return int64(b)
	}
	exp := (b - 64) / 64
	sub := (b-64)%64 + 64
	return int64(sub) << uint(exp)
}

func (h *histogram) add(us int64) {
	b := min(bucketOf(us), len(h.counts)-1)
	h.counts[b]++
	h.n++
	h.max = max(h.max, us)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

func (h *histogram) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n))
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen > rank {
			return float64(lowOf(b)) / 1000
		}
	}
	return float64(h.max) / 1000
}

func (h *histogram) latency() Latency {
	return Latency{P50: h.quantile(0.5), P90: h.quantile(0.9), P99: h.quantile(0.99), Max: float64(h.max) / 1000, N: h.n}
}
