package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pushmap/pushmap/internal/leakcheck"
	"github.com/pushmap/pushmap/server/servertest"
)

func TestMain(m *testing.M) {
	runChild() // the test binary as pushmap, for tests of real processes
	leakcheck.Main(m)
}

// testCLI returns a cli that writes to fresh buffers and sees only the
// environment variables of env.
func testCLI(env map[string]string) (x *cli, stdout, stderr *servertest.Buffer) {
	stdout, stderr = new(servertest.Buffer), new(servertest.Buffer)
	x = &cli{
		stdout: stdout,
		stderr: stderr,
		getenv: mapEnv(env),
		listen: net.Listen,
	}
	return x, stdout, stderr
}

// A running is a server command running in the background.
type running struct {
	url            string // base URL, ending in "/"
	stdout, stderr *servertest.Buffer

	cancel context.CancelFunc
	done   chan int
	once   sync.Once
	code   int
}

// start runs the command line args in the background, as main would, and
// returns once the server listens. The command is stopped when the test
// ends, if the test has not stopped it.
func start(t testing.TB, args ...string) *running {
	t.Helper()
	x, stdout, stderr := testCLI(nil)
	listening := make(chan net.Listener, 1)
	x.listen = func(network, addr string) (net.Listener, error) {
		ln, err := net.Listen(network, addr)
		if err == nil {
			listening <- ln
		}
		return ln, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stdout: stdout, stderr: stderr, cancel: cancel, done: make(chan int, 1)}
	go func() { r.done <- x.run(ctx, args) }()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
		}
	})
	select {
	case ln := <-listening:
		r.url = "http://" + ln.Addr().String() + "/"
	case code := <-r.done:
		r.done <- code
		t.Fatalf("pushmap %s exited with status %d before listening", strings.Join(args, " "), code)
	}
	return r
}

// stop cancels the command's context, as SIGINT would, and returns its
// exit status once it has returned.
func (r *running) stop() int {
	r.once.Do(func() {
		r.cancel()
		r.code = <-r.done
	})
	return r.code
}

// get fetches url without keeping the connection, and returns the status
// and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// stats is the part of the /stats answer the tests look at.
type stats struct {
	Connections   int     `json:"connections"`
	Views         int     `json:"views"`
	Markers       int     `json:"markers"`
	Accepted      int64   `json:"accepted"`
	Delivered     int64   `json:"delivered"`
	UptimeSeconds float64 `json:"uptimeSeconds"`
}

// getStats fetches and decodes the /stats of the server at base.
func getStats(t *testing.T, base string) stats {
	t.Helper()
	code, body := get(t, base+"stats")
	if code != http.StatusOK {
		t.Fatalf("GET /stats: status %d, body %q", code, body)
	}
	var st stats
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("GET /stats: %v in %q", err, body)
	}
	return st
}

func TestCommands(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string // substrings expected on stdout
		stderr   []string // substrings expected on stderr
		noStdout bool
	}{
		{name: "no command", args: nil, code: 2, stderr: []string{"Usage:", "serve", "demo"}, noStdout: true},
		{name: "help", args: []string{"help"}, code: 0, stdout: []string{"Usage:", "serve", "demo", "version", "help"}},
		{name: "--help", args: []string{"--help"}, code: 0, stdout: []string{"Usage:", "serve", "demo"}},
		{name: "-h", args: []string{"-h"}, code: 0, stdout: []string{"Usage:"}},
		{name: "help serve", args: []string{"help", "serve"}, code: 0, stdout: []string{"Usage: pushmap serve [flags]", "--addr"}},
		{name: "help demo", args: []string{"help", "demo"}, code: 0, stdout: []string{"Usage: pushmap demo [flags]", "--flights"}},
		{name: "help version", args: []string{"help", "version"}, code: 0, stdout: []string{"Usage: pushmap version"}},
		{name: "help unknown", args: []string{"help", "nope"}, code: 2, stderr: []string{`unknown command "nope"`, "Usage:"}, noStdout: true},
		{name: "unknown command", args: []string{"nope"}, code: 2, stderr: []string{`unknown command "nope"`, "Usage:"}, noStdout: true},
		// The load benchmark is a module of its own (bench/): the product
		// binary holds no bench code, hidden or not.
		{name: "bench is not a command", args: []string{"bench"}, code: 2, stderr: []string{`unknown command "bench"`}, noStdout: true},
		{name: "bench-target is not a command", args: []string{"bench-target"}, code: 2, stderr: []string{`unknown command "bench-target"`}, noStdout: true},
		{name: "bench-dial is not a command", args: []string{"bench-dial"}, code: 2, stderr: []string{`unknown command "bench-dial"`}, noStdout: true},
		{name: "version", args: []string{"version"}, code: 0, stdout: []string{"pushmap ", "go1."}},
		{name: "version with argument", args: []string{"version", "x"}, code: 2, stderr: []string{`unexpected argument "x"`}},
		{name: "serve --help", args: []string{"serve", "--help"}, code: 0, stdout: []string{"Usage: pushmap serve [flags]", "PUSHMAP_ADDR"}},
		{name: "demo -h", args: []string{"demo", "-h"}, code: 0, stdout: []string{"Usage: pushmap demo [flags]", "PUSHMAP_FLIGHTS"}},
		{name: "serve bad flag", args: []string{"serve", "--budget", "-1"}, code: 2, stderr: []string{"-budget", "must be positive", "pushmap serve --help"}, noStdout: true},
		{name: "serve unknown flag", args: []string{"serve", "--flights", "3"}, code: 2, stderr: []string{"flag provided but not defined: -flights"}},
		{name: "serve argument", args: []string{"serve", "extra"}, code: 2, stderr: []string{`unexpected argument "extra"`}},
		{name: "demo bad flag", args: []string{"demo", "--interval", "fast"}, code: 2, stderr: []string{"-interval", "not a duration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, stdout, stderr := testCLI(nil)
			x.listen = func(string, string) (net.Listener, error) {
				t.Error("the command listened")
				return nil, net.ErrClosed
			}
			if code := x.run(context.Background(), tt.args); code != tt.code {
				t.Errorf("exit status %d, want %d", code, tt.code)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
			if tt.noStdout && stdout.String() != "" {
				t.Errorf("stdout is not empty:\n%s", stdout)
			}
		})
	}
}
