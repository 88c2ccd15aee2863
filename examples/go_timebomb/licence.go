// Package gotimebomb: a Go suite with a New Year time bomb, a test that
// fails on odd seconds of the wall clock and a stable one (flakebox's
// timetravel and diagnose end-to-end tests for Go, whose clock only
// clockwatch can freeze).
package gotimebomb

import "time"

// LicenceExpires was "far away" when someone checked it in.
var LicenceExpires = time.Date(2026, time.December, 31, 23, 59, 59, 0, time.UTC)

// LicenceValid says whether the licence still holds at t.
func LicenceValid(t time.Time) bool {
	return !t.After(LicenceExpires)
}

// BatchName names a batch after the current second; only even seconds are
// accepted by the (imagined) consumer.
func BatchName(now time.Time) (string, bool) {
	s := now.Unix()
	return now.UTC().Format("batch-20060102T150405"), s%2 == 0
}
