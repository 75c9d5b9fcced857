package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of the CPU times in /proc/<pid>/stat:
// 100 on every Linux platform Go supports (sysconf(_SC_CLK_TCK) is not reachable
// without cgo).
const clockTicks = 100

// procSample is a process's CPU time and memory read from /proc (Linux only).
type procSample struct {
	at       time.Time
	cpu      time.Duration // user + system
	rss, hwm uint64        // bytes: resident now and at the peak
}

// readProc reads /proc/<pid>/stat and /proc/<pid>/status; pid 0 is this process.
func readProc(pid int) (procSample, error) {
	dir := "/proc/self"
	if pid > 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	s := procSample{at: time.Now()}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return s, fmt.Errorf("read process %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces: the fields after it follow its ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("read process %d: malformed stat", pid)
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 13 { // state is field 3; utime and stime are fields 14 and 15
		return s, fmt.Errorf("read process %d: malformed stat", pid)
	}
	utime, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("read process %d: malformed stat", pid)
	}
	s.cpu = time.Duration(utime+stime) * time.Second / clockTicks //nolint:gosec // G115: CPU ticks of one process fit
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return s, fmt.Errorf("read process %d: %w", pid, err)
	}
	for line := range bytes.SplitSeq(status, []byte("\n")) {
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			s.rss = kbField(line)
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			s.hwm = kbField(line)
		}
	}
	return s, nil
}

// kbField parses "Name:   1234 kB" into bytes.
func kbField(line []byte) uint64 {
	f := bytes.Fields(line)
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.ParseUint(string(f[1]), 10, 64)
	return n * 1024
}

// cores is the CPU used between two samples per second of wall time.
func cores(a, b procSample) float64 {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return 0
	}
	return (b.cpu - a.cpu).Seconds() / wall
}

// procMeter measures the process of --pid and loadgen itself over a span.
type procMeter struct {
	pid         int
	start, self procSample
	ok, selfOK  bool
}

func startProcMeter(pid int) *procMeter {
	m := &procMeter{pid: pid}
	if pid > 0 {
		s, err := readProc(pid)
		m.start, m.ok = s, err == nil
	}
	s, err := readProc(0)
	m.self, m.selfOK = s, err == nil
	return m
}

// stop fills res's process figures; an error reading the process (it ended, or this
// is not Linux) leaves them zero.
func (m *procMeter) stop(res *Result) {
	if m.ok {
		if s, err := readProc(m.pid); err == nil {
			res.ProcessCPUCores = cores(m.start, s)
			res.ProcessRSSBytes, res.ProcessPeakRSS = s.rss, s.hwm
		}
	}
	if m.selfOK {
		if s, err := readProc(0); err == nil {
			res.LoadgenCPUCores = cores(m.self, s)
		}
	}
}
