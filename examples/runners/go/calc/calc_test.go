// Package calc: a stable test and a plain failing / passing pair, so that
// selection and shuffling are observable (flakebox's runner-adapter tests).
package calc

import "testing"

func TestStable(t *testing.T) {
	if 2+2 != 4 {
		t.Fatal("arithmetic")
	}
}

func TestPlainFails(t *testing.T) {
	t.Fatalf("deterministic failure: 1+1 = %d, want 3", 1+1)
}

func TestPlainPasses(t *testing.T) {
	t.Run("sub", func(t *testing.T) {})
}
