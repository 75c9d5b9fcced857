//go:build !linux

package testkit

import "os/exec"

// dieWithTest: only Linux can tie a child's life to its parent's; elsewhere the
// test's cleanup stops the child.
func dieWithTest(*exec.Cmd) {}
