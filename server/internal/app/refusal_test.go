package app_test

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
)

// TestStreamAcksBeforeRefusing: when a Stream batch is refused, the ack of the batches
// accepted before it arrives first (acks coalesce, so without that the last good
// batch would never be acknowledged), then the error.
func TestStreamAcksBeforeRefusing(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "sqlite", nil)
	p := newParty(t, srv.url)
	for name, c := range rtProtocols(srv.url, p.token) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			id := newSensorID("ack-" + name)
			register(t, c.sensors, id, &sensoctov1.Attribute{AttributeId: "hr", AttributeType: "heartrate"})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			st, err := c.sensors.Stream(ctx)
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			defer func() { _ = st.CloseResponse() }()
			send := func(seq uint64, sensorID string) {
				t.Helper()
				if err := st.Send(&sensoctov1.StreamRequest{SensorId: sensorID, Sequence: seq, Measurements: []*sensoctov1.Measurement{num("hr", 0, float64(seq))}}); err != nil {
					t.Fatalf("send %d: %v", seq, err)
				}
			}
			send(1, id)
			for { // batch 1 is acknowledged at once (the first ack of a session)
				res, err := st.Receive()
				if err != nil {
					t.Fatalf("receive: %v", err)
				}
				if res.GetAck().GetSequence() == 1 {
					break
				}
			}
			// Batch 2's ack is held to coalesce; batch 3 names another sensor and is refused.
			send(2, id)
			send(3, id+"-other")
			var last *sensoctov1.StreamAck
			for {
				res, err := st.Receive()
				if err != nil {
					if connect.CodeOf(err) != connect.CodeInvalidArgument {
						t.Fatalf("Stream ended with %v, want invalid_argument", err)
					}
					break
				}
				if a := res.GetAck(); a != nil {
					last = a
				}
			}
			if last.GetSequence() != 2 || last.GetTotalAccepted() != 2 {
				t.Fatalf("last ack before the error = %v, want sequence 2 with 2 accepted in total", last)
			}
		})
	}
}

// TestReportAttentionNamesOnlyExistingAttributes: a report naming an attribute its
// sensor does not have is refused whole with not_found naming the field; whole-sensor
// events (the web app's tiles) and attributes seen only in data are fine.
func TestReportAttentionNamesOnlyExistingAttributes(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, dialect, nil)
			p := newParty(t, srv.url)
			id := newSensorID("attn-attr")
			register(t, p.sensors, id, &sensoctov1.Attribute{AttributeId: "hr", AttributeType: "heartrate"})
			p.publish(t, id, 60)
			if _, err := p.sensors.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: []*sensoctov1.Measurement{num("inferred", 0, 1)}}); err != nil {
				t.Fatalf("publish an undeclared attribute: %v", err)
			}
			ev := func(attr string, kind sensoctov1.AttentionEventKind) *sensoctov1.AttentionEvent {
				return &sensoctov1.AttentionEvent{SensorId: id, AttributeId: attr, Kind: kind}
			}
			const focus, view = sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_FOCUS, sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_VIEW_ENTER
			req := func(events ...*sensoctov1.AttentionEvent) *sensoctov1.ReportAttentionRequest {
				return &sensoctov1.ReportAttentionRequest{TabId: "attr-check-tab", Events: events}
			}
			if _, err := p.attention.ReportAttention(t.Context(), req(ev("", view), ev("hr", view), ev("inferred", view))); err != nil {
				t.Fatalf("report on the whole sensor, a declared and an inferred attribute: %v", err)
			}
			_, err := p.attention.ReportAttention(t.Context(), req(ev("hr", focus), ev("nope", focus)))
			if connect.CodeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), "events[1].attribute_id") {
				t.Fatalf("report naming a missing attribute = %v, want not_found naming events[1].attribute_id", err)
			}
			// Refused whole: the focus on hr in the same batch was not applied.
			res, err := p.attention.GetAttention(t.Context(), &sensoctov1.GetAttentionRequest{SensorId: id})
			if err != nil {
				t.Fatalf("GetAttention: %v", err)
			}
			if lvl := res.GetAttention().GetLevel(); lvl == sensoctov1.AttentionLevel_ATTENTION_LEVEL_HIGH {
				t.Fatalf("level after a refused report = %s: part of it was applied", lvl)
			}
		})
	}
}
