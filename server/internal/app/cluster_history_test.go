package app_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/bus"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// TestClusterHistory: GetHistory on node B answers the same points as on node A, which
// ingests the sensor, including A's in-memory window: all of it for a sensor that does
// not record, the part not recorded yet for one that does (live/history.go). When A is
// gone, B answers from the database without an error.
func TestClusterHistory(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	owner := newParty(t, a.url)
	onB := partyWith(b.url, owner.token)
	unrecorded, recorded := newSensorID("cluster-hist"), newSensorID("cluster-hist-rec")
	owner.registerPublic(t, unrecorded)
	owner.registerPublic(t, recorded)
	if _, err := owner.sensors.SetRecording(t.Context(), &sensoctov1.SetRecordingRequest{SensorId: recorded, Enabled: true}); err != nil {
		t.Fatalf("SetRecording: %v", err)
	}
	// Distinct, increasing times: 300 values stay in A's window (500 per attribute);
	// of 800, the oldest 300 are only in the database.
	const base = int64(1_700_000_000_000_000)
	publishN := func(id string, n int) {
		for i := 0; i < n; i += 100 {
			req := &sensoctov1.PublishRequest{SensorId: id}
			for j := i; j < min(i+100, n); j++ {
				req.Measurements = append(req.Measurements, num("hr", base+int64(j)*1000, float64(j)))
			}
			if _, err := owner.sensors.Publish(t.Context(), req); err != nil {
				t.Fatalf("Publish %s: %v", id, err)
			}
		}
	}
	publishN(unrecorded, 300)
	publishN(recorded, 800)
	testkit.WaitFor(t, "B to see A answer history asks", func() bool {
		return b.app.Bus().Interested(bus.KindHistoryAsk, unrecorded) && b.app.Bus().Interested(bus.KindHistoryAsk, recorded)
	})
	same := func(id string, want int) {
		t.Helper()
		onA := rawHistory(t, owner.sensors, id, "hr", 128)
		if len(onA) != want {
			t.Fatalf("%s on A: %d raw points, want %d", id, len(onA), want)
		}
		if got := rawHistory(t, onB.sensors, id, "hr", 128); !samePoints(got, onA) {
			t.Fatalf("%s raw on B: %d points %v…, on A %d points %v…", id, len(got), head(got), len(onA), head(onA))
		}
		for _, c := range []sensoctov1connect.SensorServiceClient{owner.sensors, onB.sensors} {
			// Downsampled: buckets of the same points, and the same spans.
			res, err := c.GetHistory(t.Context(), &sensoctov1.GetHistoryRequest{SensorId: id, AttributeId: "hr", MaxPoints: 50})
			if err != nil {
				t.Fatalf("GetHistory %s: %v", id, err)
			}
			if !res.GetDownsampled() || res.GetTotalCount() != uint64(want) || len(res.GetPoints()) == 0 {
				t.Fatalf("%s downsampled: %d points of %d, downsampled %v", id, len(res.GetPoints()), res.GetTotalCount(), res.GetDownsampled())
			}
			if res.GetInMemory().GetLastUs() != base+int64(want-1)*1000 {
				t.Fatalf("%s: in_memory span %v, want it to end at the last value", id, res.GetInMemory())
			}
		}
	}
	same(unrecorded, 300)
	// The recorded sensor: its oldest 300 values are in the database once flushed.
	testkit.WaitFor(t, "the recorded sensor's oldest values in the database", func() bool {
		res, err := onB.sensors.GetHistory(t.Context(), &sensoctov1.GetHistoryRequest{SensorId: recorded, AttributeId: "hr"})
		return err == nil && res.GetRecorded().GetFirstUs() == base && res.GetRecorded().GetLastUs() >= base+299*1000
	})
	same(recorded, 800)
	asked := metric(t, b.url, "sensocto_live_history_asked_total")
	if asked == 0 {
		t.Fatal("sensocto_live_history_asked_total on B = 0")
	}
	testkit.WaitFor(t, "A to count the asks it served", func() bool { return metric(t, a.url, "sensocto_live_history_served_total") == asked })
	if v := metric(t, b.url, "sensocto_live_history_unanswered_total"); v != 0 {
		t.Fatalf("sensocto_live_history_unanswered_total on B = %v, want 0", v)
	}

	// A gone: B answers what the database has, at once and without an error.
	if err := a.app.Bus().Close(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "B to forget A's interest", func() bool { return !b.app.Bus().Interested(bus.KindHistoryAsk, recorded) })
	if got := rawHistory(t, onB.sensors, unrecorded, "hr", 128); len(got) != 0 {
		t.Fatalf("unrecorded sensor on B with A gone: %d points, want none (B never held them)", len(got))
	}
	if got := rawHistory(t, onB.sensors, recorded, "hr", 1000); len(got) < 300 {
		t.Fatalf("recorded sensor on B with A gone: %d points, want at least the 300 recorded", len(got))
	}
}

func samePoints(a, b []*sensoctov1.HistoryPoint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func head(ps []*sensoctov1.HistoryPoint) []*sensoctov1.HistoryPoint { return ps[:min(3, len(ps))] }
