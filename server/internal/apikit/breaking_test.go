package apikit_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBreakingTaskFailsOnARemovedField clones the repository into a scratch directory and
// runs the Taskfile's `breaking` task as CI does: an additive change on main passes; a
// removed field fails on a branch (against main) and again on main once merged (against
// the previous commit).
func TestBreakingTaskFailsOnARemovedField(t *testing.T) {
	if testing.Short() {
		t.Skip("clones the repository and runs buf; not in -short")
	}
	head := mustRun(t, root, "git", "rev-parse", "HEAD")
	src, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mustRun(t, root, "git", "clone", "--quiet", "--no-checkout", "--no-hardlinks", src, dir)
	mustRun(t, dir, "git", "checkout", "--quiet", "-B", "main", head)
	proto := filepath.Join(dir, "proto", "sensocto", "v1", "sensor.proto")
	edit := func(old, new string) {
		t.Helper()
		b, err := os.ReadFile(proto)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), old) {
			t.Fatalf("sensor.proto has no %q; update this test", old)
		}
		if err := os.WriteFile(proto, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	breaking := func() (string, error) { return run(dir, "go", "tool", "task", "breaking") }
	var out string

	// An additive change (a new optional field) on main: compared with the previous commit, fine.
	edit("  double sample_rate_hz = 4 [", "  // A test-only addition.\n  string apikit_note = 99;\n  double sample_rate_hz = 4 [")
	mustRun(t, dir, "git", "commit", "--quiet", "-am", "additive change")
	if out, err := breaking(); err != nil {
		t.Fatalf("breaking failed on an additive change on main: %v\n%s", err, out)
	} else if !strings.Contains(out, "comparing proto/ with "+mustRun(t, dir, "git", "rev-parse", "HEAD~1")) {
		t.Fatalf("on main the task should compare with the previous commit; it said:\n%s", out)
	}

	// A removed field on a branch: compared with main, it fails naming the field.
	mustRun(t, dir, "git", "checkout", "--quiet", "-b", "feature")
	edit("  string unit = 3 [(buf.validate.field).string.max_len = 16];\n", "")
	mustRun(t, dir, "git", "commit", "--quiet", "-am", "remove Attribute.unit")
	out, err = breaking()
	if err == nil || !strings.Contains(out, `"unit"`) {
		t.Fatalf("breaking passed (or did not name the field) for a removed field on a branch: err=%v\n%s", err, out)
	}

	// Merged into main: compared with the previous commit, it fails again.
	mustRun(t, dir, "git", "checkout", "--quiet", "main")
	mustRun(t, dir, "git", "merge", "--quiet", "--ff-only", "feature")
	out, err = breaking()
	if err == nil || !strings.Contains(out, `"unit"`) {
		t.Fatalf("breaking passed on main after a field was removed in the last commit: err=%v\n%s", err, out)
	}
}
