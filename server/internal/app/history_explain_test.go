package app_test

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
	"github.com/sensocto/sensocto/server/internal/database/dbtest"
	"github.com/sensocto/sensocto/server/internal/testkit"
)

// exportTable downloads /export/csv of [from, ∞) and returns its header and rows.
func exportTable(t *testing.T, base, token, sensorID, attr string) ([]string, [][]string) {
	t.Helper()
	q := url.Values{"sensor_id": {sensorID}, "attribute_id": {attr}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/export/csv?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	defer func() { _ = res.Body.Close() }()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("export %s/%s: status %d", sensorID, attr, res.StatusCode)
	}
	rows, err := csv.NewReader(res.Body).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("read csv: %d rows, %v", len(rows), err)
	}
	return rows[0], rows[1:]
}

func battery(tm int64, level float64, charging bool) *sensoctov1.Measurement {
	st, _ := structpb.NewStruct(map[string]any{"level": level, "charging": charging})
	return &sensoctov1.Measurement{AttributeId: "battery", TimeUs: tm, Value: &sensoctov1.Measurement_StructValue{StructValue: st}}
}

// TestHistoryAndExportShowRecordedAndRecent: GetHistory says where data exists
// (recorded span, in-memory span, recording or not), and the CSV export holds what
// the page shows — recorded data merged with the in-memory window, each value once —
// with structured values in columns.
func TestHistoryAndExportShowRecordedAndRecent(t *testing.T) {
	t.Parallel()
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			dbURL := dbtest.URL(t, dialect)
			const email = "history@example.com"
			s1 := startStoppable(t, dbURL)
			token := signUp(t, s1.url, email)
			c := sensoctov1connect.NewSensorServiceClient(withToken(h2cClient(), token), s1.url)
			ctx := t.Context()
			const id = "explain-1"
			register(t, c, id)
			if _, err := c.SetRecording(ctx, &sensoctov1.SetRecordingRequest{SensorId: id, Enabled: true}); err != nil {
				t.Fatalf("SetRecording: %v", err)
			}
			base := time.Now().Add(-time.Hour).UnixMicro()
			var hrTimes []int64
			publish := func(c sensoctov1connect.SensorServiceClient, from, n int) {
				t.Helper()
				req := &sensoctov1.PublishRequest{SensorId: id}
				for i := from; i < from+n; i++ {
					tm := base + int64(i)*1_000_000
					hrTimes = append(hrTimes, tm)
					req.Measurements = append(req.Measurements, num("hr", tm, 60+float64(i)), battery(tm, 90-float64(i), i%2 == 0))
				}
				if _, err := c.Publish(ctx, req); err != nil {
					t.Fatalf("Publish: %v", err)
				}
			}
			history := func(c sensoctov1connect.SensorServiceClient, sensorID, attr string) *sensoctov1.GetHistoryResponse {
				t.Helper()
				res, err := c.GetHistory(ctx, &sensoctov1.GetHistoryRequest{SensorId: sensorID, AttributeId: attr})
				if err != nil {
					t.Fatalf("GetHistory %s/%s: %v", sensorID, attr, err)
				}
				return res
			}
			publish(c, 0, 5)
			testkit.WaitFor(t, "the first five values recorded", func() bool {
				return history(c, id, "hr").GetRecorded().GetLastUs() == hrTimes[4]
			})
			s1.stop(t) // the in-memory window is gone; the recorded data stays

			s2 := startStoppable(t, dbURL)
			token = signIn(t, s2.url, email)
			c = sensoctov1connect.NewSensorServiceClient(withToken(h2cClient(), token), s2.url)
			publish(c, 5, 3)
			h := history(c, id, "hr")
			if h.GetRecorded().GetFirstUs() != hrTimes[0] || !h.GetRecording() {
				t.Errorf("history says recorded %v, recording %v; want from %d, recording", h.GetRecorded(), h.GetRecording(), hrTimes[0])
			}
			if h.GetInMemory().GetFirstUs() != hrTimes[5] || h.GetInMemory().GetLastUs() != hrTimes[7] {
				t.Errorf("history says in memory %v, want %d…%d", h.GetInMemory(), hrTimes[5], hrTimes[7])
			}
			if len(h.GetPoints()) != 8 {
				t.Errorf("history has %d points, want 8", len(h.GetPoints()))
			}

			// The export: recorded and in memory, each value once, whether or not the
			// newest ones are written yet.
			header, rows := exportTable(t, s2.url, token, id, "hr")
			if strings.Join(header, ",") != "time_iso8601,time_us,server_time_us,sensor_id,attribute_id,value" {
				t.Errorf("hr export header %q", header)
			}
			var got []int64
			for _, r := range rows {
				tm, _ := strconv.ParseInt(r[1], 10, 64)
				got = append(got, tm)
			}
			if !slices.Equal(got, hrTimes) {
				t.Fatalf("hr export times %v, want %v (recorded then in memory, once each)", got, hrTimes)
			}
			header, rows = exportTable(t, s2.url, token, id, "battery")
			if want := "time_iso8601,time_us,server_time_us,sensor_id,attribute_id,charging,level,other"; strings.Join(header, ",") != want {
				t.Fatalf("battery export header %q, want %q", strings.Join(header, ","), want)
			}
			if len(rows) != 8 {
				t.Fatalf("battery export has %d rows, want 8", len(rows))
			}
			for i, r := range rows {
				if r[5] != strconv.FormatBool(i%2 == 0) || r[6] != strconv.Itoa(90-i) || r[7] != "" {
					t.Errorf("battery row %d = %q, want charging %v, level %d", i, r, i%2 == 0, 90-i)
				}
			}

			// A sensor that is not recorded: only the in-memory window, and the
			// export has it, positions and vectors in columns.
			const live = "explain-2"
			register(t, c, live)
			tm := time.Now().UnixMicro()
			_, err := c.Publish(ctx, &sensoctov1.PublishRequest{SensorId: live, Measurements: []*sensoctov1.Measurement{
				{AttributeId: "geo", TimeUs: tm, Value: &sensoctov1.Measurement_Geo{Geo: &sensoctov1.GeoPosition{Latitude: 52.5, Longitude: 13.4}}},
				{AttributeId: "geo", TimeUs: tm + 1000, Value: &sensoctov1.Measurement_Geo{Geo: &sensoctov1.GeoPosition{Latitude: 52.6, Longitude: 13.5, AltitudeM: new(float64(34))}}},
				{AttributeId: "acc", TimeUs: tm, Value: &sensoctov1.Measurement_Vector3{Vector3: &sensoctov1.Vector3{X: 1, Y: -2, Z: 9.75}}},
			}})
			if err != nil {
				t.Fatalf("Publish: %v", err)
			}
			h = history(c, live, "geo")
			if h.GetRecorded() != nil || h.GetRecording() || h.GetInMemory().GetFirstUs() != tm || h.GetInMemory().GetLastUs() != tm+1000 {
				t.Errorf("unrecorded history says recorded %v, recording %v, in memory %v", h.GetRecorded(), h.GetRecording(), h.GetInMemory())
			}
			header, rows = exportTable(t, s2.url, token, live, "geo")
			if want := "time_iso8601,time_us,server_time_us,sensor_id,attribute_id,latitude,longitude,altitude,accuracy,speed,heading,other"; strings.Join(header, ",") != want {
				t.Fatalf("geo export header %q, want %q", strings.Join(header, ","), want)
			}
			if len(rows) != 2 || rows[0][5] != "52.5" || rows[0][6] != "13.4" || rows[0][7] != "" || rows[1][7] != "34" {
				t.Fatalf("geo export rows %q", rows)
			}
			header, rows = exportTable(t, s2.url, token, live, "acc")
			if len(rows) != 1 || strings.Join(header[5:], ",") != "x,y,z,other" || strings.Join(rows[0][5:], ",") != "1,-2,9.75," {
				t.Fatalf("acc export %q %q", header, rows)
			}
		})
	}
}
