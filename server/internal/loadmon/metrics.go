package loadmon

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descScore      = prometheus.NewDesc("sensocto_load_score", "Weighted load score 0..1.", nil, nil)
	descLevel      = prometheus.NewDesc("sensocto_load_level", "Load level: 0 normal, 1 elevated, 2 high, 3 critical.", nil, nil)
	descMultiplier = prometheus.NewDesc("sensocto_load_multiplier", "Batch-window multiplier (incl. memory protection).", nil, nil)
	descProtection = prometheus.NewDesc("sensocto_load_memory_protection", "1 while memory protection is active.", nil, nil)
	descComponent  = prometheus.NewDesc("sensocto_load_component", "Load signal mapped to 0..1.", []string{"component"}, nil)
	descHeap       = prometheus.NewDesc("sensocto_load_heap_bytes", "Memory held by the Go runtime (what the limit counts).", nil, nil)
	descLimit      = prometheus.NewDesc("sensocto_load_memory_limit_bytes", "Memory limit the heap is compared with.", nil, nil)
	descQueued     = prometheus.NewDesc("sensocto_load_watcher_queued_values", "Values in watcher queues at the last sample.", nil, nil)
)

// Register registers the monitor's gauges, read from its latest Snapshot at
// scrape time.
func (m *Monitor) Register(reg prometheus.Registerer) error {
	if err := reg.Register(collector{m}); err != nil {
		return fmt.Errorf("register load monitor metrics: %w", err)
	}
	return nil
}

type collector struct{ m *Monitor }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descScore, descLevel, descMultiplier, descProtection, descComponent, descHeap, descLimit, descQueued} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.Snapshot()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	prot := 0.0
	if s.MemoryProtection {
		prot = 1
	}
	gauge(descScore, s.Score)
	gauge(descLevel, float64(s.Level))
	gauge(descMultiplier, s.Multiplier)
	gauge(descProtection, prot)
	gauge(descComponent, s.Components.CPU, "cpu")
	gauge(descComponent, s.Components.Memory, "memory")
	gauge(descComponent, s.Components.Queues, "queues")
	gauge(descComponent, s.Components.Goroutines, "goroutines")
	gauge(descHeap, float64(s.Sample.HeapBytes))
	gauge(descLimit, float64(s.Sample.MemoryLimitBytes))
	gauge(descQueued, float64(s.Sample.QueuedValues))
}
