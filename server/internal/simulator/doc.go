// Package simulator owns simulator runs: the embedded library of built-in
// scenario files, and the run engine that drives one goroutine per simulated
// sensor, generating values up to the run clock's time with package generate
// and publishing them in batches through a Publisher while obeying the
// sensor's latest back-pressure Config (batch window, batch size, pause).
//
// The engine knows nothing of the hub or the wire: the wiring (package app)
// supplies a Publisher that registers the sensors and ingests the batches
// under the identity of the user who started the run.
package simulator
