package app_test

import (
	"context"
	"net/http"
	"testing"

	"connectrpc.com/connect"

	sensoctov1 "github.com/sensocto/sensocto/gen/sensocto/v1"
	"github.com/sensocto/sensocto/gen/sensocto/v1/sensoctov1connect"
)

// TestIdleStreamEndedByServer checks that a connector session that sends nothing more
// (its request side left open) still ends when the server ends it: with unauthenticated
// once its credential is revoked, and with not_found once its sensor is deleted. A
// session waits on its one goroutine in Receive; the server wakes it by closing the
// request's body (live.ConnectorConn.Abort), over Connect and over gRPC.
func TestIdleStreamEndedByServer(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "sqlite", nil)
	for _, protocol := range []string{"connect", "grpc"} {
		for _, how := range []string{"SignOut", "DeleteSensor"} {
			t.Run(protocol+"/"+how, func(t *testing.T) {
				t.Parallel()
				token := signInGuest(t, srv.url)
				c := rtProtocols(srv.url, token)[protocol]
				id := newSensorID("idle-" + how)
				register(t, c.sensors, id, &sensoctov1.Attribute{AttributeId: "hr", AttributeType: "heartrate"})
				ctx, cancel := context.WithTimeout(t.Context(), testDeadline)
				defer cancel()
				st, err := c.sensors.Stream(ctx)
				if err != nil {
					t.Fatalf("Stream: %v", err)
				}
				defer func() { _ = st.CloseResponse() }()
				if err := st.Send(&sensoctov1.StreamRequest{SensorId: id, Sequence: 1, Measurements: []*sensoctov1.Measurement{num("hr", 0, 60)}}); err != nil {
					t.Fatalf("send: %v", err)
				}
				for { // the config, then the ack of batch 1
					res, err := st.Receive()
					if err != nil {
						t.Fatalf("Stream: %v", err)
					}
					if res.GetAck().GetSequence() == 1 {
						break
					}
				}
				want := connect.CodeNotFound
				switch how {
				case "SignOut":
					want = connect.CodeUnauthenticated
					if _, err := sensoctov1connect.NewAuthServiceClient(withToken(http.DefaultClient, token), srv.url).
						SignOut(ctx, &sensoctov1.SignOutRequest{}); err != nil {
						t.Fatalf("SignOut: %v", err)
					}
				case "DeleteSensor":
					if _, err := c.sensors.DeleteSensor(ctx, &sensoctov1.DeleteSensorRequest{SensorId: id}); err != nil {
						t.Fatalf("DeleteSensor: %v", err)
					}
				}
				for { // nothing is sent: only the server can end the session
					if _, err := st.Receive(); err != nil {
						if connect.CodeOf(err) != want {
							t.Fatalf("idle Stream after %s ended with %v, want %v", how, err, want)
						}
						return
					}
				}
			})
		}
	}
}
