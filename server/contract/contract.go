// Package contract is Sensocto's black-box contract suite: it checks a running server
// against the published API (proto/sensocto/v1) using only the generated clients in gen/
// and connect-go, over Connect (JSON), gRPC and gRPC-Web. It never imports server code, so
// anyone can run it against their own deployment (`sensocto contract --url URL`) or from
// their own Go tests (contract.Run).
//
// It covers every RPC of every service the server lists through gRPC reflection, and fails
// when a served RPC has no check here. It creates its own users and data and removes what
// it can when done: see Leftovers.
package contract

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Leftovers describes what a run leaves on the server, for the README and --help.
const Leftovers = `What a run leaves behind on the server:
  - guest accounts named "contract ..." (deleted by the server when SENSOCTO_GUEST_TTL passes
    without activity), and the sensors only they own that the run could not delete itself (the
    sensor of the sign-out check);
  - one password account contract-<run>@example.com without sensors or tokens (the API has
    no way to delete an account);
  - for a minute, the per-IP rate limit of VerifyMagicLink is used up for the machine that ran
    the suite (the rate-limit check exhausts it; --skip-rate-limit leaves it alone).
Everything else it creates (sensors, rooms, API tokens, sessions, simulator runs) is deleted,
revoked or stopped at the end.`

// Config says where and how to run the suite.
type Config struct {
	// URL is the server's base URL, e.g. http://localhost:8080.
	URL string
	// Token, when set, is a full-scope API or session token of an existing account: the
	// suite acts as that account instead of signing in a guest for its main user (for
	// deployments without guest sign-in). Its sensors other than the suite's are not touched.
	Token string
	// HTTPClient, when nil, is NewHTTPClient(URL).
	HTTPClient *http.Client
	// Out receives one line per check and the closing "N passed, M failed" line.
	Out io.Writer
	// SkipRateLimit skips the check that exhausts a sign-in rate limit.
	SkipRateLimit bool
	// CheckTimeout bounds one check; 0 means 30 s.
	CheckTimeout time.Duration
}

// Result is the outcome of a run.
type Result struct {
	Passed, Failed int
	// Failures are the failed checks' lines.
	Failures []string
}

// NewHTTPClient returns a client that speaks HTTP/2 to the server: over TLS for https://
// URLs, unencrypted (h2c) for http:// ones, as gRPC and bidirectional streams need.
func NewHTTPClient(url string) *http.Client {
	p := new(http.Protocols)
	if strings.HasPrefix(url, "https://") {
		p.SetHTTP2(true)
		p.SetHTTP1(true)
	} else {
		p.SetUnencryptedHTTP2(true)
	}
	return &http.Client{Transport: &http.Transport{Protocols: p, ForceAttemptHTTP2: true}}
}

// Run runs the whole suite and writes its report to cfg.Out. The error is for a run that
// could not start (bad configuration); failed checks are counted in Result.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.URL == "" {
		return Result{}, errors.New("contract: no server URL")
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = NewHTTPClient(cfg.URL)
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = 30 * time.Second
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	s := &suite{cfg: cfg, run: hex.EncodeToString(id[:]), covered: map[string]map[string]bool{}}
	s.runAll(ctx)
	fmt.Fprintf(cfg.Out, "%d passed, %d failed\n", s.res.Passed, s.res.Failed)
	return s.res, nil
}

// suite is one run.
type suite struct {
	cfg Config
	run string // random id of this run, in every name it creates

	mu      sync.Mutex
	res     Result
	covered map[string]map[string]bool // procedure → protocols with a check

	cleanups []func(context.Context) // run last-in first-out at the end
}

// check runs fn as one check named by what it expects of the procedures it covers, over
// protocol p ("" for checks that are not about one protocol), and prints its line.
func (s *suite) check(ctx context.Context, p protocol, procedures []string, expectation string, fn func(context.Context) error) bool {
	s.mu.Lock()
	for _, proc := range procedures {
		if s.covered[proc] == nil {
			s.covered[proc] = map[string]bool{}
		}
		s.covered[proc][p.name] = true
	}
	s.mu.Unlock()

	cctx, cancel := context.WithTimeout(ctx, s.cfg.CheckTimeout)
	err := fn(cctx)
	cancel()
	label := strings.Join(procedures, ", ")
	if p.name != "" {
		label = "[" + p.name + "] " + label
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.res.Passed++
		fmt.Fprintf(s.cfg.Out, "ok   %s: %s\n", label, expectation)
		return true
	}
	s.res.Failed++
	line := fmt.Sprintf("FAIL %s: expected %s: %v", label, expectation, err)
	s.res.Failures = append(s.res.Failures, line)
	fmt.Fprintln(s.cfg.Out, line)
	return false
}

// fail records a failed check without running anything (a precondition is missing).
func (s *suite) fail(p protocol, procedures []string, expectation string, err error) {
	s.check(context.Background(), p, procedures, expectation, func(context.Context) error { return err })
}

// cleanup registers f to run at the end, last registered first.
func (s *suite) cleanup(f func(context.Context)) {
	s.mu.Lock()
	s.cleanups = append(s.cleanups, f)
	s.mu.Unlock()
}

func (s *suite) runCleanups() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i](ctx)
	}
	s.cleanups = nil
}

// coveredProtocols lists the protocols procedure was checked over, sorted.
func (s *suite) coveredProtocols(procedure string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for p := range s.covered[procedure] {
		if p != "" {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}
