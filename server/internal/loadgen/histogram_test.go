package loadgen

import "testing"

func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	h := newHistogram()
	for us := int64(1); us <= 100_000; us++ {
		h.add(us)
	}
	for _, tc := range []struct {
		q    float64
		want float64 // ms
	}{{0.5, 50}, {0.9, 90}, {0.99, 99}} {
		got := h.quantile(tc.q)
		if got < tc.want*0.97 || got > tc.want*1.01 {
			t.Errorf("q%.2f = %.3f ms, want about %.1f", tc.q, got, tc.want)
		}
	}
	if h.latency().Max != 100 {
		t.Errorf("max = %v", h.latency().Max)
	}
	for _, us := range []int64{0, 63, 64, 65, 1000, 123456, 1 << 40} {
		if b := bucketOf(us); lowOf(b) > us {
			t.Errorf("bucket %d of %d starts at %d", b, us, lowOf(b))
		}
	}
}
