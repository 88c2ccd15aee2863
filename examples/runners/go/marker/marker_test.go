// Package marker models a test that leaves state in /tmp: it passes on the
// first run and fails on every later one, because the marker file it creates
// is still there (the fs factor fixes it). The directory is
// $FLAKEBOX_EXAMPLE_STATE (the adapter tests give it a fresh one), else /tmp.
package marker

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLeavesMarker(t *testing.T) {
	dir := os.Getenv("FLAKEBOX_EXAMPLE_STATE")
	if dir == "" {
		dir = "/tmp"
	}
	marker := filepath.Join(dir, "flakebox-runners-go.marker")
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf("%s was left by an earlier run", marker)
	}
	if err := os.WriteFile(marker, []byte("left behind on purpose\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
