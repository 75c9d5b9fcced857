package sensors

import "strings"

// SimulatedIDPrefix starts the ids of the simulator's sensors (package
// simulator/runs registers them through Register as their owner). External
// connectors may not use it (IsSimulatedID), so nobody can claim a simulated
// sensor's id before its run starts.
const SimulatedIDPrefix = "sim."

// IsSimulatedID reports whether id is in the simulator's namespace.
func IsSimulatedID(id string) bool { return strings.HasPrefix(id, SimulatedIDPrefix) }
