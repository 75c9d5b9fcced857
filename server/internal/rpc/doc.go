// Package rpc owns the Connect plumbing shared by every service handler: the
// one mapping from application errors (package apperr) to Connect errors, and
// the interceptors for panic recovery, request logging, Prometheus metrics and
// protovalidate validation, bundled in the order they must run by
// HandlerOptions. It imports no domain package and no generated code.
package rpc
