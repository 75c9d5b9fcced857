//go:build cluster

package cluster_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// recordedRows are what the recording tables hold of some sensors: one row per
// number pack, block, or (rows of before packing) value, as a time span.
type recordedRow struct {
	sensor, attr string
	start, end   int64
	count        int64
}

// recordedOf reads the recorded rows of the sensors, in time order per series.
func recordedOf(t *testing.T, db *sql.DB, ids ...string) []recordedRow {
	t.Helper()
	q := `SELECT sensor_id, attribute_id, start_time_us, end_time_us, count FROM measurement_packs WHERE sensor_id = ANY($1)
	UNION ALL SELECT sensor_id, attribute_id, start_time_us, COALESCE(end_time_us, start_time_us), count FROM measurement_blocks WHERE sensor_id = ANY($1)
	UNION ALL SELECT sensor_id, attribute_id, time_us, time_us, 1 FROM measurements WHERE sensor_id = ANY($1)
	ORDER BY 1, 2, 3, 4`
	rows, err := db.QueryContext(t.Context(), q, ids)
	if err != nil {
		t.Fatalf("read the recording tables: %v", err)
	}
	defer rows.Close()
	var out []recordedRow
	for rows.Next() {
		var r recordedRow
		if err := rows.Scan(&r.sensor, &r.attr, &r.start, &r.end, &r.count); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkRecordedOnce fails when two recorded rows of a series overlap in time (a value
// recorded twice: by two nodes, or twice by one), and returns the largest gap between
// consecutive rows of a series and where it is.
func checkRecordedOnce(t *testing.T, rows []recordedRow) (gapUS int64, where string) {
	t.Helper()
	for i := 1; i < len(rows); i++ {
		p, r := rows[i-1], rows[i]
		if p.sensor != r.sensor || p.attr != r.attr {
			continue
		}
		if r.start <= p.end {
			t.Fatalf("%s/%s recorded twice: rows [%d, %d] (%d values) and [%d, %d] (%d values) overlap",
				r.sensor, r.attr, p.start, p.end, p.count, r.start, r.end, r.count)
		}
		if g := r.start - p.end; g > gapUS {
			gapUS, where = g, fmt.Sprintf("%s/%s after %d", r.sensor, r.attr, p.end)
		}
	}
	return gapUS, where
}

// takeoverGaps returns, per series, the time between the last value recorded before
// at and the first recorded after it.
func takeoverGaps(rows []recordedRow, at int64) map[string]time.Duration {
	out := map[string]time.Duration{}
	for i := 1; i < len(rows); i++ {
		p, r := rows[i-1], rows[i]
		if p.sensor == r.sensor && p.attr == r.attr && p.start <= at && r.start > at {
			out[r.sensor+"/"+r.attr] = time.Duration(r.start-p.end) * time.Microsecond
		}
	}
	return out
}

// historyAcrossNodes: a recorded sensor ingested on node 1 and watched on nodes 2 and
// 3 is recorded once (only the ingesting node records), and GetHistory answers the same
// points on the three nodes; so does it for a sensor that does not record (node 1's
// in-memory window, asked for over the bus: live/history.go).
func historyAcrossNodes(t *testing.T, nodes []*node, db *sql.DB) {
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	owner := guest(t, n1)
	rec, unrec := "three-node-rec-"+owner.userID[:8], "three-node-unrec-"+owner.userID[:8]
	for _, id := range []string{rec, unrec} {
		if _, err := owner.sensors.RegisterSensor(t.Context(), &sensoctov1.RegisterSensorRequest{
			SensorId: id, Visibility: sensoctov1.Visibility_VISIBILITY_PUBLIC,
			Attributes: []*sensoctov1.Attribute{{AttributeId: "hr", AttributeType: "heartrate"}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := owner.sensors.SetRecording(t.Context(), &sensoctov1.SetRecordingRequest{SensorId: rec, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	// Watches on 2 and 3: their hubs get every batch too (and must not record it).
	var watches []*stream[sensoctov1.WatchResponse]
	for _, nd := range []*node{n2, n3} {
		v := guest(t, nd)
		watches = append(watches, open(t, func(ctx context.Context) (*connect.ServerStreamForClient[sensoctov1.WatchResponse], error) {
			return v.sensors.Watch(ctx, &sensoctov1.WatchRequest{SensorIds: []string{rec}, SkipRecent: true})
		}))
	}
	const base = int64(1_700_000_000_000_000)
	next := 0
	publish := func(id string, n int) {
		t.Helper()
		req := &sensoctov1.PublishRequest{SensorId: id}
		for range n {
			req.Measurements = append(req.Measurements, &sensoctov1.Measurement{AttributeId: "hr", TimeUs: base + int64(next)*1000,
				Value: &sensoctov1.Measurement_Number{Number: float64(next)}})
			next++
		}
		if _, err := owner.sensors.Publish(t.Context(), req); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	// Publish until both watches receive data (nodes 2 and 3 hold the sensor in their
	// hubs), then more: 700 values, of which the oldest are only recorded.
	seen := make([]bool, len(watches))
	testkit.WaitFor(t, "data of node 1 at the watches on 2 and 3", func() bool {
		publish(rec, 1)
		for i, w := range watches {
			for drained := false; !drained; {
				select {
				case res := <-w.ch:
					seen[i] = seen[i] || len(res.GetData()) > 0
				default:
					drained = true
				}
			}
		}
		return seen[0] && seen[1]
	})
	for next < 700 {
		publish(rec, min(100, 700-next))
	}
	total := next
	testkit.WaitFor(t, fmt.Sprintf("the %d values recorded", total), func() bool {
		var n int64
		for _, r := range recordedOf(t, db, rec) {
			n += r.count
		}
		if n > int64(total) {
			t.Fatalf("%d values recorded of %d published", n, total)
		}
		return n == int64(total)
	})
	checkRecordedOnce(t, recordedOf(t, db, rec))
	next = 0
	for next < 300 {
		publish(unrec, 100)
	}
	for _, c := range []struct {
		id   string
		want int
	}{{rec, total}, {unrec, 300}} {
		onN1 := rawHistory(t, owner.sensors, c.id)
		if len(onN1) != c.want {
			t.Fatalf("%s on n1: %d points, want %d", c.id, len(onN1), c.want)
		}
		for _, nd := range []*node{n2, n3} {
			got := rawHistory(t, owner.on(nd).sensors, c.id)
			if len(got) != len(onN1) {
				t.Fatalf("%s on %s: %d points, on n1 %d", c.id, nd.id, len(got), len(onN1))
			}
			for i := range got {
				if !proto.Equal(got[i], onN1[i]) {
					t.Fatalf("%s on %s: point %d is %v, on n1 %v", c.id, nd.id, i, got[i], onN1[i])
				}
			}
		}
	}
}

// rawHistory pages through an attribute's raw history.
func rawHistory(t *testing.T, c sensoctov1connect.SensorServiceClient, id string) []*sensoctov1.HistoryPoint {
	t.Helper()
	var out []*sensoctov1.HistoryPoint
	req := &sensoctov1.GetHistoryRequest{SensorId: id, AttributeId: "hr", Raw: true, MaxPoints: 256}
	for range 1000 {
		res, err := c.GetHistory(t.Context(), req)
		if err != nil {
			t.Fatalf("GetHistory %s: %v", id, err)
		}
		out = append(out, res.GetPoints()...)
		if res.GetNextPageToken() == "" {
			return out
		}
		req = &sensoctov1.GetHistoryRequest{SensorId: id, AttributeId: "hr", MaxPoints: 256, PageToken: res.GetNextPageToken()}
	}
	t.Fatal("raw paging does not end")
	return nil
}
