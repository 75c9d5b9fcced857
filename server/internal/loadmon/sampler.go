package loadmon

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// RuntimeSampler reads the real signals of this process: CPU time from
// getrusage, memory from runtime/metrics, goroutines, and the watcher queues
// from a function the caller provides.
type RuntimeSampler struct {
	// Queues returns the watcher queues' fill and capacity in values (nil: 0).
	Queues func() (queued, capacity int64)
	// MemoryLimit is used when GOMEMLIMIT is not set; 0 means the total
	// memory in /proc/meminfo (or the cgroup limit when lower).
	MemoryLimit uint64

	mu       sync.Mutex
	lastWall time.Time
	lastCPU  time.Duration
	samples  []metrics.Sample
}

// NewRuntimeSampler returns a sampler; see the fields of RuntimeSampler.
func NewRuntimeSampler(queues func() (int64, int64), memoryLimit uint64) *RuntimeSampler {
	return &RuntimeSampler{Queues: queues, MemoryLimit: memoryLimit, samples: []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/gc/gomemlimit:bytes"},
	}}
}

// Sample reads the signals. The first call reports 0 CPU (no interval yet).
func (r *RuntimeSampler) Sample(now time.Time) Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Sample{Goroutines: runtime.NumGoroutine()}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		if !r.lastWall.IsZero() {
			if wall := now.Sub(r.lastWall); wall > 0 {
				s.CPU = float64(cpu-r.lastCPU) / float64(wall) / float64(runtime.GOMAXPROCS(0))
			}
		}
		r.lastWall, r.lastCPU = now, cpu
	}
	metrics.Read(r.samples)
	total, released := r.samples[0].Value.Uint64(), r.samples[1].Value.Uint64()
	if total > released {
		s.HeapBytes = total - released
	}
	s.MemoryLimitBytes = r.samples[2].Value.Uint64()
	if s.MemoryLimitBytes == math.MaxInt64 { // GOMEMLIMIT unset
		s.MemoryLimitBytes = r.MemoryLimit
		if s.MemoryLimitBytes == 0 {
			s.MemoryLimitBytes = systemMemory()
		}
	}
	if r.Queues != nil {
		s.QueuedValues, s.QueueCapacity = r.Queues()
	}
	return s
}

var (
	sysMemOnce sync.Once
	sysMem     uint64
)

// systemMemory returns MemTotal of /proc/meminfo, or the cgroup v2 limit when
// lower; 0 when neither is readable.
func systemMemory() uint64 {
	sysMemOnce.Do(func() {
		if b, err := os.ReadFile("/proc/meminfo"); err == nil {
			sc := bufio.NewScanner(bytes.NewReader(b))
			for sc.Scan() {
				f := bytes.Fields(sc.Bytes())
				if len(f) >= 2 && string(f[0]) == "MemTotal:" {
					if kb, err := strconv.ParseUint(string(f[1]), 10, 64); err == nil {
						sysMem = kb * 1024
					}
				}
			}
		}
		if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
			if lim, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64); err == nil && (sysMem == 0 || lim < sysMem) {
				sysMem = lim
			}
		}
	})
	return sysMem
}
