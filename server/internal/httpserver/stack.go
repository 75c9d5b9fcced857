package httpserver

import "net/http"

// unaryStackFrame is the frame growStack puts on the stack: with what lies below it, a
// goroutine that calls it has a stack of at least 8 KiB afterwards, which the whole
// path of a unary RPC fits in (the auth middleware, connect-go, the interceptors, the
// handler and the hub: docs/performance.md, "What the runs showed", Publish round 3).
const unaryStackFrame = 4 << 10

// growStackForUnary grows the stack of the goroutine serving a request that is not an
// enveloped stream before it goes deeper. Each HTTP/2 request runs on a new goroutine
// whose stack starts at the runtime's running average of all goroutines' stacks, below
// what a unary RPC needs; the runtime then doubles it somewhere deep in connect-go,
// copying every frame below (a profile of Publish had 3 to 6 % of its CPU there, most
// of it walking the two dozen frames). Growing it here walks a handful. Streams are
// left alone: their goroutines live long and should stay small.
func growStackForUnary(next http.Handler) http.Handler {
	// The handler's frame stays on a stream goroutine's stack for the stream's
	// lifetime (docs/performance.md, "Memory per idle sensor"): the work is in
	// growIfUnary.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		growIfUnary(r)
		next.ServeHTTP(w, r)
	})
}

//go:noinline
func growIfUnary(r *http.Request) {
	if !isEnveloped(r.Header.Get("Content-Type")) {
		growStack()
	}
}

// growStack needs unaryStackFrame bytes of stack: the runtime grows the stack in its
// prologue when they are not there.
//
//go:noinline
func growStack() {
	var frame [unaryStackFrame]byte
	keep(frame[:])
}

// keep uses b, so that growStack's frame is not optimized away.
//
//go:noinline
func keep(b []byte) { _ = b }
