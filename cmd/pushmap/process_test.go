package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// childEnv names the environment variable that makes the test binary run
// pushmap itself, with the JSON array of arguments it holds: tests start
// real pushmap processes they can kill -9 (startProcess).
const childEnv = "PUSHMAP_TEST_CHILD"

// runChild runs pushmap with the arguments of childEnv as main would, when
// the variable is set, and exits; it returns otherwise.
func runChild() {
	raw, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", childEnv, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, args, os.Stdout, os.Stderr))
}

// A process is a pushmap command running as a child process.
type process struct {
	t    *testing.T
	args []string
	cmd  *exec.Cmd
	url  string // base URL, ending in "/"
	done chan struct{}

	mu  sync.Mutex
	log bytes.Buffer // guarded by mu: its standard error
}

var urlInLog = regexp.MustCompile(` url=(http://\S+)`)

// startProcess starts pushmap with args in a child process and returns it
// once it listens. The test's end kills it.
func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	raw, _ := json.Marshal(args)
	p := &process{t: t, args: args, done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		defer close(p.done)
		lines := bufio.NewScanner(stderr)
		lines.Buffer(nil, 1<<20)
		for lines.Scan() {
			p.mu.Lock()
			p.log.WriteString(lines.Text() + "\n")
			p.mu.Unlock()
			if m := urlInLog.FindStringSubmatch(lines.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("pushmap %s:\n%s", strings.Join(args, " "), p.stderr())
		}
	})
	select {
	case p.url = <-urls:
	case <-p.done:
		t.Fatalf("pushmap %s exited before listening:\n%s", strings.Join(args, " "), p.stderr())
	case <-time.After(30 * time.Second):
		t.Fatalf("pushmap %s did not listen within 30s:\n%s", strings.Join(args, " "), p.stderr())
	}
	return p
}

func (p *process) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// kill sends SIGKILL and waits until the process is gone.
func (p *process) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// terminate sends SIGTERM and waits until the process has exited; it
// returns the exit status.
func (p *process) terminate() int {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("pushmap did not exit within 30s of SIGTERM")
	}
	return p.cmd.ProcessState.ExitCode()
}

// post sends body as JSON to path with the bearer key and returns the
// status, or an error when there was no answer.
func post(client *http.Client, url, key, body string) (int, error) {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	if res.StatusCode != http.StatusOK {
		return res.StatusCode, fmt.Errorf("status %d: %s", res.StatusCode, b.Bytes())
	}
	return res.StatusCode, nil
}
