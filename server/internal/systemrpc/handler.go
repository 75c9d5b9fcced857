// Package systemrpc serves sensocto.v1.SystemService: it converts between the protobuf
// messages and the system domain, and paces the WatchStatus stream.
package systemrpc

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/system"
)

const (
	defaultInterval = time.Second
	minInterval     = 250 * time.Millisecond
)

// Handler implements sensoctov1connect.SystemServiceHandler.
type Handler struct {
	svc *system.Service
}

var _ sensoctov1connect.SystemServiceHandler = (*Handler)(nil)

// New returns a Handler over the system service.
func New(svc *system.Service) *Handler { return &Handler{svc: svc} }

// GetStatus returns one snapshot.
func (h *Handler) GetStatus(ctx context.Context, _ *sensoctov1.GetStatusRequest) (*sensoctov1.GetStatusResponse, error) {
	st, err := h.svc.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("get status: %w", err)
	}
	return &sensoctov1.GetStatusResponse{Status: toProto(st)}, nil
}

// WatchStatus sends a snapshot at once and then one per interval until the client goes,
// or until the caller's credential is revoked or expires (auth's interceptor guards
// every stream: its context ends then, and the stream ends with the credential's
// error).
func (h *Handler) WatchStatus(ctx context.Context, req *sensoctov1.WatchStatusRequest, stream *connect.ServerStream[sensoctov1.WatchStatusResponse]) error {
	interval := defaultInterval
	if req.GetIntervalMs() != 0 {
		interval = max(time.Duration(req.GetIntervalMs())*time.Millisecond, minInterval)
	}
	// A timer set after each send, not a ticker: a slow send is never followed at once by
	// another snapshot (it would be the same shared one, system.DefaultMaxAge).
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		st, err := h.svc.Status(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // the client went away, or the credential ended
			}
			return fmt.Errorf("watch status: %w", err)
		}
		if err := stream.Send(&sensoctov1.WatchStatusResponse{Status: toProto(st)}); err != nil {
			return fmt.Errorf("send status: %w", err)
		}
		timer.Reset(interval)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
	}
}

func toProto(st system.Status) *sensoctov1.SystemStatus {
	out := &sensoctov1.SystemStatus{
		Version:       st.Version,
		GoVersion:     st.GoVersion,
		Node:          st.Node,
		StartedAt:     timestamppb.New(st.StartedAt),
		UptimeSeconds: st.Uptime.Seconds(),
		SampledAt:     timestamppb.New(st.SampledAt),
		Runtime: &sensoctov1.RuntimeStatus{
			Goroutines:       st.Runtime.Goroutines,
			HeapAllocBytes:   st.Runtime.HeapAllocBytes,
			HeapSysBytes:     st.Runtime.HeapSysBytes,
			RssBytes:         st.Runtime.RSSBytes,
			MemoryLimitBytes: st.Runtime.MemoryLimitBytes,
			GcCycles:         st.Runtime.GCCycles,
			NumCpu:           int32(st.Runtime.NumCPU), //nolint:gosec // G115: GOMAXPROCS fits in int32
			CpuFraction:      st.Runtime.CPUFraction,
		},
		Database: &sensoctov1.DatabaseStatus{
			Dialect:   st.Database.Dialect,
			Reachable: st.Database.Reachable,
			Error:     st.Database.Error,
			PingMs:    float64(st.Database.Ping.Microseconds()) / 1000,
		},
		Counts: &sensoctov1.Counts{
			Users:   st.Counts.Users,
			Sensors: st.Counts.Sensors,
			Rooms:   st.Counts.Rooms,

			ConnectedSensors: st.Counts.ConnectedSensors,
			Watchers:         st.Counts.Watchers,
		},
		Load: &sensoctov1.LoadStatus{
			Level:                  sensoctov1.SystemLoadLevel(st.Load.Level + 1), //nolint:gosec // G115: a level is 0..3
			Score:                  st.Load.Score,
			MemoryProtectionActive: st.Load.MemoryProtection,
			LoadMultiplier:         max(st.Load.Multiplier, 1),
		},
	}
	if r := st.Recording; r != nil {
		out.Recording = &sensoctov1.RecordingStatus{
			QueuedSamples:     r.QueuedSamples,
			QueueBoundSamples: r.QueueBoundSamples,
			WrittenSamples:    r.WrittenSamples,
			DroppedSamples:    r.DroppedSamples,
			WriteRetries:      r.WriteRetries,
			Retrying:          r.Retrying,
			LastError:         r.LastError,
			LastFlushLagMs:    millis(r.LastFlushLag),
			OldestQueuedAgeMs: millis(r.OldestQueuedAge),
		}
		if !r.LastFlushAt.IsZero() {
			out.Recording.LastFlushAt = timestamppb.New(r.LastFlushAt)
		}
	}
	for _, n := range st.Nodes {
		out.Nodes = append(out.Nodes, &sensoctov1.ClusterNode{
			Node:             n.ID,
			Self:             n.Self,
			LoadLevel:        sensoctov1.SystemLoadLevel(min(max(n.LoadLevel, 0), 3) + 1), //nolint:gosec // G115: clamped to 0..3
			LoadScore:        n.Score,
			ConnectedSensors: n.ConnectedSensors,
			Watchers:         n.Watchers,
			LastSeen:         timestamppb.New(n.LastSeen),
		})
	}
	return out
}

// millis converts a duration to fractional milliseconds.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
