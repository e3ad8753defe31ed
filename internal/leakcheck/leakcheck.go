// Package leakcheck fails a test binary whose tests leave goroutines
// running, the check coder/websocket and many servers run in TestMain.
package leakcheck

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main runs the tests, then waits up to five seconds for the goroutines
// they started to end. If some remain it prints their stacks and exits with
// status 1. Call it from TestMain: func TestMain(m *testing.M) { leakcheck.Main(m) }.
// A fuzzing run (-test.fuzz) is not checked: the fuzz engine leaves its own
// goroutines behind. The cleanups run after the tests and before the
// check, for what the tests shared (a browser, a server); one that fails
// fails the run.
func Main(m *testing.M, cleanups ...func() error) {
	before := runtime.NumGoroutine()
	code := m.Run()
	for _, cleanup := range cleanups {
		if err := cleanup(); err != nil {
			fmt.Fprintln(os.Stderr, "leakcheck: cleanup:", err)
			code = max(code, 1)
		}
	}
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		os.Exit(code)
	}
	if code == 0 {
		if err := wait(before, 5*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func wait(want int, grace time.Duration) error {
	deadline := time.Now().Add(grace)
	for {
		n := runtime.NumGoroutine()
		if n <= want {
			return nil
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			stacks := string(buf[:runtime.Stack(buf, true)])
			return fmt.Errorf("leakcheck: %d goroutines still running after the tests, %d before:\n%s",
				n, want, strings.TrimSpace(stacks))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
