package contract

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
)

// ecgBlock is a block of n ECG samples at 250 Hz starting at startUS.
func ecgBlock(startUS int64, n int) *sensoctov1.SampleBlock {
	b := &sensoctov1.SampleBlock{AttributeId: "ecg", StartTimeUs: startUS, SampleRateHz: 250, Samples: make([]float32, n)}
	for i := range b.Samples {
		b.Samples[i] = float32(i%50) / 50
	}
	return b
}

func nowUS() int64 { return time.Now().UnixMicro() }

// sensorChecks covers SensorService over p with one sensor owned by a, deleted at the end
// of the checks (which DeleteSensor's check does).
func (s *suite) sensorChecks(ctx context.Context, p protocol, a, b user) {
	c := s.client(p, a.token)
	id := s.sensorID(p.name)
	s.deleteAtEnd(a, id)
	registered := s.check(ctx, p, []string{sensoctov1connect.SensorServiceRegisterSensorProcedure},
		"the sensor as registered, owned by the caller, with a first back-pressure config",
		func(ctx context.Context) error {
			res, err := c.sensors.RegisterSensor(ctx, &sensoctov1.RegisterSensorRequest{
				SensorId: id, Name: "contract " + p.name, SensorType: "contract",
				Attributes: []*sensoctov1.Attribute{ecgAttribute, heartrateAttribute},
			})
			if err != nil {
				return must("RegisterSensor", err)
			}
			got := res.GetSensor()
			if got.GetSensorId() != id || got.GetOwnerId() != a.id || len(got.GetAttributes()) != 2 {
				return fmt.Errorf("sensor %s owned by %s with 2 attributes, got %v", id, a.id, got)
			}
			if bp := res.GetBackpressure(); bp == nil || bp.GetRecommendedBatchWindowMs() == 0 || bp.GetAttentionLevel() == sensoctov1.AttentionLevel_ATTENTION_LEVEL_UNSPECIFIED {
				return fmt.Errorf("a back-pressure config with a window and an attention level, got %v", bp)
			}
			return nil
		})
	if !registered {
		return
	}
	start := nowUS()
	s.check(ctx, p, []string{sensoctov1connect.SensorServicePublishProcedure}, "accepted = measurements + block samples, and the back-pressure config",
		func(ctx context.Context) error {
			res, err := c.sensors.Publish(ctx, &sensoctov1.PublishRequest{SensorId: id,
				Measurements: []*sensoctov1.Measurement{number("heartrate", start, 61)},
				Blocks:       []*sensoctov1.SampleBlock{ecgBlock(start, 64)},
			})
			if err != nil {
				return must("Publish", err)
			}
			if res.GetAccepted() != 65 || res.GetBackpressure() == nil {
				return fmt.Errorf("accepted 65 with a config, got %d, %v", res.GetAccepted(), res.GetBackpressure())
			}
			return nil
		})
	s.check(ctx, p, []string{sensoctov1connect.SensorServiceGetSensorProcedure}, "the registered sensor with its attributes", func(ctx context.Context) error {
		res, err := c.sensors.GetSensor(ctx, &sensoctov1.GetSensorRequest{SensorId: id})
		if err != nil {
			return must("GetSensor", err)
		}
		got := res.GetSensor()
		if got.GetSensorId() != id || got.GetName() != "contract "+p.name || len(got.GetAttributes()) != 2 ||
			got.GetAttributes()[0].GetAttributeId() != "ecg" || got.GetAttributes()[0].GetUnit() != "mV" {
			return fmt.Errorf("sensor %s named %q with attributes ecg (mV) and heartrate, got %v", id, "contract "+p.name, got)
		}
		return nil
	})
	s.check(ctx, p, []string{sensoctov1connect.SensorServiceListSensorsProcedure}, `the caller's sensor in owner_id "me"`, func(ctx context.Context) error {
		found := false
		err := listAll(ctx, c, &sensoctov1.ListSensorsRequest{OwnerId: "me", SensorType: "contract"}, func(sn *sensoctov1.Sensor) {
			found = found || sn.GetSensorId() == id
		})
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%s in the list", id)
		}
		return nil
	})
	s.check(ctx, p, []string{sensoctov1connect.SensorServiceUpdateSensorProcedure}, "the new name and visibility, and another user's update NotFound",
		func(ctx context.Context) error {
			name := "contract renamed " + p.name
			res, err := c.sensors.UpdateSensor(ctx, &sensoctov1.UpdateSensorRequest{SensorId: id, Name: &name, Visibility: sensoctov1.Visibility_VISIBILITY_PRIVATE})
			if err != nil {
				return must("UpdateSensor", err)
			}
			if res.GetSensor().GetName() != name || res.GetSensor().GetVisibility() != sensoctov1.Visibility_VISIBILITY_PRIVATE {
				return fmt.Errorf("name %q, private, got %v", name, res.GetSensor())
			}
			_, err = s.client(p, b.token).sensors.UpdateSensor(ctx, &sensoctov1.UpdateSensorRequest{SensorId: id, Name: &name})
			return expectCode(err, connect.CodeNotFound) // a private sensor is invisible to others
		})
	s.check(ctx, p, []string{sensoctov1connect.SensorServiceSetRecordingProcedure}, "recording on, then off", func(ctx context.Context) error {
		on, err := c.sensors.SetRecording(ctx, &sensoctov1.SetRecordingRequest{SensorId: id, Enabled: true})
		if err != nil {
			return must("SetRecording on", err)
		}
		off, err := c.sensors.SetRecording(ctx, &sensoctov1.SetRecordingRequest{SensorId: id, Enabled: false})
		if err != nil {
			return must("SetRecording off", err)
		}
		if !on.GetSensor().GetRecording() || off.GetSensor().GetRecording() {
			return fmt.Errorf("recording true then false, got %v then %v", on.GetSensor().GetRecording(), off.GetSensor().GetRecording())
		}
		return nil
	})
	s.check(ctx, p, []string{sensoctov1connect.SensorServiceGetHistoryProcedure}, "the published ECG samples from the recent window", func(ctx context.Context) error {
		res, err := c.sensors.GetHistory(ctx, &sensoctov1.GetHistoryRequest{SensorId: id, AttributeId: "ecg"})
		if err != nil {
			return must("GetHistory", err)
		}
		if res.GetTotalCount() != 64 || len(res.GetPoints()) != 64 || res.GetAttributeType() != "ecg" {
			return fmt.Errorf("64 ecg points, got total %d, %d points, type %q", res.GetTotalCount(), len(res.GetPoints()), res.GetAttributeType())
		}
		if res.GetPoints()[0].GetTimeUs() != start || res.GetPoints()[1].GetTimeUs() != start+4000 {
			return fmt.Errorf("points at %d, %d (250 Hz), got %d, %d", start, start+4000, res.GetPoints()[0].GetTimeUs(), res.GetPoints()[1].GetTimeUs())
		}
		return nil
	})
	s.check(ctx, p, []string{sensoctov1connect.SensorServiceWatchBackpressureProcedure}, "the current back-pressure config as the first message", func(ctx context.Context) error {
		st, err := c.sensors.WatchBackpressure(ctx, &sensoctov1.WatchBackpressureRequest{SensorId: id})
		if err != nil {
			return must("WatchBackpressure", err)
		}
		defer func() { _ = st.Close() }()
		if !st.Receive() {
			return fmt.Errorf("a first message, got the end: %w", st.Err())
		}
		if bp := st.Msg().GetBackpressure(); bp == nil || bp.GetRecommendedBatchWindowMs() == 0 {
			return fmt.Errorf("a config with a window, got %v", bp)
		}
		return nil
	})
	s.check(ctx, p, []string{sensoctov1connect.SensorServiceStreamProcedure}, "a back-pressure config first, then an ack covering the batch sent", func(ctx context.Context) error {
		st, err := c.sensors.Stream(ctx)
		if err != nil {
			return must("Stream", err)
		}
		defer func() { _ = st.CloseRequest(); _ = st.CloseResponse() }()
		if err := st.Send(&sensoctov1.StreamRequest{SensorId: id, Sequence: 7, Blocks: []*sensoctov1.SampleBlock{ecgBlock(start+256_000, 16)}}); err != nil {
			return must("Send", err)
		}
		first, err := st.Receive()
		if err != nil {
			return fmt.Errorf("a first message, got %w", err)
		}
		if first.GetBackpressure() == nil {
			return fmt.Errorf("the first message to be a back-pressure config, got %v", first)
		}
		for {
			m, err := st.Receive()
			if err != nil {
				return fmt.Errorf("an ack with sequence 7, got %w", err)
			}
			if ack := m.GetAck(); ack != nil && ack.GetSequence() >= 7 {
				if ack.GetTotalAccepted() != 16 {
					return fmt.Errorf("total_accepted 16, got %d", ack.GetTotalAccepted())
				}
				return nil
			}
		}
	})
	s.check(ctx, p, []string{sensoctov1connect.SensorServiceWatchProcedure}, "the recent window first (recent=true) with the published data", func(ctx context.Context) error {
		st, err := c.sensors.Watch(ctx, &sensoctov1.WatchRequest{SensorIds: []string{id}})
		if err != nil {
			return must("Watch", err)
		}
		defer func() { _ = st.Close() }()
		if !st.Receive() {
			return fmt.Errorf("a first delivery, got the end: %w", st.Err())
		}
		m := st.Msg()
		if !m.GetRecent() || len(m.GetData()) == 0 || m.GetData()[0].GetSensorId() != id {
			return fmt.Errorf("a recent delivery with data of %s, got %v", id, m)
		}
		return nil
	})
	s.check(ctx, p, []string{sensoctov1connect.SensorServiceDeleteSensorProcedure}, "the sensor gone (GetSensor NotFound, a second delete NotFound)", func(ctx context.Context) error {
		if _, err := c.sensors.DeleteSensor(ctx, &sensoctov1.DeleteSensorRequest{SensorId: id}); err != nil {
			return must("DeleteSensor", err)
		}
		_, err := c.sensors.GetSensor(ctx, &sensoctov1.GetSensorRequest{SensorId: id})
		if e := expectCode(err, connect.CodeNotFound); e != nil {
			return fmt.Errorf("GetSensor after delete: %w", e)
		}
		_, err = c.sensors.DeleteSensor(ctx, &sensoctov1.DeleteSensorRequest{SensorId: id})
		return expectCode(err, connect.CodeNotFound)
	})
}

// listAll calls ListSensors page by page and passes every sensor to f.
func listAll(ctx context.Context, c *api, req *sensoctov1.ListSensorsRequest, f func(*sensoctov1.Sensor)) error {
	for range 1000 {
		res, err := c.sensors.ListSensors(ctx, req)
		if err != nil {
			return must("ListSensors", err)
		}
		for _, sn := range res.GetSensors() {
			f(sn)
		}
		if res.GetNextPageToken() == "" {
			return nil
		}
		req.PageToken = res.GetNextPageToken()
	}
	return errors.New("ListSensors to end within 1000 pages")
}
