package bustest

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds, failing the test (naming what was
// awaited) after a generous deadline: signals, replies and the fakes' hooks
// arrive asynchronously. Waiting is for the system to settle, never an
// assertion about speed.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
