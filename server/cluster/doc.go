// Package cluster holds the three-node test (cluster_test.go, build tag cluster): three
// real `sensocto serve` processes over one PostgreSQL and one NATS with JetStream. Run
// it with `go tool task test:cluster`; `go tool task test` runs it when
// SENSOCTO_TEST_NATS_URL is set.
package cluster
