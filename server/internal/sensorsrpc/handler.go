// Package sensorsrpc serves sensocto.v1.SensorService: it converts between the
// protobuf messages and the sensors domain (the registry RPCs) and the live domain
// (RegisterSensor, Publish, Stream, WatchBackpressure, Watch), cheaply: sample slices
// are aliased, and Watch responses built in reused memory. The sessions themselves
// (acks, config pushes, delivery windows, access) are the live domain's; a stream's
// handler gives it the stream as a small transport interface.
package sensorsrpc

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/hub"
	"github.com/sensocto/sensocto/server/internal/live"
	"github.com/sensocto/sensocto/server/internal/sensors"
)

// Historian answers history queries. The sensors domain answers from the in-memory
// window; a recording-backed implementation (recording.Recorder.Query merges recorded
// rows with the hub's window) plugs in here.
type Historian interface {
	History(ctx context.Context, v authz.Viewer, req sensors.HistoryRequest) (sensors.History, error)
}

// Options are the services a Handler uses.
type Options struct {
	Sensors *sensors.Service
	Live    *live.Service
	// History answers GetHistory (Sensors when nil).
	History Historian
	Logger  zerolog.Logger
}

// Handler implements sensoctov1connect.SensorServiceHandler.
type Handler struct {
	sensors *sensors.Service
	live    *live.Service
	history Historian
	log     zerolog.Logger
}

var _ sensoctov1connect.SensorServiceHandler = (*Handler)(nil)

// New returns a Handler.
func New(o Options) *Handler {
	h := &Handler{sensors: o.Sensors, live: o.Live, history: o.History, log: o.Logger}
	if h.history == nil {
		h.history = o.Sensors
	}
	return h
}

// RegisterSensor declares or updates a sensor.
func (h *Handler) RegisterSensor(ctx context.Context, req *sensoctov1.RegisterSensorRequest) (*sensoctov1.RegisterSensorResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	in := sensors.RegisterInput{
		ID: req.GetSensorId(), Name: req.GetName(), SensorType: req.GetSensorType(),
		Visibility: fromVisibility(req.GetVisibility()),
	}
	for _, a := range req.GetAttributes() {
		in.Attributes = append(in.Attributes, sensors.Attribute{
			ID: a.GetAttributeId(), Type: a.GetAttributeType(), Unit: a.GetUnit(), SampleRateHz: a.GetSampleRateHz(),
		})
	}
	s, cfg, err := h.live.Register(ctx, v, in)
	if err != nil {
		return nil, err
	}
	return &sensoctov1.RegisterSensorResponse{Sensor: h.toSensor(s), Backpressure: toConfig(cfg)}, nil
}

// Publish ingests one batch.
func (h *Handler) Publish(ctx context.Context, req *sensoctov1.PublishRequest) (*sensoctov1.PublishResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	n, cfg, err := h.live.Publish(ctx, v, publishBatch{req})
	if err != nil {
		return nil, err
	}
	return &sensoctov1.PublishResponse{Accepted: uint64(n), Backpressure: toConfig(cfg)}, nil //nolint:gosec // G115: n is a count
}

// publishBatch is a Publish request as a live.Incoming (one pointer: it goes into the
// interface without an allocation).
type publishBatch struct{ req *sensoctov1.PublishRequest }

func (b publishBatch) SensorID() string { return b.req.GetSensorId() }

func (b publishBatch) Decode(hb *hub.Batch) error {
	return toBatch(hb, b.req.GetMeasurements(), b.req.GetBlocks())
}

// GetHistory answers a history query.
func (h *Handler) GetHistory(ctx context.Context, req *sensoctov1.GetHistoryRequest) (*sensoctov1.GetHistoryResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	res, err := h.history.History(ctx, v, sensors.HistoryRequest{
		SensorID: req.GetSensorId(), AttributeID: req.GetAttributeId(),
		FromUS: req.GetFromUs(), ToUS: req.GetToUs(), MaxPoints: int(req.GetMaxPoints()),
		Raw: req.GetRaw(), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, fmt.Errorf("get history: %w", err)
	}
	out := &sensoctov1.GetHistoryResponse{
		Downsampled: res.Downsampled, TotalCount: res.TotalCount, NextPageToken: res.NextPageToken,
		AttributeType: res.AttributeType, Points: make([]*sensoctov1.HistoryPoint, len(res.Points)),
		Recorded: toSpan(res.Recorded), InMemory: toSpan(res.InMemory), Recording: res.Recording,
	}
	for i := range res.Points {
		b := &res.Points[i]
		p := &sensoctov1.HistoryPoint{TimeUs: b.TimeUS, Min: b.Min, Max: b.Max, Count: b.Count}
		switch b.Value.Kind {
		case hub.KindNumber:
			p.Value = &sensoctov1.HistoryPoint_Number{Number: b.Value.F[0]}
		case hub.KindVec3:
			p.Value = &sensoctov1.HistoryPoint_Vector3{Vector3: &sensoctov1.Vector3{X: b.Value.F[0], Y: b.Value.F[1], Z: b.Value.F[2]}}
		case hub.KindQuat:
			p.Value = &sensoctov1.HistoryPoint_Quaternion{Quaternion: &sensoctov1.Quaternion{W: b.Value.F[0], X: b.Value.F[1], Y: b.Value.F[2], Z: b.Value.F[3]}}
		case hub.KindGeo:
			p.Value = &sensoctov1.HistoryPoint_Geo{Geo: toGeo(&b.Value)}
		case hub.KindText:
			p.Value = &sensoctov1.HistoryPoint_Text{Text: b.Value.Ext.Text}
		case hub.KindStruct:
			if st := decodeStruct(&b.Value); st != nil {
				p.Value = &sensoctov1.HistoryPoint_StructValue{StructValue: st}
			}
		}
		out.Points[i] = p
	}
	return out, nil
}

// ListSensors lists visible sensors.
func (h *Handler) ListSensors(ctx context.Context, req *sensoctov1.ListSensorsRequest) (*sensoctov1.ListSensorsResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	list, next, err := h.sensors.List(ctx, v, sensors.ListFilter{
		OwnerID: req.GetOwnerId(), SensorType: req.GetSensorType(), AttributeType: req.GetAttributeType(),
		RoomID: req.GetRoomId(), PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, fmt.Errorf("list sensors: %w", err)
	}
	out := &sensoctov1.ListSensorsResponse{NextPageToken: next, Sensors: make([]*sensoctov1.Sensor, len(list))}
	for i, s := range list {
		out.Sensors[i] = h.toSensor(s)
	}
	return out, nil
}

// GetSensor returns one sensor.
func (h *Handler) GetSensor(ctx context.Context, req *sensoctov1.GetSensorRequest) (*sensoctov1.GetSensorResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	s, err := h.sensors.Get(ctx, v, req.GetSensorId())
	if err != nil {
		return nil, fmt.Errorf("get sensor: %w", err)
	}
	return &sensoctov1.GetSensorResponse{Sensor: h.toSensor(s)}, nil
}

// UpdateSensor renames a sensor or changes its visibility.
func (h *Handler) UpdateSensor(ctx context.Context, req *sensoctov1.UpdateSensorRequest) (*sensoctov1.UpdateSensorResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	s, err := h.sensors.Update(ctx, v, req.GetSensorId(), req.Name, fromVisibility(req.GetVisibility()))
	if err != nil {
		return nil, fmt.Errorf("update sensor: %w", err)
	}
	return &sensoctov1.UpdateSensorResponse{Sensor: h.toSensor(s)}, nil
}

// DeleteSensor deletes a sensor and ends its streams.
func (h *Handler) DeleteSensor(ctx context.Context, req *sensoctov1.DeleteSensorRequest) (*sensoctov1.DeleteSensorResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.sensors.Delete(ctx, v, req.GetSensorId()); err != nil {
		return nil, fmt.Errorf("delete sensor: %w", err)
	}
	return &sensoctov1.DeleteSensorResponse{}, nil
}

// SetRecording switches recording of a sensor.
func (h *Handler) SetRecording(ctx context.Context, req *sensoctov1.SetRecordingRequest) (*sensoctov1.SetRecordingResponse, error) {
	v, err := authz.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	s, err := h.sensors.SetRecording(ctx, v, req.GetSensorId(), req.GetEnabled(), req.GetRetention().AsDuration())
	if err != nil {
		return nil, fmt.Errorf("set recording: %w", err)
	}
	return &sensoctov1.SetRecordingResponse{Sensor: h.toSensor(s)}, nil
}

// toSpan converts a span; nil when it holds nothing.
func toSpan(s sensors.Span) *sensoctov1.DataSpan {
	if s.IsZero() {
		return nil
	}
	return &sensoctov1.DataSpan{FirstUs: s.FirstUS, LastUs: s.LastUS}
}
