package auth

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensocto/sensocto/server/internal/apperr"
	"github.com/sensocto/sensocto/server/internal/authz"
)

// Defaults of StreamLimits.
const (
	DefaultStreamsPerUser = 500
	DefaultStreamsPerIP   = 2000
	// streamRetryAfter is the retry hint of a refused stream.
	streamRetryAfter = 10 * time.Second
)

// StreamLimits bounds the streams (server, client and bidirectional) open at once.
type StreamLimits struct {
	// PerUser is the most streams one user may hold open, over all its credentials
	// (0: DefaultStreamsPerUser).
	PerUser int
	// PerIP is the most streams one client IP may hold open, signed in or not
	// (0: DefaultStreamsPerIP).
	PerIP int
	// Protecting, when set and true, refuses every new stream: the server is short of
	// memory (the load monitor's memory protection). Open streams are not touched.
	Protecting func() bool
}

// StreamLimiter counts the open streams per user and per client IP and refuses a new
// one beyond its limits, or while memory protection is on, with ResourceExhausted and a
// retry delay. It is a Connect interceptor wrapping every streaming handler, so every
// stream kind present and future is counted; a stream is released when its handler
// returns. Safe for concurrent use.
type StreamLimiter struct {
	o StreamLimits

	mu     sync.Mutex
	byUser map[uuid.UUID]int
	byIP   map[netip.Addr]int
	open   int
	// refused counts refusals by reason: user, ip, memory.
	refused map[string]uint64
}

// NewStreamLimiter returns a limiter with the limits o.
func NewStreamLimiter(o StreamLimits) *StreamLimiter {
	if o.PerUser <= 0 {
		o.PerUser = DefaultStreamsPerUser
	}
	if o.PerIP <= 0 {
		o.PerIP = DefaultStreamsPerIP
	}
	return &StreamLimiter{o: o, byUser: make(map[uuid.UUID]int), byIP: make(map[netip.Addr]int), refused: make(map[string]uint64)}
}

// Acquire counts a new stream of the caller in ctx (its Viewer, if any, and client IP),
// or refuses it. Call release exactly once when the stream ends.
func (l *StreamLimiter) Acquire(ctx context.Context) (release func(), err error) {
	v, signedIn := authz.ViewerFrom(ctx)
	ip := authz.ClientIPFrom(ctx)
	protecting := l.o.Protecting != nil && l.o.Protecting()
	l.mu.Lock()
	defer l.mu.Unlock()
	if protecting {
		l.refused["memory"]++
		return nil, apperr.ResourceExhausted(streamRetryAfter, "the server is short of memory and opens no new streams; retry later")
	}
	if signedIn && l.byUser[v.UserID] >= l.o.PerUser {
		l.refused["user"]++
		return nil, apperr.ResourceExhausted(streamRetryAfter, "too many open streams for this user (at most %d); close one first", l.o.PerUser)
	}
	if ip.IsValid() && l.byIP[ip] >= l.o.PerIP {
		l.refused["ip"]++
		return nil, apperr.ResourceExhausted(streamRetryAfter, "too many open streams from this address (at most %d); close one first", l.o.PerIP)
	}
	l.open++
	if signedIn {
		l.byUser[v.UserID]++
	}
	if ip.IsValid() {
		l.byIP[ip]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.open--
			if signedIn {
				if l.byUser[v.UserID]--; l.byUser[v.UserID] <= 0 {
					delete(l.byUser, v.UserID)
				}
			}
			if ip.IsValid() {
				if l.byIP[ip]--; l.byIP[ip] <= 0 {
					delete(l.byIP, ip)
				}
			}
		})
	}, nil
}

// Open returns the streams open now for user and for ip.
func (l *StreamLimiter) Open(user uuid.UUID, ip netip.Addr) (byUser, byIP int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byUser[user], l.byIP[ip]
}

// Register exports sensocto_streams_open and sensocto_streams_refused_total{reason}
// (user, ip, memory) on reg, read at scrape time.
func (l *StreamLimiter) Register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	open := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sensocto_streams_open", Help: "Streams (server, client, bidirectional) open now.",
	}, func() float64 {
		l.mu.Lock()
		defer l.mu.Unlock()
		return float64(l.open)
	})
	if err := reg.Register(open); err != nil {
		return fmt.Errorf("register stream metrics: %w", err)
	}
	for _, reason := range []string{"user", "ip", "memory"} {
		c := prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "sensocto_streams_refused_total",
			Help:        "New streams refused: per-user or per-IP limit reached, or memory protection on.",
			ConstLabels: prometheus.Labels{"reason": reason},
		}, func() float64 {
			l.mu.Lock()
			defer l.mu.Unlock()
			return float64(l.refused[reason])
		})
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register stream metrics: %w", err)
		}
	}
	return nil
}

// WrapUnary passes unary calls through.
func (l *StreamLimiter) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc { return next }

// WrapStreamingClient passes client-side streams through.
func (l *StreamLimiter) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler counts the stream for its lifetime, or refuses it.
func (l *StreamLimiter) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		release, err := l.Acquire(ctx)
		if err != nil {
			return err
		}
		defer release()
		return next(ctx, conn)
	}
}
