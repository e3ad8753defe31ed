package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// A Process is a benchmark process the generator started: a target server
// or a dialer. It ends when its standard input closes (Stop), and the
// kernel kills it if the generator dies first.
type Process struct {
	Addr string // what it printed after "listening " or "ready "
	PID  int

	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error
}

// StartProcess starts cmd and waits until it prints a line starting with
// word and a space (such as "listening 127.0.0.1:4000"), which it returns
// in Addr. Lines before it, and its standard error, go to logw. It gives up
// after timeout.
func StartProcess(cmd *exec.Cmd, word string, logw io.Writer, timeout time.Duration) (*Process, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logw
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{PID: cmd.Process.Pid, cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if !sent && strings.HasPrefix(line, word+" ") {
				lines <- strings.TrimPrefix(line, word+" ")
				sent = true
				continue
			}
			fmt.Fprintln(logw, line)
		}
		close(lines)
		p.done <- cmd.Wait()
	}()
	select {
	case addr, ok := <-lines:
		if ok {
			p.Addr = addr
			return p, nil
		}
		err = <-p.done
		return nil, fmt.Errorf("%s ended before printing %q: %v", cmd.Path, word, err)
	case <-time.After(timeout):
		p.Stop()
		return nil, fmt.Errorf("%s did not print %q within %v", cmd.Path, word, timeout)
	}
}

// Stop closes the process's standard input, waits up to 10s for it to end,
// then kills it.
func (p *Process) Stop() error {
	p.stdin.Close()
	select {
	case err := <-p.done:
		return err
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		return errors.Join(errors.New("killed after 10s"), <-p.done)
	}
}

// Proc is what /proc says of a process.
type Proc struct {
	CPU time.Duration // user + system time
	RSS int64         // resident set, bytes
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat times:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// ReadProc reads the CPU time and RSS of process pid (0 for this one).
func ReadProc(pid int) (Proc, error) {
	dir := "/proc/self"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return Proc{}, err
	}
	// Fields after the command name, which ends at the last ')': state is
	// field 3, utime 14 and stime 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return Proc{}, fmt.Errorf("%s/stat: no command name", dir)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return Proc{}, fmt.Errorf("%s/stat: %d fields", dir, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return Proc{}, fmt.Errorf("%s/stat: %v", dir, err)
	}
	p := Proc{CPU: time.Duration(ut+st) * time.Second / clockTicks}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return Proc{}, err
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return Proc{}, fmt.Errorf("%s/status: VmRSS %q", dir, rest)
			}
			p.RSS = kb << 10
		}
	}
	return p, nil
}

// MachineBusy returns the CPU time all processes of the machine have used
// since boot: user, nice, system, irq, softirq and steal time of
// /proc/stat.
func MachineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %v", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// The machine is quiet for a run when, sampled over quietSample, its busy
// CPU is under quietCores (see Env.QuietWait).
const (
	quietCores  = 0.10
	quietSample = 250 * time.Millisecond
)

// WaitQuiet waits until the machine's busy CPU (MachineBusy), sampled over
// quietSample, falls under quietCores, or patience has passed, and returns the
// cores busy in the last sample. A run must not start while the last one
// winds down: a broadcast server killed with megabytes unsent on thousands
// of sockets keeps the kernel busy for seconds, and the next window would
// lose those cores and count them as others'. Measured with the make bench
// of 08edca6: the pushmap windows that followed broadcast's had 0.63 and
// 0.27 cores of "others", against 0.00–0.07 elsewhere.
func WaitQuiet(ctx context.Context, patience time.Duration) (busy float64, err error) {
	deadline := time.Now().Add(patience)
	t0, err := MachineBusy()
	if err != nil {
		return 0, err
	}
	w0 := time.Now()
	for {
		select {
		case <-ctx.Done():
			return busy, ctx.Err()
		case <-time.After(quietSample):
		}
		t1, err := MachineBusy()
		if err != nil {
			return 0, err
		}
		w1 := time.Now()
		busy = (t1 - t0).Seconds() / w1.Sub(w0).Seconds()
		if busy < quietCores || !w1.Before(deadline) {
			return busy, nil
		}
		t0, w0 = t1, w1
	}
}
