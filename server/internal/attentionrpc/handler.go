// Package attentionrpc serves sensocto.v1.AttentionService: it converts the attention
// reports of the calling viewer (user and browser tab) and the tracker's state between
// the protobuf messages and the live domain, which checks that the caller may see each
// sensor named.
package attentionrpc

import (
	"context"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/attention"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/live"
)

// Handler implements sensoctov1connect.AttentionServiceHandler.
type Handler struct {
	live *live.Service
}

var _ sensoctov1connect.AttentionServiceHandler = (*Handler)(nil)

// New returns a Handler.
func New(l *live.Service) *Handler { return &Handler{live: l} }

// ReportAttention applies a batch of the caller's events in one tab
// (live.Service.ReportAttention: checked whole before any of it is applied).
func (h *Handler) ReportAttention(ctx context.Context, req *sensoctov1.ReportAttentionRequest) (*sensoctov1.ReportAttentionResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	events := make([]attention.Event, len(req.GetEvents()))
	for i, e := range req.GetEvents() {
		events[i] = attention.Event{
			SensorID: e.GetSensorId(), AttributeID: e.GetAttributeId(), Kind: attention.EventKind(e.GetKind()), //nolint:gosec // G115: protovalidate keeps kind within the defined enum values (1..11)
			BatteryLevel: e.GetBatteryLevel(), BatteryCharging: e.GetBatteryCharging(),
		}
	}
	lease, err := h.live.ReportAttention(ctx, v, req.GetTabId(), events)
	if err != nil {
		return nil, err
	}
	return &sensoctov1.ReportAttentionResponse{LeaseMs: uint32(lease / time.Millisecond)}, nil //nolint:gosec // G115: a lease is seconds long
}

// GetAttention returns the attention on a visible sensor.
func (h *Handler) GetAttention(ctx context.Context, req *sensoctov1.GetAttentionRequest) (*sensoctov1.GetAttentionResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	a, err := h.live.Attention(ctx, v, req.GetSensorId())
	if err != nil {
		return nil, err
	}
	return &sensoctov1.GetAttentionResponse{Attention: toProto(a)}, nil
}

// WatchAttention streams the attention on visible sensors
// (live.Service.RunAttentionWatch): the current state, then every change, a sensor the
// caller may no longer see dropped at once, and the credential guarded by auth's
// interceptor.
func (h *Handler) WatchAttention(ctx context.Context, req *sensoctov1.WatchAttentionRequest, stream *connect.ServerStream[sensoctov1.WatchAttentionResponse]) error {
	g, err := authz.StreamGuardFrom(ctx)
	if err != nil {
		return err
	}
	return h.live.RunAttentionWatch(ctx, g, req.GetSensorIds(), func(list []attention.SensorAttention) error {
		res := &sensoctov1.WatchAttentionResponse{Attention: make([]*sensoctov1.SensorAttention, len(list))}
		for i := range list {
			res.Attention[i] = toProto(list[i])
		}
		return stream.Send(res)
	})
}

func toLevel(l attention.Level) sensoctov1.AttentionLevel { return sensoctov1.AttentionLevel(l + 1) }

func toProto(a attention.SensorAttention) *sensoctov1.SensorAttention {
	out := &sensoctov1.SensorAttention{SensorId: a.SensorID, Level: toLevel(a.Level), Watchers: a.Watchers}
	if !a.ChangedAt.IsZero() {
		out.ChangedAt = timestamppb.New(a.ChangedAt)
	}
	for _, aa := range a.Attributes {
		out.Attributes = append(out.Attributes, &sensoctov1.AttributeAttention{
			AttributeId: aa.AttributeID, Level: toLevel(aa.Level), Viewers: aa.Viewers,
			Hovering: aa.Hovering, Focused: aa.Focused, Pinned: aa.Pinned,
		})
	}
	return out
}
