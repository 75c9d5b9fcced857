package loadgen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/sync/errgroup"
)

// mqttPayload is a value on the wire of --mode mqtt: the send time (µs, big endian)
// and the value (float64 bits), as compact as a Measurement.
const mqttPayload = 16

// mqtt runs the same connectors and viewers as --attention page through an MQTT
// broker, for comparison: every connector publishes each value at RateHz as its own
// message with QoS 0 (MQTT has no attention: every sensor sends at its full rate,
// watched or not), on a client shared by 100 sensors (as loadgen's HTTP/2
// connections are, --conns), and each of Watchers subscribers wants the Page topics
// of its own page. The latency is from the value's send time to its arrival at the
// subscriber.
func (r *runner) mqtt(ctx context.Context) (Result, error) {
	broker := r.cfg.URL
	if !strings.HasPrefix(broker, "tcp://") {
		return Result{}, fmt.Errorf("loadgen: --mode mqtt needs --url tcp://host:port, not %q", broker)
	}
	topic := func(i int) string { return fmt.Sprintf("sensocto-loadgen/%s/%d", r.runID, i) }
	var clients []mqtt.Client
	defer func() {
		for _, c := range clients {
			c.Disconnect(250)
		}
	}()
	connect := func(name string, onLost func(error)) (mqtt.Client, error) {
		o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("lg-%s-%s", r.runID, name)).
			SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).
			// A busy machine delays pings: a lost connection would end the comparison.
			SetKeepAlive(2 * time.Minute).SetPingTimeout(30 * time.Second).
			SetConnectionLostHandler(func(_ mqtt.Client, err error) { onLost(err) })
		c := mqtt.NewClient(o)
		if t := c.Connect(); !t.WaitTimeout(15*time.Second) || t.Error() != nil {
			return nil, fmt.Errorf("connect to %s: %w", broker, errors.Join(t.Error(), ctx.Err()))
		}
		clients = append(clients, c)
		return c, nil
	}
	lost := func(err error) { r.c.fail(fmt.Errorf("mqtt connection lost: %w", err)) }

	// Subscribers first, so they see everything sent.
	hists := make([]*histogram, r.cfg.Watchers)
	var mu sync.Mutex // guards hists: paho calls each client's handler on its own goroutine
	for j := range r.cfg.Watchers {
		hists[j] = newHistogram()
		page := map[string]byte{}
		for i := j * r.cfg.Page; i < min((j+1)*r.cfg.Page, r.cfg.Connectors); i++ {
			page[topic(i)] = 0
		}
		if len(page) == 0 {
			continue
		}
		c, err := connect(fmt.Sprintf("sub-%d", j), lost)
		if err != nil {
			return Result{}, err
		}
		h := hists[j]
		t := c.SubscribeMultiple(page, func(_ mqtt.Client, m mqtt.Message) {
			p := m.Payload()
			if len(p) < mqttPayload {
				return
			}
			now := time.Now().UnixMicro()
			sent := int64(binary.BigEndian.Uint64(p)) //nolint:gosec // G115: our own time stamp
			r.c.watchMessages.Add(1)
			r.c.delivered.Add(1)
			mu.Lock()
			h.add(now - sent)
			mu.Unlock()
		})
		if !t.WaitTimeout(15*time.Second) || t.Error() != nil {
			return Result{}, fmt.Errorf("subscribe: %w", errors.Join(t.Error(), ctx.Err()))
		}
	}
	pubs := make([]mqtt.Client, r.cfg.Conns)
	for k := range pubs {
		c, err := connect(fmt.Sprintf("pub-%d", k), lost)
		if err != nil {
			return Result{}, err
		}
		pubs[k] = c
	}

	cctx, stop := context.WithTimeout(ctx, r.cfg.Duration)
	defer stop()
	start := time.Now()
	meter := startProcMeter(r.cfg.PID)
	var g errgroup.Group
	for i := range r.cfg.Connectors {
		g.Go(func() error {
			r.mqttPublisher(cctx, pubs[i%len(pubs)], topic(i))
			return nil
		})
	}
	<-cctx.Done()
	elapsed := time.Since(start)
	res := Result{Connectors: r.cfg.Connectors, Watchers: r.cfg.Watchers, Mode: "mqtt"}
	meter.stop(&res)
	_ = g.Wait()
	select { // let in-flight messages arrive
	case <-time.After(200 * time.Millisecond):
	case <-ctx.Done():
	}
	mu.Lock()
	all := newHistogram()
	for _, h := range hists {
		all.merge(h)
	}
	mu.Unlock()
	r.results(&res, elapsed)
	res.LatencyMS = all.latency()
	return res, nil
}

// mqttPublisher publishes one value per message at RateHz until ctx ends, on the
// client it shares with other sensors (paho's Publish is safe for concurrent use).
func (r *runner) mqttPublisher(ctx context.Context, c mqtt.Client, topic string) {
	period := time.Duration(float64(time.Second) / r.cfg.RateHz)
	// Connectors started together do not send together.
	next := time.Now().Add(time.Duration(mrand.Int64N(int64(period) + 1))) //nolint:gosec // G404: a phase, not a secret
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		p := make([]byte, mqttPayload)                         // the client writes it later: one per message
		binary.BigEndian.PutUint64(p, uint64(now.UnixMicro())) //nolint:gosec // G115: a time stamp
		binary.BigEndian.PutUint64(p[8:], math.Float64bits(1))
		r.c.sent.Add(1)
		if t := c.Publish(topic, 0, false, p); t.Error() != nil {
			r.c.fail(t.Error())
		} else {
			r.c.messages.Add(1)
			r.c.accepted.Add(1)
		}
		// Behind, it catches up (each value is its own message: MQTT has no batch); the
		// values sent per second show when it cannot.
		next = next.Add(period)
		timer.Reset(max(time.Until(next), 0))
	}
}
