package natsbus_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/bus/natsbus"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// startServer runs an embedded NATS server on port (0: a free one) of loopback: a
// server this test may stop and start again, which the shared one of
// SENSOCTO_TEST_NATS_URL is not.
func startServer(t *testing.T, port int) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded NATS server not ready")
	}
	return s
}

// TestReconnect: when the NATS server goes away and comes back, the nodes reconnect on
// their own; subscriptions and interest made before still work, and interest changed
// while the server was away is known after.
func TestReconnect(t *testing.T) {
	t.Parallel()
	srv := startServer(t, -1) // a random port
	port := srv.Addr().(*net.TCPAddr).Port
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	opts := natsbus.Options{Heartbeat: 50 * time.Millisecond, InterestTTL: 5 * time.Second}
	a := connect(t, url, opts)
	b := connect(t, url, opts)
	before, err := b.Subscribe(bus.KindMeasurements, "before", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	testkit.WaitFor(t, "interest", func() bool { return a.Interested(bus.KindMeasurements, "before") })

	srv.Shutdown()
	srv.WaitForShutdown()
	testkit.WaitFor(t, "the nodes to notice", func() bool { return !a.Conn().IsConnected() && !b.Conn().IsConnected() })
	during, err := b.Subscribe(bus.KindMeasurements, "during", 0) // announced once back
	if err != nil {
		t.Fatal(err)
	}
	defer during.Close()
	srv = startServer(t, port)
	defer srv.Shutdown()
	testkit.WaitFor(t, "the nodes to reconnect", func() bool { return a.Conn().IsConnected() && b.Conn().IsConnected() })
	testkit.WaitFor(t, "a to learn the interest changed meanwhile", func() bool {
		return a.Interested(bus.KindMeasurements, "during") && a.Interested(bus.KindMeasurements, "before")
	})
	for _, s := range []struct {
		key string
		sub bus.Subscription
	}{{"before", before}, {"during", during}} {
		// NATS re-subscribes after the reconnect; a message may still race it, so
		// publish until one arrives.
		testkit.WaitFor(t, "delivery of "+s.key+" after the reconnect", func() bool {
			if err := a.Publish(bus.Message{Kind: bus.KindMeasurements, Key: s.key, Data: []byte("x")}); err != nil {
				t.Fatal(err)
			}
			select {
			case m := <-s.sub.C():
				return m.Key == s.key
			case <-time.After(50 * time.Millisecond):
				return false
			}
		})
	}
}
