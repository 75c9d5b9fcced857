package app_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

// TestWatchChecksEverySensor: a user watching its own sensor and another user's private
// one, in either order, is refused, and is never sent the private sensor's data.
// Watch and WatchAttention check every id of the list, not only the first.
func TestWatchChecksEverySensor(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, dialect, map[string]string{"SENSOCTO_AUTH_RATE_LIMIT": "10000"})
			ownerC := rtProtocols(srv.url, signUp(t, srv.url, "owner-"+dialect+"@example.com"))["connect"]
			private := newSensorID("private")
			register(t, ownerC.sensors, private, &sensoctov1.Attribute{AttributeId: "hr"})
			for proto, c := range rtProtocols(srv.url, signUp(t, srv.url, "other-"+dialect+"@example.com")) {
				t.Run(proto, func(t *testing.T) {
					mine := newSensorID("mine")
					register(t, c.sensors, mine, &sensoctov1.Attribute{AttributeId: "hr"})
					mine2 := newSensorID("mine")
					register(t, c.sensors, mine2, &sensoctov1.Attribute{AttributeId: "hr"})
					for _, ids := range [][]string{{mine, private}, {private, mine}, {mine, mine2, private}} {
						name := strings.Join(ids, ",")
						func() {
							ctx, cancel := context.WithCancel(t.Context())
							defer cancel()
							err := firstOf(c.sensors.Watch(ctx, &sensoctov1.WatchRequest{SensorIds: ids}))
							if connect.CodeOf(err) != connect.CodeNotFound {
								// Show what leaks: the owner publishes and the stream carries it.
								t.Errorf("Watch %s: %v, want not_found", name, err)
								leaked := leaks(t, c.sensors, ownerC.sensors, ids, private)
								if leaked {
									t.Errorf("Watch %s delivered the private sensor's data", name)
								}
							}
						}()
						func() {
							ctx, cancel := context.WithCancel(t.Context())
							defer cancel()
							err := firstOf(c.attention.WatchAttention(ctx, &sensoctov1.WatchAttentionRequest{SensorIds: ids}))
							if connect.CodeOf(err) != connect.CodeNotFound {
								t.Errorf("WatchAttention %s: %v, want not_found", name, err)
							}
						}()
					}
					// Its own sensor alone is fine.
					ctx, cancel := context.WithCancel(t.Context())
					defer cancel()
					if err := firstOf(c.sensors.Watch(ctx, &sensoctov1.WatchRequest{SensorIds: []string{mine}})); err != nil {
						t.Errorf("Watch of its own sensor: %v", err)
					}
				})
			}
		})
	}
}

// leaks opens the watch that should have been refused, has the owner publish to the
// private sensor, and reports whether its data came through.
func leaks(t *testing.T, watcherC, ownerC sensoctov1connect.SensorServiceClient, ids []string, private string) bool {
	t.Helper()
	w := openWatch(t, watcherC, &sensoctov1.WatchRequest{SensorIds: ids, SkipRecent: true})
	if _, err := ownerC.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: private, Measurements: []*sensoctov1.Measurement{num("hr", dataT0+1, 61)}}); err != nil {
		t.Fatalf("owner publishes: %v", err)
	}
	for range 20 {
		m := w.next(t)
		for _, d := range m.GetData() {
			if d.GetSensorId() == private {
				return true
			}
		}
	}
	return false
}

// TestStreamKeepsItsSensor: a Stream session opened on the caller's own sensor whose
// later batch names another user's sensor is ended with invalid_argument naming
// sensor_id, and nothing of that batch reaches the other sensor.
func TestStreamKeepsItsSensor(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, dialect, map[string]string{"SENSOCTO_AUTH_RATE_LIMIT": "10000"})
			ownerC := rtProtocols(srv.url, signUp(t, srv.url, "owner-"+dialect+"@example.com"))["connect"]
			for proto, c := range rtProtocols(srv.url, signUp(t, srv.url, "other-"+dialect+"@example.com")) {
				t.Run(proto, func(t *testing.T) {
					victim := newSensorID("victim")
					register(t, ownerC.sensors, victim, &sensoctov1.Attribute{AttributeId: "hr"})
					mine := newSensorID("mine")
					register(t, c.sensors, mine, &sensoctov1.Attribute{AttributeId: "hr"})

					ctx, cancel := context.WithCancel(t.Context())
					defer cancel()
					s, err := c.sensors.Stream(ctx)
					if err != nil {
						t.Fatalf("Stream: %v", err)
					}
					batches := []*sensoctov1.StreamRequest{
						{SensorId: mine, Sequence: 1, Measurements: []*sensoctov1.Measurement{num("hr", dataT0+1, 60)}},
						{SensorId: mine, Sequence: 2, Measurements: []*sensoctov1.Measurement{num("hr", dataT0+2, 61)}},
						{SensorId: victim, Sequence: 3, Measurements: []*sensoctov1.Measurement{num("hr", dataT0+3, 250), num("hr", dataT0+4, 251)}},
					}
					for _, b := range batches {
						if err := s.Send(b); err != nil {
							break // the server ended the stream; Receive has its error
						}
					}
					_ = s.CloseRequest()
					var streamErr error
					for {
						if _, err := s.Receive(); err != nil {
							if !errors.Is(err, io.EOF) {
								streamErr = err
							}
							break
						}
					}
					_ = s.CloseResponse()
					if connect.CodeOf(streamErr) != connect.CodeInvalidArgument || !strings.Contains(streamErr.Error(), "sensor_id") {
						t.Errorf("stream ended with %v, want invalid_argument naming sensor_id", streamErr)
					}
					h, err := ownerC.sensors.GetHistory(t.Context(), &sensoctov1.GetHistoryRequest{SensorId: victim, AttributeId: "hr"})
					if err != nil {
						t.Fatalf("GetHistory of the victim: %v", err)
					}
					if h.GetTotalCount() != 0 {
						t.Errorf("the other user's sensor holds %d values from the stream, want 0", h.GetTotalCount())
					}
					// The session's own batches before the bad one were ingested.
					mh, err := c.sensors.GetHistory(t.Context(), &sensoctov1.GetHistoryRequest{SensorId: mine, AttributeId: "hr"})
					if err != nil {
						t.Fatalf("GetHistory of its own sensor: %v", err)
					}
					if mh.GetTotalCount() != 2 {
						t.Errorf("its own sensor holds %d values, want the 2 sent before the refused batch", mh.GetTotalCount())
					}
				})
			}
		})
	}
}
