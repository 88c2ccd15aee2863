package registry

import (
	"crypto/rand"
	"testing"
)

// Leaves a plugin registered in the package-level map.
func TestRegisterPlugin(t *testing.T) {
	Register("extra", func() string { return "x" })
	if Count() != 1 {
		t.Fatalf("count %d", Count())
	}
}

// Changes a package-level variable and does not restore it.
func TestShout(t *testing.T) {
	Greeting = "HELLO"
}

func TestUnrelated(t *testing.T) {}

// Victim of TestRegisterPlugin.
func TestNoPlugins(t *testing.T) {
	if Count() != 0 {
		t.Fatalf("expected no plugins, found %d", Count())
	}
}

// Victim of TestShout, and intrinsically flaky besides (fails about one
// run in five alone).
func TestGreetingFlaky(t *testing.T) {
	b := make([]byte, 1)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	if b[0]%5 == 0 {
		t.Fatal("unlucky")
	}
	if Greeting != "hello" {
		t.Fatalf("greeting %q", Greeting)
	}
}
