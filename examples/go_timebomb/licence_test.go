package gotimebomb

import (
	"testing"
	"time"
)

// Caught by timetravel's "next New Year 2027 (UTC)": 2027-01-01T00:00:00Z.
func TestLicenceIsValid(t *testing.T) {
	if now := time.Now(); !LicenceValid(now) {
		t.Fatalf("licence expired at %v, now is %v", LicenceExpires, now.UTC())
	}
}

// Fails when the wall clock is on an odd second (about half of the runs);
// with the clock frozen on an even second it always passes.
func TestOddSecond(t *testing.T) {
	if name, ok := BatchName(time.Now()); !ok {
		t.Fatalf("%s: the wall clock is on an odd second", name)
	}
}

// The same consumer, for a batch stamped when it starts and checked when it
// ends, a second of work later (time.Sleep waits on the monotonic clock, so
// real time passes even when the wall clock is frozen): at real time one of
// the two reads is always on an odd second, so it always fails; with the
// clock frozen on an even second it always passes. Deterministic either way.
func TestOddSecondAcrossASecondOfWork(t *testing.T) {
	start := time.Now()
	time.Sleep(time.Second) // the work
	end := time.Now()
	for _, at := range []time.Time{start, end} {
		if name, ok := BatchName(at); !ok {
			t.Fatalf("%s: the wall clock was on an odd second (the batch ran from %v to %v)", name, start.UTC(), end.UTC())
		}
	}
}

// Independent of the clock.
func TestLicenceBoundary(t *testing.T) {
	if !LicenceValid(LicenceExpires) || LicenceValid(LicenceExpires.Add(time.Second)) {
		t.Fatal("the expiry instant is the last valid one")
	}
}
