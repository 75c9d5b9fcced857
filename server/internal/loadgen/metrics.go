package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// serverRuntime is what idle reads of the server's /metrics (the Prometheus text
// format of client_golang's Go collector).
type serverRuntime struct {
	stackBytes float64 // go_memstats_stack_inuse_bytes
	goroutines float64 // go_goroutines
}

// maxMetricsBytes bounds the /metrics page read.
const maxMetricsBytes = 4 << 20

// runtimeMetrics reads the server's goroutine stacks and count from its /metrics.
func (r *runner) runtimeMetrics(ctx context.Context) (serverRuntime, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(r.cfg.URL, "/")+"/metrics", nil)
	if err != nil {
		return serverRuntime{}, fmt.Errorf("metrics: %w", err)
	}
	res, err := r.httpClient(0).Do(req)
	if err != nil {
		return serverRuntime{}, fmt.Errorf("metrics: %w", err)
	}
	defer func() { _ = res.Body.Close() }()
	if res.StatusCode != http.StatusOK {
		return serverRuntime{}, fmt.Errorf("metrics: %s", res.Status)
	}
	return parseRuntimeMetrics(io.LimitReader(res.Body, maxMetricsBytes))
}

// parseRuntimeMetrics finds the stack and goroutine gauges in a /metrics page.
func parseRuntimeMetrics(page io.Reader) (serverRuntime, error) {
	var rt serverRuntime
	found := 0
	sc := bufio.NewScanner(page)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		var dst *float64
		switch {
		case !ok:
			continue
		case name == "go_memstats_stack_inuse_bytes":
			dst = &rt.stackBytes
		case name == "go_goroutines":
			dst = &rt.goroutines
		default:
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return serverRuntime{}, fmt.Errorf("metrics: %s: %w", name, err)
		}
		*dst = v
		found++
	}
	if err := sc.Err(); err != nil {
		return serverRuntime{}, fmt.Errorf("metrics: %w", err)
	}
	if found < 2 {
		return serverRuntime{}, fmt.Errorf("metrics: go_memstats_stack_inuse_bytes or go_goroutines missing")
	}
	return rt, nil
}
