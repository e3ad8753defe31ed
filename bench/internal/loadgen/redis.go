package loadgen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// A redisServer is the redis-server a cluster run starts: on a free port
// of 127.0.0.1, with its append-only file (appendfsync always: the setting
// under which an acknowledged write survives anything short of losing
// Redis's disk, docs/cluster.md) in a temporary directory removed by stop.
type redisServer struct {
	URL  string // redis://127.0.0.1:port/0
	Addr string
	PID  int

	dir  string
	cmd  *exec.Cmd
	done chan error
}

// redisFsync is the appendfsync policy of the cluster runs' Redis.
const redisFsync = "always"

// startRedis starts redis-server and returns once it answers PING. Its
// log (warnings only) goes to logw.
func startRedis(logw io.Writer) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("a cluster run needs redis-server (apt-get install redis-server): %w", err)
	}
	dir, err := os.MkdirTemp("", "pushmap-bench-redis-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--appendonly", "yes", "--appendfsync", redisFsync, "--save", "", "--loglevel", "warning",
		"--daemonize", "no", "--maxclients", "1000")
	cmd.Stdout, cmd.Stderr = logw, logw
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	s := &redisServer{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), Addr: fmt.Sprintf("127.0.0.1:%d", port),
		PID: cmd.Process.Pid, dir: dir, cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := ping(s.Addr)
		if err == nil {
			return s, nil
		}
		select {
		case werr := <-s.done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("redis-server on port %d ended at start: %v", port, werr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("redis-server on %s did not answer PING within 10s: %v", s.Addr, err)
		}
	}
}

// freePort returns a TCP port of 127.0.0.1 free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ping sends PING in RESP and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// stop ends redis-server (SIGTERM, then SIGKILL after 10s) and removes its
// directory.
func (s *redisServer) stop() error {
	defer os.RemoveAll(s.dir)
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		return err
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		return errors.Join(errors.New("redis-server killed after 10s"), <-s.done)
	}
}
