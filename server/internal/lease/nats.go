package lease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sensocto/sensocto/server/internal/apperr"
)

// NATSOptions configure a JetStream key-value store of leases.
type NATSOptions struct {
	// JS is the JetStream context of the node's NATS connection.
	JS jetstream.JetStream
	// Bucket is the key-value bucket (created when missing, with TTL as its max age).
	// Every node of a cluster must use the same bucket and TTL.
	Bucket string
	// Node is this node's id, the holder name of its leases.
	Node string
	// TTL is how long a lease lives without renewal (DefaultTTL when 0).
	TTL time.Duration
	// Replicas of the bucket (1 when 0).
	Replicas int
}

// NewNATS returns the store of a node over a JetStream key-value bucket. A key holds
// the holder's node id; its revision is the lease's: create is Create (refused while
// the key has a live value), renewal and release are Update and Delete at the lease's
// revision, so exactly one node holds a name. The bucket's max age is the TTL: a value
// not renewed for TTL expires and the name is free.
func NewNATS(ctx context.Context, o NATSOptions) (*Store, error) {
	if o.JS == nil {
		return nil, apperr.InvalidArgument("js", "a JetStream context is needed")
	}
	if o.Bucket == "" {
		return nil, apperr.InvalidArgument("bucket", "a bucket name is needed")
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < MinTTL || ttl > MaxTTL {
		return nil, apperr.InvalidArgument("ttl", fmt.Sprintf("between %s and %s", MinTTL, MaxTTL))
	}
	replicas := max(o.Replicas, 1)
	kv, err := o.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      o.Bucket,
		Description: "sensocto leases (holder node id per name)",
		History:     1,
		TTL:         ttl,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("lease bucket %s: %w", o.Bucket, err)
	}
	return newStore(&natsBackend{kv: kv}, o.Node, ttl)
}

type natsBackend struct{ kv jetstream.KeyValue }

func (b *natsBackend) create(ctx context.Context, name, holder string) (uint64, error) {
	rev, err := b.kv.Create(ctx, name, []byte(holder))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, ErrHeld
	}
	return rev, err
}

func (b *natsBackend) renew(ctx context.Context, name, holder string, rev uint64) (uint64, error) {
	next, err := b.kv.Update(ctx, name, []byte(holder), rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return 0, errLost
	}
	return next, err
}

func (b *natsBackend) release(ctx context.Context, name string, rev uint64) error {
	err := b.kv.Delete(ctx, name, jetstream.LastRevision(rev))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) || isWrongLast(err) {
		return errLost
	}
	return err
}

// isWrongLast matches the server's "wrong last sequence" refusal of a Delete at a
// revision that is not the key's (Delete does not map it to ErrKeyRevisionMismatch).
func isWrongLast(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

func (b *natsBackend) holder(ctx context.Context, name string) (string, error) {
	e, err := b.kv.Get(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return "", nil
	case err != nil:
		return "", err
	}
	return string(e.Value()), nil
}

// freed watches the key: a delete marker (a release) signals. Expiry leaves no marker;
// Campaign's polling finds it. The watcher's goroutine ends with stop (or ctx).
func (b *natsBackend) freed(ctx context.Context, name string) (<-chan struct{}, func()) {
	wctx, cancel := context.WithCancel(ctx)
	w, err := b.kv.Watch(wctx, name, jetstream.UpdatesOnly())
	if err != nil {
		cancel()
		return nil, func() {} // no watcher: Campaign polls
	}
	ch := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var e jetstream.KeyValueEntry
			var ok bool
			select {
			case <-wctx.Done():
				return
			case e, ok = <-w.Updates():
			}
			if !ok {
				return
			}
			if e != nil && (e.Operation() == jetstream.KeyValueDelete || e.Operation() == jetstream.KeyValuePurge) {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ch, func() {
		cancel()
		<-done
		_ = w.Stop()
	}
}

func (*natsBackend) close() {}
