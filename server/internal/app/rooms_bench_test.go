package app_test

import (
	"context"
	"net/http"
	"runtime"
	"slices"
	"testing"
	"time"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
)

// roomDelivery is one WatchRoom message as a benchmark watcher saw it.
type roomDelivery struct {
	at time.Time
	ev *sensoctov1.WatchRoomResponse
}

// BenchmarkWatchRoom100 measures WatchRoom with 100 members (the owner and 99 guests)
// each holding a WatchRoom of one room: how long a change takes from the start of the
// call that makes it until each of the 100 streams has it, for presence changes (a
// member opens, then closes, a second tab in another view) and sensor changes (the
// owner adds, then removes, a sensor), as p50 and p99 over all deliveries; and the
// heap and goroutines per open WatchRoom, client and server in this one process (an
// upper bound of the server's share). Each iteration makes 4 changes:
//
//	go test -run '^$' -bench WatchRoom100 -benchtime 25x ./server/internal/app/
func BenchmarkWatchRoom100(b *testing.B) {
	const members = 100
	url, token := benchServer(b, map[string]string{"SENSOCTO_AUTH_RATE_LIMIT": "1000000"})
	ctx := b.Context()
	client := func(tok string) sensoctov1connect.RoomServiceClient {
		return sensoctov1connect.NewRoomServiceClient(withToken(h2cClient(), tok), url)
	}
	auth := sensoctov1connect.NewAuthServiceClient(http.DefaultClient, url)
	owner := client(token)
	created, err := owner.CreateRoom(ctx, &sensoctov1.CreateRoomRequest{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	room := created.GetRoom()
	clients := []sensoctov1connect.RoomServiceClient{owner}
	var firstID string
	for i := 1; i < members; i++ {
		g, err := auth.SignInGuest(ctx, &sensoctov1.SignInGuestRequest{})
		if err != nil {
			b.Fatal(err)
		}
		c := client(g.GetToken())
		if _, err := c.JoinRoom(ctx, &sensoctov1.JoinRoomRequest{JoinCode: room.GetJoinCode()}); err != nil {
			b.Fatal(err)
		}
		if i == 1 {
			firstID = g.GetUser().GetUserId()
		}
		clients = append(clients, c)
	}
	sensorID := newSensorID("room-bench")
	if _, err := sensoctov1connect.NewSensorServiceClient(withToken(h2cClient(), token), url).RegisterSensor(ctx, &sensoctov1.RegisterSensorRequest{SensorId: sensorID}); err != nil {
		b.Fatal(err)
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	deliveries := make(chan roomDelivery, 64*members)
	for i, c := range clients {
		st, err := c.WatchRoom(wctx, &sensoctov1.WatchRoomRequest{RoomId: room.GetRoomId(), View: "sensors"})
		if err != nil {
			b.Fatal(err)
		}
		if !st.Receive() {
			b.Fatalf("watcher %d: %v", i, st.Err())
		}
		go func() {
			defer func() { _ = st.Close() }()
			for st.Receive() {
				deliveries <- roomDelivery{at: time.Now(), ev: st.Msg()}
			}
		}()
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	heapPerWatch := float64(after.HeapAlloc-before.HeapAlloc) / members / 1024
	goroutinesPerWatch := float64(runtime.NumGoroutine()-goroutines) / members

	// await collects the time from start until each watcher had an event matching ok.
	var presence, sensors []time.Duration
	await := func(start time.Time, into *[]time.Duration, ok func(*sensoctov1.WatchRoomResponse) bool) {
		for n := 0; n < members; {
			select {
			case d := <-deliveries:
				if ok(d.ev) {
					*into = append(*into, d.at.Sub(start))
					n++
				}
			case <-time.After(30 * time.Second):
				b.Fatalf("only %d of %d watchers had the change", n, members)
			}
		}
	}
	firstViews := func(ev *sensoctov1.WatchRoomResponse) ([]string, bool) {
		if ev.GetKind() != sensoctov1.RoomEventKind_ROOM_EVENT_KIND_PRESENCE {
			return nil, false
		}
		m := memberIn(ev, firstID)
		return m.GetViews(), m != nil
	}
	b.ResetTimer()
	for range b.N {
		tctx, stop := context.WithCancel(wctx)
		start := time.Now()
		st, err := clients[1].WatchRoom(tctx, &sensoctov1.WatchRoomRequest{RoomId: room.GetRoomId(), View: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		await(start, &presence, func(ev *sensoctov1.WatchRoomResponse) bool {
			v, ok := firstViews(ev)
			return ok && slices.Contains(v, "bench")
		})
		start = time.Now()
		stop()
		_ = st.Close()
		await(start, &presence, func(ev *sensoctov1.WatchRoomResponse) bool {
			v, ok := firstViews(ev)
			return ok && !slices.Contains(v, "bench")
		})
		start = time.Now()
		if _, err := owner.AddRoomSensor(ctx, &sensoctov1.AddRoomSensorRequest{RoomId: room.GetRoomId(), SensorId: sensorID}); err != nil {
			b.Fatal(err)
		}
		await(start, &sensors, func(ev *sensoctov1.WatchRoomResponse) bool {
			return ev.GetKind() == sensoctov1.RoomEventKind_ROOM_EVENT_KIND_SENSORS && len(ev.GetSensors()) == 1
		})
		start = time.Now()
		if _, err := owner.RemoveRoomSensor(ctx, &sensoctov1.RemoveRoomSensorRequest{RoomId: room.GetRoomId(), SensorId: sensorID}); err != nil {
			b.Fatal(err)
		}
		await(start, &sensors, func(ev *sensoctov1.WatchRoomResponse) bool {
			return ev.GetKind() == sensoctov1.RoomEventKind_ROOM_EVENT_KIND_SENSORS && len(ev.GetRemovedSensorIds()) == 1
		})
	}
	b.StopTimer()
	b.ReportMetric(heapPerWatch, "heap-KiB/watch") // reported after ResetTimer, which clears metrics
	b.ReportMetric(goroutinesPerWatch, "goroutines/watch")
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"presence", presence}, {"sensors", sensors}} {
		slices.Sort(m.d)
		b.ReportMetric(float64(m.d[len(m.d)/2].Microseconds())/1000, m.name+"-p50-ms")
		b.ReportMetric(float64(m.d[len(m.d)*99/100].Microseconds())/1000, m.name+"-p99-ms")
	}
}
