package sensors

import (
	"context"
	"fmt"
	"time"

	"github.com/sensocto/sensocto/ent"
	"github.com/sensocto/sensocto/ent/sensorattribute"
	"github.com/sensocto/sensocto/server/internal/hub"
)

// OnAttributes takes attributes the hub registered from data (hub.Options
// OnAttributes) and queues them for the next batched write. It never blocks on I/O.
// The queue is bounded by hub.MaxAttributesPerSensor per live sensor.
func (s *Service) OnAttributes(sensorID string, attrs []hub.AttributeSpec) {
	s.inferredMu.Lock()
	m := s.inferred[sensorID]
	if m == nil {
		m = make(map[string]hub.AttributeSpec, len(attrs))
		s.inferred[sensorID] = m
	}
	for _, a := range attrs {
		m[a.ID] = a
	}
	s.inferredMu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run writes queued inferred attributes in batches until ctx ends, at most once per
// FlushInterval, and a last time on the way out. The caller owns the goroutine.
func (s *Service) Run(ctx context.Context) error {
	timer := time.NewTimer(s.interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			err := s.FlushAttributes(flushCtx)
			cancel()
			return err
		case <-s.kick:
		}
		if err := s.FlushAttributes(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn().Err(err).Msg("persist inferred attributes; retrying")
		}
		timer.Reset(s.interval)
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
	}
}

// FlushAttributes writes the queued inferred attributes in one transaction (a
// declared attribute of the same id wins). On error they stay queued.
func (s *Service) FlushAttributes(ctx context.Context) error {
	s.inferredMu.Lock()
	batch := s.inferred
	s.inferred = make(map[string]map[string]hub.AttributeSpec)
	s.inferredMu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	creates := make([]*ent.SensorAttributeCreate, 0, len(batch))
	for id, attrs := range batch {
		s.mu.RLock()
		_, known := s.cache[id]
		s.mu.RUnlock()
		if !known {
			continue // deleted meanwhile
		}
		for _, a := range attrs {
			c := s.db.SensorAttribute.Create().SetSensorID(id).SetAttributeID(a.ID).SetAttributeType(a.Type).SetUnit(a.Unit)
			if a.SampleRateHz > 0 {
				c.SetSampleRateHz(a.SampleRateHz)
			}
			creates = append(creates, c)
		}
	}
	if len(creates) == 0 {
		return nil
	}
	err := s.db.SensorAttribute.CreateBulk(creates...).
		OnConflictColumns(sensorattribute.FieldSensorID, sensorattribute.FieldAttributeID).
		DoNothing().Exec(ctx)
	if err != nil {
		s.requeue(batch)
		return fmt.Errorf("save %d inferred attributes: %w", len(creates), err)
	}
	s.written.Add(uint64(len(creates)))
	return nil
}

func (s *Service) requeue(batch map[string]map[string]hub.AttributeSpec) {
	s.inferredMu.Lock()
	defer s.inferredMu.Unlock()
	for id, attrs := range batch {
		m := s.inferred[id]
		if m == nil {
			s.inferred[id] = attrs
			continue
		}
		for k, a := range attrs {
			if _, ok := m[k]; !ok {
				m[k] = a
			}
		}
	}
}
