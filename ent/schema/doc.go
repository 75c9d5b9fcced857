// Package schema is the single source of truth for Sensocto's relational model. Every
// table, column, index and foreign key is declared here; ent generates the typed client
// from it and the versioned SQL migrations in migrations/ are generated from it too.
// After changing it run `go generate ./ent` and
// `go run ./server/cmd/entmigrate -name <change>`.
package schema
