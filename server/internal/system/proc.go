package system

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// readRSS returns the resident set size from /proc/self/statm, or 0 where unavailable.
func readRSS() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize()) //nolint:gosec // G115: the page size is a small positive int
}

// cpuSampler turns the process CPU time into a utilisation over the interval since the
// previous sample. The caller serialises calls.
type cpuSampler struct {
	lastWall time.Time
	lastCPU  time.Duration
}

func (c *cpuSampler) sample(now time.Time, cpus int) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	defer func() { c.lastWall, c.lastCPU = now, cpu }()
	if c.lastWall.IsZero() || cpus <= 0 {
		return 0
	}
	wall := now.Sub(c.lastWall)
	if wall <= 0 {
		return 0
	}
	f := float64(cpu-c.lastCPU) / float64(wall) / float64(cpus)
	return max(0, min(1, f))
}
