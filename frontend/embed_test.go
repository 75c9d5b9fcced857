package frontend

import (
	"io/fs"
	"testing"
)

func TestAssets(t *testing.T) {
	t.Parallel()
	assets, err := Assets()
	if err != nil {
		t.Fatalf("Assets: %v", err)
	}
	_, statErr := fs.Stat(assets, "index.html")
	if got, want := Built(), statErr == nil; got != want {
		t.Fatalf("Built() = %v, but index.html present = %v", got, want)
	}
}
