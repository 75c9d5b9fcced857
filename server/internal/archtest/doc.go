// Package archtest owns the architecture checks of server/internal: every package says
// what it owns in a doc comment, and the layering of shared/DESIGN.md holds (also enforced
// by depguard in .golangci.yml; these tests catch it without the linter).
package archtest
