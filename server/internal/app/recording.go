package app

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/sensocto/sensocto/server/internal/authz"
	"github.com/sensocto/sensocto/server/internal/exporthttp"
	"github.com/sensocto/sensocto/server/internal/recording"
	"github.com/sensocto/sensocto/server/internal/sensors"
	"github.com/sensocto/sensocto/server/internal/system"
)

// recordingStartTimeout bounds the start-up work of recording (creating the
// measurement store, loading which sensors record).
const recordingStartTimeout = time.Minute

// recorder is the wiring of recording: the one Recorder of the app, its writer loop
// and the reload of recording sensors. It is stopped by App.Close after every other
// background loop (nothing is ingested any more) and before the database closes, so
// the queue is flushed on the way out.
type recorder struct {
	log  zerolog.Logger
	rec  *recording.Recorder
	stop context.CancelFunc
	done sync.WaitGroup
}

// newRecorder creates the recorder, ensures the measurement store, plugs the
// recorder into the sensors domain (ingest, history, SetRecording, delete) with the
// set of recording sensors loaded, and starts its loops.
func (a *App) newRecorder(sensorsSvc *sensors.Service, reg prometheus.Registerer) (*recorder, error) {
	w := &recorder{log: a.logger.With().Str("domain", "recording").Logger()}
	rec, err := recording.New(a.db, recording.Options{
		Logger:     w.log,
		Registerer: reg,
		QueueBound: a.cfg.RecordingQueueBound,
	})
	if err != nil {
		return nil, fmt.Errorf("build recording: %w", err)
	}
	w.rec = rec
	ctx, cancel := context.WithTimeout(context.Background(), recordingStartTimeout)
	defer cancel()
	if err := rec.EnsureSchema(ctx); err != nil {
		return nil, fmt.Errorf("start recording: %w", err)
	}
	sensorsSvc.UseRecorder(rec)
	if err := sensorsSvc.LoadRecording(ctx); err != nil {
		return nil, fmt.Errorf("start recording: %w", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	w.stop = stop
	w.done.Go(func() {
		if err := rec.Run(runCtx); err != nil {
			w.log.Error().Err(err).Msg("recording stopped with samples unwritten")
		}
	})
	w.done.Go(func() {
		if err := sensorsSvc.RunRecording(runCtx); err != nil {
			w.log.Error().Err(err).Msg("recording sensors reload stopped")
		}
	})
	return w, nil
}

// exportHandler serves exporthttp.ExportPath for callers who may see the sensor
// (credential resolved by auth.Middleware, like the API).
func (w *recorder) exportHandler(sensorsSvc *sensors.Service) http.Handler {
	return exporthttp.NewExportHandler(sensorsSvc, func(r *http.Request, sensorID string) error {
		v, err := authz.RequireViewer(r.Context())
		if err != nil {
			return err
		}
		return sensorsSvc.CheckExport(r.Context(), v, sensorID)
	}, w.log)
}

// status reports the recorder's queue and counts for SystemService.
func (w *recorder) status() system.Recording {
	st := w.rec.Stats()
	return system.Recording{
		QueuedSamples:     uint64(max(st.Queued, 0)),
		QueueBoundSamples: uint64(max(st.QueueBound, 0)),
		WrittenSamples:    st.Written,
		DroppedSamples:    st.Dropped,
		WriteRetries:      st.Retries,
		Retrying:          st.Retrying,
		LastError:         st.LastError,
		LastFlushAt:       st.LastWrite,
		LastFlushLag:      st.LastLag,
		OldestQueuedAge:   st.OldestQueuedAge,
	}
}

// close stops the loops; the writer flushes what is queued first (within the
// recorder's shutdown timeout). Safe on nil and to call twice.
func (w *recorder) close() {
	if w == nil || w.stop == nil {
		return
	}
	w.stop()
	w.done.Wait()
}
