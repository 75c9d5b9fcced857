package simulator

import (
	"testing"
	"time"
)

func TestManualClock(t *testing.T) {
	t.Parallel()
	clk := NewManualClock(start)
	fast, slow, stopped := clk.NewTicker(time.Second), clk.NewTicker(3*time.Second), clk.NewTicker(time.Second)
	stopped.Stop() // Advance must not wait for a stopped ticker's receiver
	var got []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 4 {
			select {
			case at := <-fast.C():
				got = append(got, "fast@"+at.Sub(start).String())
			case at := <-slow.C():
				got = append(got, "slow@"+at.Sub(start).String())
			}
		}
	}()
	clk.Advance(3500 * time.Millisecond)
	<-done
	want := []string{"fast@1s", "fast@2s", "fast@3s", "slow@3s"}
	if len(got) != len(want) {
		t.Fatalf("ticks %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ticks %v, want %v", got, want)
		}
	}
	if now := clk.Now(); !now.Equal(start.Add(3500 * time.Millisecond)) {
		t.Errorf("Now = %v", now)
	}
}
