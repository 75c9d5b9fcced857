package app_test

import (
	"net/http"
	"testing"
	"time"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// TestRecordingStatus shows the recorder's counts in SystemService: written samples
// move as recorded data is written, and samples beyond the queue bound appear as
// dropped (a block larger than the whole bound can never be queued, so its samples
// are dropped at once, whatever the database's speed).
func TestRecordingStatus(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			const bound = 100
			srv := startServer(t, dialect, map[string]string{"SENSOCTO_RECORDING_QUEUE_BOUND": "100"})
			token := signInGuest(t, srv.url)
			sc := sensoctov1connect.NewSensorServiceClient(withToken(http.DefaultClient, token), srv.url)
			sys := sensoctov1connect.NewSystemServiceClient(withToken(http.DefaultClient, token), srv.url)
			status := func() *sensoctov1.RecordingStatus {
				t.Helper()
				res, err := sys.GetStatus(t.Context(), &sensoctov1.GetStatusRequest{})
				if err != nil {
					t.Fatalf("GetStatus: %v", err)
				}
				if res.GetStatus().GetRecording() == nil {
					t.Fatal("GetStatus has no recording status")
				}
				return res.GetStatus().GetRecording()
			}
			if st := status(); st.GetQueueBoundSamples() != bound || st.GetWrittenSamples() != 0 || st.GetDroppedSamples() != 0 ||
				st.GetRetrying() || st.GetLastFlushAt() != nil {
				t.Fatalf("at start: %v", st)
			}

			id := newSensorID("recstat")
			register(t, sc, id,
				&sensoctov1.Attribute{AttributeId: "hr", AttributeType: "heartrate"},
				&sensoctov1.Attribute{AttributeId: "ecg", AttributeType: "ecg", SampleRateHz: 250})
			if _, err := sc.SetRecording(t.Context(), &sensoctov1.SetRecordingRequest{SensorId: id, Enabled: true}); err != nil {
				t.Fatal(err)
			}
			base := time.Now().UnixMicro()
			publishValues := func(from int) {
				t.Helper()
				var ms []*sensoctov1.Measurement
				for i := from; i < from+10; i++ {
					ms = append(ms, num("hr", base+int64(i)*1000, 60+float64(i)))
				}
				if _, err := sc.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Measurements: ms}); err != nil {
					t.Fatal(err)
				}
			}
			waitStatus := func(what string, cond func(*sensoctov1.RecordingStatus) bool) *sensoctov1.RecordingStatus {
				t.Helper()
				var st *sensoctov1.RecordingStatus
				testkit.WaitFor(t, what, func() bool { st = status(); return cond(st) })
				return st
			}

			publishValues(0)
			st := waitStatus("10 written", func(st *sensoctov1.RecordingStatus) bool { return st.GetWrittenSamples() >= 10 })
			if st.GetWrittenSamples() != 10 || st.GetDroppedSamples() != 0 || st.GetQueuedSamples() != 0 ||
				st.GetLastFlushAt() == nil || st.GetRetrying() || st.GetLastError() != "" || st.GetLastFlushLagMs() < 0 {
				t.Fatalf("after 10 values: %v", st)
			}

			big := &sensoctov1.SampleBlock{AttributeId: "ecg", StartTimeUs: base, SampleRateHz: 250, Samples: make([]float32, 3*bound)}
			if _, err := sc.Publish(t.Context(), &sensoctov1.PublishRequest{SensorId: id, Blocks: []*sensoctov1.SampleBlock{big}}); err != nil {
				t.Fatal(err)
			}
			st = waitStatus("drops", func(st *sensoctov1.RecordingStatus) bool { return st.GetDroppedSamples() > 0 })
			if st.GetDroppedSamples() != 3*bound || st.GetWrittenSamples() != 10 {
				t.Fatalf("after a block of %d samples over a bound of %d: %v", 3*bound, bound, st)
			}

			publishValues(10)
			st = waitStatus("20 written", func(st *sensoctov1.RecordingStatus) bool { return st.GetWrittenSamples() >= 20 })
			if st.GetWrittenSamples() != 20 || st.GetDroppedSamples() != 3*bound || st.GetQueuedSamples() != 0 {
				t.Fatalf("after 10 more values: %v", st)
			}
		})
	}
}
