package accounts_test

import (
	"testing"
)

// BenchmarkResolveCached measures the hot path: resolving a bearer token that is in the
// cache, which every RPC (Publish included) pays once per call.
func BenchmarkResolveCached(b *testing.B) {
	f := newFixture(b, "sqlite")
	s, err := f.svc.SignInGuest(b.Context(), "")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.svc.Resolve(b.Context(), s.Secret); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.svc.Resolve(b.Context(), s.Secret); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
