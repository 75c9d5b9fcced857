package recording

import (
	"context"
	"errors"
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
