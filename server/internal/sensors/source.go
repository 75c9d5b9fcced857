package sensors

import (
	"github.com/google/uuid"
)

// SourceKind is the kind of connector that publishes a sensor.
type SourceKind string

// The source kinds.
const (
	// SourceSimulator: a simulator run (ids start with SimulatedIDPrefix).
	SourceSimulator SourceKind = "simulator"
	// SourceBrowser: the web app's Sense page, which registers its sensors with
	// BrowserSensorType.
	SourceBrowser SourceKind = "browser"
	// SourceAPI: any other connector.
	SourceAPI SourceKind = "api"
)

// BrowserSensorType is the sensor type the web app's Sense page registers with.
const BrowserSensorType = "browser"

// Source says where a sensor's data comes from; with the owner's name it tells apart
// two sensors of the same name.
type Source struct {
	Kind SourceKind
	// For simulated sensors (filled by the SimulatedSources given to
	// SetSimulatedSources): the scenario's id and display name, the id of the run
	// publishing the sensor now (empty while none runs), and whether it is the
	// server's demo run.
	Scenario, ScenarioTitle, RunID string
	Demo                           bool
}

// SimulatedSources describes simulated sensors (the simulator's runs service, which
// is built after this registry and imports it, hence an interface).
type SimulatedSources interface {
	// SimulatedSource describes the simulated sensor id of owner.
	SimulatedSource(sensorID string, owner uuid.UUID) Source
}

type simSources struct{ SimulatedSources }

// SetSimulatedSources sets what describes simulated sensors' sources.
func (s *Service) SetSimulatedSources(r SimulatedSources) { s.sim.Store(&simSources{r}) }

// source describes where the sensor id of owner, of sensorType, gets its data.
func (s *Service) source(id, sensorType string, owner uuid.UUID) Source {
	switch {
	case IsSimulatedID(id):
		if r := s.sim.Load(); r != nil {
			src := r.SimulatedSource(id, owner)
			src.Kind = SourceSimulator
			return src
		}
		return Source{Kind: SourceSimulator}
	case sensorType == BrowserSensorType:
		return Source{Kind: SourceBrowser}
	}
	return Source{Kind: SourceAPI}
}
