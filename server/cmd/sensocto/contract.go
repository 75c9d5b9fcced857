package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sensocto/sensocto/server/contract"
)

// contractMain runs `sensocto contract`: the black-box contract suite against --url.
// It exits 0 when every check passed, 1 when one failed, 2 on bad flags.
func contractMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("contract", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://localhost:8080", "base URL of the server to check")
	token := fs.String("token", "", "full-scope API or session token of an existing account to act as, instead of a new guest")
	skipRate := fs.Bool("skip-rate-limit", false, "skip the check that uses up the per-IP VerifyMagicLink rate limit for a minute")
	timeout := fs.Duration("check-timeout", 30*time.Second, "time limit of one check")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: sensocto contract --url URL [--token T] [--skip-rate-limit]\n\n"+
			"Checks a running Sensocto server against the published API over Connect, gRPC and gRPC-Web:\n"+
			"one line per check, then \"N passed, M failed\". Exits 1 when a check failed.\n\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\n%s\n", contract.Leftovers)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	res, err := contract.Run(ctx, contract.Config{URL: *url, Token: *token, Out: stdout, SkipRateLimit: *skipRate, CheckTimeout: *timeout})
	if err != nil {
		fmt.Fprintf(stderr, "sensocto contract: %v\n", err)
		return 2
	}
	if res.Failed > 0 {
		return 1
	}
	return 0
}
