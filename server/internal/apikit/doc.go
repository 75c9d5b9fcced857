// Package apikit owns the checks of the integrators' kit kept at the repository root: the
// Swift generation template and SwiftPM package (buf.gen.swift.yaml, gen/swift), the
// committed OpenAPI document (gen/openapi) and the `breaking` task of Taskfile.yml. It has
// no code of its own; its tests read those files and run the task in scratch clones.
package apikit
