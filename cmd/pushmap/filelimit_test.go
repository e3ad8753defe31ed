package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fileLimitChild is the open-files limit the child of TestFileLimit runs
// serve under.
const fileLimitChild = 256

// TestFileLimit runs serve in a child process whose open-files limit is
// lowered to 256: serve says at start that it lowered --max-connections to
// fit, and a connection beyond what it may hold open is refused at once
// (closed) instead of hanging in the listen queue as before, while the
// connections within the limit are served.
func TestFileLimit(t *testing.T) {
	if os.Getenv("PUSHMAP_FILE_LIMIT_CHILD") == "1" {
		lim := syscall.Rlimit{Cur: fileLimitChild, Max: fileLimitChild}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() { io.Copy(io.Discard, os.Stdin); cancel() }() // the parent closes stdin to stop it
		os.Exit(run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--read-header-timeout", "1m"}, os.Stdout, os.Stderr))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileLimit$")
	cmd.Env = append(os.Environ(), "PUSHMAP_FILE_LIMIT_CHILD=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	var log strings.Builder
	lines := bufio.NewScanner(stderr)
	urlRE := regexp.MustCompile(` url=(http://\S+)`)
	var base string
	for base == "" && lines.Scan() {
		log.WriteString(lines.Text() + "\n")
		if m := urlRE.FindStringSubmatch(lines.Text()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		t.Fatalf("serve did not start:\n%s", &log)
	}
	go io.Copy(io.Discard, stderr)
	for _, want := range []string{"lowered to fit", "fileLimit=256", "maxConnections=116", "maxPending=12", "maxOpen=224"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the start log lacks %q:\n%s", want, &log)
		}
	}

	// Hold more connections than the child may open.
	addr := strings.TrimSuffix(strings.TrimPrefix(base, "http://"), "/")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range fileLimitChild + 20 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// The last ones are past the limit: closed at once, not left hanging
	// (the guard only ends a hung test).
	for i, c := range conns[fileLimitChild:] {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("connection %d past the limit: %v, want it closed", fileLimitChild+i, err)
		}
	}
	// The first ones are served.
	c := conns[0]
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /healthz on a connection within the limit: %v", err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
