package app_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
)

// ownerPublish: the owner's session and publish token may; others do not see it.
var ownerPublish = users(connect.CodeUnauthenticated, connect.CodeNotFound, connect.CodeNotFound, ok, ok)

// registerAnyone: any signed-in user and a publish token may register a new id.
var registerAnyone = users(connect.CodeUnauthenticated, ok, ok, ok, ok)

var (
	matrixSensorsMu sync.Mutex
	matrixSensors   = map[*matrix]string{}
	matrixSeq       atomic.Int64
)

func (m *matrix) sensorsAs(who caller) sensoctov1connect.SensorServiceClient {
	return sensoctov1connect.NewSensorServiceClient(withToken(h2cClient(), m.tokens[who]), m.url)
}

func (m *matrix) attentionAs(who caller) sensoctov1connect.AttentionServiceClient {
	return sensoctov1connect.NewAttentionServiceClient(withToken(h2cClient(), m.tokens[who]), m.url)
}

// newOwnerSensor registers a new private sensor of the owner with attribute "hr".
func (m *matrix) newOwnerSensor(t *testing.T) string {
	t.Helper()
	id := fmt.Sprintf("matrix-%d", matrixSeq.Add(1))
	_, err := m.sensorsAs(owner).RegisterSensor(t.Context(), &sensoctov1.RegisterSensorRequest{
		SensorId: id, Attributes: []*sensoctov1.Attribute{{AttributeId: "hr", AttributeType: "heartrate"}},
	})
	if err != nil {
		t.Fatalf("register the owner's sensor: %v", err)
	}
	return id
}

// ownerSensor is the owner's private sensor shared by the rows.
func (m *matrix) ownerSensor(t *testing.T) string {
	t.Helper()
	matrixSensorsMu.Lock()
	defer matrixSensorsMu.Unlock()
	if id, found := matrixSensors[m]; found {
		return id
	}
	id := m.newOwnerSensor(t)
	matrixSensors[m] = id
	return id
}

// firstOf receives one message of a server stream and closes it.
func firstOf[T any](s *connect.ServerStreamForClient[T], err error) error {
	if err != nil {
		return err
	}
	defer func() { _ = s.Close() }()
	if !s.Receive() {
		return s.Err()
	}
	return nil
}

func init() {
	rows := map[string]matrixRow{
		sensoctov1connect.SensorServiceRegisterSensorProcedure: {registerAnyone, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.sensorsAs(who).RegisterSensor(t.Context(), &sensoctov1.RegisterSensorRequest{SensorId: fmt.Sprintf("reg-%d", matrixSeq.Add(1))})
			return err
		}},
		sensoctov1connect.SensorServicePublishProcedure: {ownerPublish, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.sensorsAs(who).Publish(t.Context(), &sensoctov1.PublishRequest{
				SensorId:     m.ownerSensor(t),
				Measurements: []*sensoctov1.Measurement{{AttributeId: "hr", TimeUs: dataT0 + 1, Value: &sensoctov1.Measurement_Number{Number: 60}}},
			})
			return err
		}},
		sensoctov1connect.SensorServiceStreamProcedure: {ownerPublish, func(t *testing.T, m *matrix, who caller) error {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			s, err := m.sensorsAs(who).Stream(ctx)
			if err != nil {
				return err
			}
			if err := s.Send(&sensoctov1.StreamRequest{SensorId: m.ownerSensor(t)}); err != nil {
				_, rerr := s.Receive()
				return rerr
			}
			_, err = s.Receive()
			_ = s.CloseRequest()
			_ = s.CloseResponse()
			return err
		}},
		sensoctov1connect.SensorServiceWatchBackpressureProcedure: {ownerPublish, func(t *testing.T, m *matrix, who caller) error {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			return firstOf(m.sensorsAs(who).WatchBackpressure(ctx, &sensoctov1.WatchBackpressureRequest{SensorId: m.ownerSensor(t)}))
		}},
		sensoctov1connect.SensorServiceWatchProcedure: {ownerOnly, func(t *testing.T, m *matrix, who caller) error {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			return firstOf(m.sensorsAs(who).Watch(ctx, &sensoctov1.WatchRequest{SensorIds: []string{m.ownerSensor(t)}}))
		}},
		sensoctov1connect.SensorServiceGetHistoryProcedure: {ownerOnly, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.sensorsAs(who).GetHistory(t.Context(), &sensoctov1.GetHistoryRequest{SensorId: m.ownerSensor(t), AttributeId: "hr"})
			return err
		}},
		sensoctov1connect.SensorServiceListSensorsProcedure: {signedIn, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.sensorsAs(who).ListSensors(t.Context(), &sensoctov1.ListSensorsRequest{})
			return err
		}},
		sensoctov1connect.SensorServiceGetSensorProcedure: {ownerOnly, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.sensorsAs(who).GetSensor(t.Context(), &sensoctov1.GetSensorRequest{SensorId: m.ownerSensor(t)})
			return err
		}},
		sensoctov1connect.SensorServiceUpdateSensorProcedure: {ownerOnly, func(t *testing.T, m *matrix, who caller) error {
			name := "renamed"
			_, err := m.sensorsAs(who).UpdateSensor(t.Context(), &sensoctov1.UpdateSensorRequest{SensorId: m.ownerSensor(t), Name: &name})
			return err
		}},
		sensoctov1connect.SensorServiceDeleteSensorProcedure: {ownerOnly, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.sensorsAs(who).DeleteSensor(t.Context(), &sensoctov1.DeleteSensorRequest{SensorId: m.newOwnerSensor(t)})
			return err
		}},
		sensoctov1connect.SensorServiceSetRecordingProcedure: {ownerOnly, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.sensorsAs(who).SetRecording(t.Context(), &sensoctov1.SetRecordingRequest{SensorId: m.ownerSensor(t), Enabled: false})
			return err
		}},
		sensoctov1connect.AttentionServiceReportAttentionProcedure: {ownerOnly, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.attentionAs(who).ReportAttention(t.Context(), &sensoctov1.ReportAttentionRequest{
				TabId: "matrix-tab-1",
				Events: []*sensoctov1.AttentionEvent{{
					SensorId: m.ownerSensor(t), Kind: sensoctov1.AttentionEventKind_ATTENTION_EVENT_KIND_VIEW_ENTER,
				}},
			})
			return err
		}},
		sensoctov1connect.AttentionServiceGetAttentionProcedure: {ownerOnly, func(t *testing.T, m *matrix, who caller) error {
			_, err := m.attentionAs(who).GetAttention(t.Context(), &sensoctov1.GetAttentionRequest{SensorId: m.ownerSensor(t)})
			return err
		}},
		sensoctov1connect.AttentionServiceWatchAttentionProcedure: {ownerOnly, func(t *testing.T, m *matrix, who caller) error {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			return firstOf(m.attentionAs(who).WatchAttention(ctx, &sensoctov1.WatchAttentionRequest{SensorIds: []string{m.ownerSensor(t)}}))
		}},
	}
	for proc, row := range rows {
		matrixRows[proc] = row
	}
}
