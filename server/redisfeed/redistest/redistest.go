// Package redistest starts real redis-server processes for tests, the way
// net/http/httptest starts HTTP servers: on a free port of 127.0.0.1,
// without persistence (StartAOF: with an append-only file), stopped when
// the test ends.
//
// When redis-server is not installed the test is skipped with a message
// saying how to install it, unless the environment variable
// PUSHMAP_REQUIRE_REDIS is 1: then it fails (make test sets it).
package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A Server is a redis-server process listening on 127.0.0.1.
type Server struct {
	URL  string // redis://127.0.0.1:port/0
	Addr string // 127.0.0.1:port
	Port int
	Dir  string // StartAOF: the directory of its append-only file; "" otherwise

	bin  string
	t    testing.TB
	args []string // persistence flags; none: no persistence

	mu     sync.Mutex
	cmd    *exec.Cmd     // guarded by mu: the running process, or nil
	exited chan struct{} // guarded by mu: closed when cmd has exited
}

// Binary returns the path of redis-server, or "" when it is not installed.
func Binary() string {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server"
	}
	return ""
}

// Require skips the test, or fails it when PUSHMAP_REQUIRE_REDIS=1, if
// redis-server is not installed, and returns its path.
func Require(t testing.TB) string {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "redis-server is not installed (apt-get install -y redis-server)"
		if os.Getenv("PUSHMAP_REQUIRE_REDIS") == "1" {
			t.Fatal(msg + " and PUSHMAP_REQUIRE_REDIS=1")
		}
		t.Skip(msg)
	}
	return bin
}

// Start starts a redis-server on a free port of 127.0.0.1 and returns it
// once it answers PING. It is killed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, nil)
}

// StartAOF starts a redis-server as Start does, with its append-only file
// on (appendonly yes) in a directory of the test's and appendfsync set to
// fsync (always, everysec or no). Restart (a SIGKILL, then a start on the
// same directory) then keeps what the policy made durable.
func StartAOF(t testing.TB, fsync string) *Server {
	t.Helper()
	dir := t.TempDir()
	s := start(t, []string{"--appendonly", "yes", "--appendfsync", fsync, "--dir", dir})
	s.Dir = dir
	return s
}

// AOFTail returns the path of the file the append-only log is being
// written to now (Redis 7's appendonlydir/*.incr.aof), for a test that
// truncates it to simulate the loss of what was not yet fsynced.
func (s *Server) AOFTail() string {
	s.t.Helper()
	files, _ := filepath.Glob(filepath.Join(s.Dir, "appendonlydir", "*.incr.aof"))
	if s.Dir == "" || len(files) == 0 {
		s.t.Fatalf("redistest: no append-only file in %q (StartAOF, Redis 7 or later)", s.Dir)
	}
	slices.Sort(files)
	return files[len(files)-1]
}

func start(t testing.TB, args []string) *Server {
	t.Helper()
	s := &Server{bin: Require(t), t: t, args: args}
	var err error
	for range 5 { // the free port may be taken between probe and start
		if s.Port, err = freePort(); err != nil {
			t.Fatal(err)
		}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
	s.URL = "redis://" + s.Addr + "/0"
	t.Cleanup(s.Stop)
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs redis-server on s.Port and waits until it answers.
func (s *Server) start() error {
	out := new(bytes.Buffer)
	args := []string{"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
		"--loglevel", "warning"}
	cmd := exec.Command(s.bin, append(args, s.args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %v", s.bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ping(addr) == nil {
			break
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server on port %d exited (%v): %s", s.Port, waitErr, out.Bytes())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on port %d did not answer within 10s: %s", s.Port, out.Bytes())
		}
	}
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	return nil
}

// ping sends PING over RESP and wants +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// Stop kills the server (its data is lost) and waits until it has exited.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-exited
}

// Start starts a stopped server again on the same port, with what its
// append-only file kept (StartAOF), and returns once it answers PING.
func (s *Server) Start() {
	s.t.Helper()
	var err error
	for range 50 { // the port may linger a moment
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("redistest: start: %v", err)
}

// Restart kills the server (SIGKILL) and starts it again on the same port:
// empty, as a Redis that crashed and came back without persistence, or,
// after StartAOF, with what its append-only file kept.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

// CLI runs redis-cli against the server with args and returns its output,
// failing the test if it fails or prints an error. It needs redis-cli
// (Debian's redis-tools, installed with redis-server).
func (s *Server) CLI(args ...string) string {
	s.t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		s.t.Fatalf("redistest: redis-cli is not installed: %v", err)
	}
	cmd := exec.Command(cli, append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port)}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil || bytes.HasPrefix(out, []byte("(error)")) || bytes.HasPrefix(out, []byte("ERR")) {
		s.t.Fatalf("redis-cli %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// CLIInput runs redis-cli with the commands of input, one a line, as
// "redis-cli < file" does, and returns its output.
func (s *Server) CLIInput(input string) string {
	s.t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		s.t.Fatalf("redistest: redis-cli is not installed: %v", err)
	}
	cmd := exec.Command(cli, "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port))
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("redis-cli < input: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}
