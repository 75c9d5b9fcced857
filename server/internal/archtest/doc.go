// Package archtest owns the architecture checks of server/internal: every package says
// what it owns in a doc comment; platform packages import no domain; handlers never
// touch the database; domains import only platform packages and domains of a lower
// level of the written order (domainLevel, the same table as docs/architecture.md);
// and no domain reaches Connect, gen/ or net/http, not even through the module's
// packages it imports. depguard in .golangci.yml enforces the direct imports too; these
// tests catch it without the linter, and transitively.
package archtest
