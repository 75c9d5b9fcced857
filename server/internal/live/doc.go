// Package live owns the use cases of the live path, composed of the real-time core's
// parts (hub: live data; attention: the tracker; backpressure: connector configs;
// loadmon: the load; sensors: the registry and its rules):
//
//   - the connector session (Register, Publish, RunConnector, RunBackpressureWatch):
//     register → ingest → back-pressure config pushes and coalesced acks;
//   - the watch session (RunWatch): subscribe in the hub, deliver at the window of the
//     watcher's own attention, follow the viewer's access sensor by sensor, end;
//   - attention (ReportAttention, Attention, RunAttentionWatch) and the bridge loop
//     (Run) that turns attention and load changes into back-pressure configs, ring
//     retention and ATTENTION events for watchers;
//   - what of this must cross nodes, published on the bus (package bus) only while
//     another node is interested: sensor events, attention changes and back-pressure
//     configs (remote.go).
//
// Handlers (sensorsrpc, attentionrpc) convert protobuf to the types used here and back
// and give each session its transport as a small interface (ConnectorConn, WatchConn,
// send functions); they make no decision of their own. The credential of a stream is
// re-validated by the stream's guard (authz.StreamGuard, installed for every stream by
// auth's interceptor): a session here runs with the guard's context and asks the guard
// only which sensors its viewer may still see. Package app builds the parts, calls New
// and runs Run.
package live
