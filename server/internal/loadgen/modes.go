package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
)

// timedConfig is a back-pressure config and when it arrived.
type timedConfig struct {
	cfg *sensoctov1.BackpressureConfig
	at  time.Time
}

// reaction measures, cfg.Reaction times each, how long after a viewer focuses a
// sensor its connector's Stream gets the HIGH config, and how long after the last
// Watch of a sensor closes the connector gets the next (NONE) config.
func (r *runner) reaction(ctx context.Context) (Result, error) {
	r.cfg.Connectors = 1
	if err := r.register(ctx, singleAttr, "numeric"); err != nil {
		return Result{}, err
	}
	defer r.cleanup()
	id := r.sensorID(0)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := r.sensors(0).Stream(sctx)
	if err != nil {
		return Result{}, fmt.Errorf("stream: %w", err)
	}
	if err := st.Send(&sensoctov1.StreamRequest{SensorId: id}); err != nil {
		return Result{}, fmt.Errorf("stream: %w", err)
	}
	configs := make(chan timedConfig, 64)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer func() { cancel(); _ = st.CloseRequest() }()
	wg.Go(func() {
		defer close(configs)
		for {
			res, err := st.Receive()
			if err != nil {
				return
			}
			if b := res.GetBackpressure(); b != nil {
				select {
				case configs <- timedConfig{b, time.Now()}:
				case <-sctx.Done():
					return
				}
			}
		}
	})
	await := func(level sensoctov1.AttentionLevel) (time.Time, error) {
		deadline := time.After(30 * time.Second)
		for {
			select {
			case c, open := <-configs:
				if !open {
					return time.Time{}, errors.New("the stream ended")
				}
				if c.cfg.GetAttentionLevel() == level {
					return c.at, nil
				}
			case <-deadline:
				return time.Time{}, fmt.Errorf("no %s config within 30 s", level)
			}
		}
	}
	if _, err := await(sensoctov1.AttentionLevel_ATTENTION_LEVEL_NONE); err != nil {
		return Result{}, err
	}
	att := r.attention(1)
	tab := "loadgen-reaction-" + r.runID
	report := func(k sensoctov1.AttentionEventKind) error {
		_, err := att.ReportAttention(ctx, &sensoctov1.ReportAttentionRequest{TabId: tab,
			Events: []*sensoctov1.AttentionEvent{{SensorId: id, Kind: k}}})
		if err != nil {
			return fmt.Errorf("report attention: %w", err)
		}
		return nil
	}
	focus, gone := newHistogram(), newHistogram()
	for range r.cfg.Reaction {
		wctx, closeWatch := context.WithCancel(ctx)
		w, err := r.sensors(2).Watch(wctx, &sensoctov1.WatchRequest{SensorIds: []string{id}, SkipRecent: true})
		if err != nil {
			closeWatch()
			return Result{}, fmt.Errorf("watch: %w", err)
		}
		if _, err := await(sensoctov1.AttentionLevel_ATTENTION_LEVEL_LOW); err != nil {
			closeWatch()
			return Result{}, err
		}
		t0 := time.Now()
		if err := report(sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_FOCUS); err != nil {
			closeWatch()
			return Result{}, err
		}
		t1, err := await(sensoctov1.AttentionLevel_ATTENTION_LEVEL_HIGH)
		if err != nil {
			closeWatch()
			return Result{}, err
		}
		focus.add(t1.Sub(t0).Microseconds())
		if err := report(sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_UNFOCUS); err != nil {
			closeWatch()
			return Result{}, err
		}
		if _, err := await(sensoctov1.AttentionLevel_ATTENTION_LEVEL_LOW); err != nil {
			closeWatch()
			return Result{}, err
		}
		t0 = time.Now()
		closeWatch()
		_ = w.Close()
		t1, err = await(sensoctov1.AttentionLevel_ATTENTION_LEVEL_NONE)
		if err != nil {
			return Result{}, err
		}
		gone.add(t1.Sub(t0).Microseconds())
	}
	fl, gl := focus.latency(), gone.latency()
	return Result{Connectors: 1, Mode: "reaction", FocusToHighMS: &fl, WatcherGoneMS: &gl,
		Errors: r.c.errors.Load(), FirstError: r.c.firstErr}, nil
}

// idle registers the sensors, opens one Stream per sensor that sends nothing, and
// reports the server's memory before and after, per sensor.
func (r *runner) idle(ctx context.Context) (Result, error) {
	before, err := r.status(ctx)
	if err != nil {
		return Result{}, err
	}
	if err := r.register(ctx, singleAttr, "numeric"); err != nil {
		return Result{}, err
	}
	defer r.cleanup()
	// The stacks are read from /metrics, which a proxy in front may not pass: without
	// it the run still reports memory, and says why the stacks are missing.
	stacks0, metricsErr := r.runtimeMetrics(ctx)
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i := range r.cfg.Connectors {
		g.Go(func() error {
			st, err := r.sensors(i).Stream(sctx)
			if err != nil {
				return fmt.Errorf("stream: %w", err)
			}
			if err := st.Send(&sensoctov1.StreamRequest{SensorId: r.sensorID(i)}); err != nil {
				return fmt.Errorf("stream: %w", err)
			}
			if _, err := st.Receive(); err != nil { // the first config: the session is up
				return fmt.Errorf("stream: %w", err)
			}
			wg.Go(func() { // holds the session open until the end
				<-sctx.Done()
				_ = st.CloseRequest()
				_ = st.CloseResponse()
			})
			return gctx.Err()
		})
	}
	if err := g.Wait(); err != nil {
		return Result{}, err //nolint:wrapcheck // wrapped above
	}
	select { // let the server settle (and a GC cycle pass)
	case <-time.After(r.cfg.Duration):
	case <-ctx.Done():
	}
	after, err := r.status(ctx)
	if err != nil {
		return Result{}, err
	}
	var stacks1 serverRuntime
	if metricsErr == nil {
		stacks1, metricsErr = r.runtimeMetrics(ctx)
	}
	n := float64(r.cfg.Connectors)
	res := Result{
		Connectors: r.cfg.Connectors, Mode: "idle",
		RSSBeforeBytes: before.GetRuntime().GetRssBytes(), RSSAfterBytes: after.GetRuntime().GetRssBytes(),
		HeapBeforeBytes: before.GetRuntime().GetHeapAllocBytes(), HeapAfterBytes: after.GetRuntime().GetHeapAllocBytes(),
	}
	res.BytesPerSensor = (float64(res.RSSAfterBytes) - float64(res.RSSBeforeBytes)) / n
	res.HeapPerSensor = (float64(res.HeapAfterBytes) - float64(res.HeapBeforeBytes)) / n
	if metricsErr != nil {
		res.MetricsError = metricsErr.Error()
	} else {
		res.StackBeforeBytes, res.StackAfterBytes = stacks0.stackBytes, stacks1.stackBytes
		res.StackPerSensor = (stacks1.stackBytes - stacks0.stackBytes) / n
		res.GoroutinesPerSensor = (stacks1.goroutines - stacks0.goroutines) / n
	}
	return res, nil
}
