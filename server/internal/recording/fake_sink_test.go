package recording

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// failingSink refuses every write.
type failingSink struct{}

var errDown = errors.New("store down")

func (failingSink) ensure(context.Context, time.Time) error        { return errDown }
func (failingSink) write(context.Context, *batch, time.Time) error { return errDown }
func (failingSink) deleteBefore(context.Context, string, int64) (int64, error) {
	return 0, errDown
}
func (failingSink) dropBefore(context.Context, int64) ([]string, error) { return nil, errDown }

// flakySink fails while down is set and otherwise passes through.
type flakySink struct {
	inner sink
	down  atomic.Bool
}

func (f *flakySink) ensure(ctx context.Context, now time.Time) error {
	if f.down.Load() {
		return errDown
	}
	return f.inner.ensure(ctx, now)
}

func (f *flakySink) write(ctx context.Context, b *batch, now time.Time) error {
	if f.down.Load() {
		return errDown
	}
	return f.inner.write(ctx, b, now)
}

func (f *flakySink) deleteBefore(ctx context.Context, id string, cutoff int64) (int64, error) {
	return f.inner.deleteBefore(ctx, id, cutoff)
}

func (f *flakySink) dropBefore(ctx context.Context, cutoff int64) ([]string, error) {
	return f.inner.dropBefore(ctx, cutoff)
}
