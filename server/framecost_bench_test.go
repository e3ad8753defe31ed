package server

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// frameClients lists the fleet sizes BenchmarkFrameCost runs with; empty
// (the default) skips it, as dialing thousands of clients does not belong
// in `go test -bench .`. Each size must fit in a process's open files
// (RLIMIT_NOFILE, 20,000 here) with some to spare: the server's process
// holds one socket per client, and so does the clients' process.
var frameClients = flag.String("server.frame-clients", "", "BenchmarkFrameCost: comma-separated numbers of WebSocket clients (e.g. 2000,10000); empty skips it")

// frameOpsPerClient is how many ops each client gets per batch: every
// client's view holds that many of the batch's markers, and no other.
const frameOpsPerClient = 2

// frameClientsPerCell is how many clients view each cell, so that an
// update reaches that many clients, as updates in a busy city reach
// several viewers: the store's half of an update is shared by that many
// frames.
const frameClientsPerCell = 4

// BenchmarkFrameCost measures the server's CPU per frame delivered to many
// real WebSocket clients (issue 13: ≤ 8 µs at 10,000 clients, measured
// about 22 µs in the load bench). The clients run in a child process
// (this test binary, TestFrameCostClients) and only read, so the server's
// process CPU time (getrusage: user + system) is the server's: apply,
// fan-out, writer scheduling, encoding and the write syscalls. Each client
// views a cell of a grid, shared with frameClientsPerCell-1 others; a
// batch moves frameOpsPerClient markers in every cell, then waits until every client's frame is written, so each
// batch writes exactly one frame per client. Wall time is reported too but
// is noisy on a shared machine; cpu-ns/frame is the figure. writes/frame
// (write system calls per frame, from /proc/self/io) checks that a frame
// costs one write, goroutines/frame counts the goroutines started, and
// user-ns/frame is the part of cpu-ns/frame outside the kernel: the
// server's own work, without the write system calls (which on loopback
// also do the receiving socket's work, and vary with the readers' state).
//
// Each fleet size runs three ways: writers=goroutine-each is the server as it
// is (named when it started a writer goroutine per connection per batch;
// now about one worker per core writes a batch's connections, writeRun);
// writers=inline-bound writes the batch's frames one after another on the
// goroutine that would start the writers (not safe to ship: see
// fanOut.writeInline), the most that no scheduling at all could save;
// floor=write-only is no server at all: one write system call of a frame
// of the same size to each of n plain TCP connections per batch, read by
// the same kind of child process, the floor a frame cannot go below.
//
// Run: go test -run '^$' -bench FrameCost ./server -args -server.frame-clients=2000,10000
func BenchmarkFrameCost(b *testing.B) {
	if *frameClients == "" {
		b.Skip("set -server.frame-clients (e.g. -args -server.frame-clients=2000) to dial the clients")
	}
	for _, f := range strings.Split(*frameClients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("-server.frame-clients: %q is not a number of clients", f)
		}
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			b.Run("writers=goroutine-each", func(b *testing.B) { benchFrameCost(b, n, false) })
			b.Run("writers=inline-bound", func(b *testing.B) { benchFrameCost(b, n, true) })
			b.Run("floor=write-only", func(b *testing.B) { benchWriteFloor(b, n) })
		})
	}
}

// frameGrid returns the view of client i of n: its cell of a grid over
// region, shared by frameClientsPerCell clients.
func frameGrid(i, n int) geo.Box {
	i, n = i/frameClientsPerCell, (n+frameClientsPerCell-1)/frameClientsPerCell
	cols := 1
	for cols*cols < n {
		cols++
	}
	rows := (n + cols - 1) / cols
	w := (region.East - region.West) / float64(cols)
	h := (region.North - region.South) / float64(rows)
	x, y := i%cols, i/cols
	return geo.BBox(region.West+float64(x)*w, region.South+float64(y)*h,
		region.West+float64(x+1)*w, region.South+float64(y+1)*h)
}

// benchFrameCost runs BenchmarkFrameCost with n clients; inline makes
// the writers of each batch run one after another on the goroutine that
// starts them (fanOut.writeInline), the bound on what fewer goroutine
// starts could save.
func benchFrameCost(b *testing.B, n int, inline bool) {
	s, err := New(&Options{MaxConnectionsPerIP: n, MaxPendingPerIP: 1000})
	if err != nil {
		b.Fatal(err)
	}
	s.fan.writeInline = inline
	hs := httptest.NewServer(s)
	defer hs.Close()
	defer s.Close()

	child := startFrameClients(b, "ws"+strings.TrimPrefix(hs.URL, "http"), n)
	defer child.stop()

	// Two sets of positions, alternated, so that every batch moves every
	// marker.
	var sets [2][]Update
	for k := range sets {
		for i := 0; i < n; i += frameClientsPerCell {
			cell := frameGrid(i, n)
			for j := range frameOpsPerClient {
				fx := (float64(j) + 0.25 + 0.5*float64(k)) / (frameOpsPerClient + 1)
				pos := geo.Pt(cell.West+fx*(cell.East-cell.West), cell.South+0.5*(cell.North-cell.South))
				sets[k] = append(sets[k], Update{Marker: wire.Marker{ID: fmt.Sprintf("m%d-%d", i, j), Pos: pos}})
			}
		}
	}
	// The first batch adds the markers; then every batch moves them.
	if err := s.Apply(sets[1]); err != nil {
		b.Fatal(err)
	}
	waitFrames(b, s, s.counters.frames.Load()+int64(n))

	frames0, bytes0 := s.counters.frames.Load(), s.counters.bytesWritten.Load()
	writes0, created0 := processWrites(), goroutinesCreated()
	cpu0, user0 := processCPU(b), processUserCPU(b)
	start := time.Now()
	batches := 0
	for b.Loop() {
		want := s.counters.frames.Load() + int64(n)
		if err := s.Apply(sets[batches%2]); err != nil {
			b.Fatal(err)
		}
		batches++
		waitFrames(b, s, want)
	}
	wall := time.Since(start)
	cpu, user := processCPU(b)-cpu0, processUserCPU(b)-user0
	frames := s.counters.frames.Load() - frames0
	writes := processWrites() - writes0
	bytes := s.counters.bytesWritten.Load() - bytes0
	created := goroutinesCreated() - created0
	if st := s.Stats(); st.Resets > 0 || st.TooSlow > 0 {
		b.Fatalf("clients fell behind: %d resets, %d closed as too slow", st.Resets, st.TooSlow)
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(frames), "cpu-ns/frame")
	b.ReportMetric(float64(user.Nanoseconds())/float64(frames), "user-ns/frame")
	b.ReportMetric(float64(wall.Nanoseconds())/float64(frames), "wall-ns/frame")
	b.ReportMetric(float64(frames)/float64(batches), "frames/op")
	b.ReportMetric(float64(bytes)/float64(frames), "bytes/frame")
	b.ReportMetric(float64(created)/float64(frames), "goroutines/frame")
	if writes > 0 {
		b.ReportMetric(float64(writes)/float64(frames), "writes/frame")
	}
}

// goroutinesCreated returns how many goroutines this process started.
func goroutinesCreated() uint64 {
	m := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(m)
	if m[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return m[0].Value.Uint64()
}

// processWrites returns how many write system calls this process made
// (syscw in /proc/self/io), or 0 where that file is missing.
func processWrites() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "syscw:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// floorFrameBytes is the size of the frames benchWriteFloor writes: about
// the server's frame of frameOpsPerClient moves (its bytes/frame).
const floorFrameBytes = 44

// benchWriteFloor writes one frame to each of n loopback TCP connections
// per batch, from two goroutines (one per core here), and reports the CPU
// per write as BenchmarkFrameCost reports the server's per frame.
func benchWriteFloor(b *testing.B, n int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	accepted := make(chan error, 1)
	go func() {
		for len(conns) < n {
			c, err := ln.Accept()
			if err != nil {
				accepted <- err
				return
			}
			conns = append(conns, c)
		}
		accepted <- nil
	}()
	child := startFrameClients(b, "tcp://"+ln.Addr().String(), n)
	defer child.stop()
	if err := <-accepted; err != nil {
		b.Fatal(err)
	}
	frame := make([]byte, floorFrameBytes)
	frame[0], frame[1] = 0x82, floorFrameBytes-2 // a binary WebSocket frame's header
	const writers = 2
	writes0 := processWrites()
	cpu0, user0 := processCPU(b), processUserCPU(b)
	start := time.Now()
	batches := 0
	for b.Loop() {
		var wg sync.WaitGroup
		for k := range writers {
			wg.Go(func() {
				for i := k; i < n; i += writers {
					if _, err := conns[i].Write(frame); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		batches++
	}
	wall := time.Since(start)
	cpu, user := processCPU(b)-cpu0, processUserCPU(b)-user0
	writes := processWrites() - writes0
	frames := int64(batches) * int64(n)
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(frames), "cpu-ns/frame")
	b.ReportMetric(float64(user.Nanoseconds())/float64(frames), "user-ns/frame")
	b.ReportMetric(float64(wall.Nanoseconds())/float64(frames), "wall-ns/frame")
	b.ReportMetric(float64(n), "frames/op")
	b.ReportMetric(floorFrameBytes, "bytes/frame")
	if writes > 0 {
		b.ReportMetric(float64(writes)/float64(frames), "writes/frame")
	}
}

// waitFrames waits until the server has written want frames in all.
func waitFrames(b *testing.B, s *Server, want int64) {
	deadline := time.Now().Add(time.Minute)
	for s.counters.frames.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("%d frames written after a minute, want %d", s.counters.frames.Load(), want)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// processCPU returns the user and system CPU time of this process.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processUserCPU returns the user CPU time of this process: its CPU
// outside the kernel, where the server's own work per frame is, while the
// write system calls (and, on loopback, the receiving socket's work they
// do) are system time.
func processUserCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano())
}

// frameChild is the process running BenchmarkFrameCost's clients.
type frameChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startFrameClients starts n clients of url in a child process and
// returns once each has its view.
func startFrameClients(b *testing.B, url string, n int) *frameChild {
	cmd := exec.Command(os.Args[0], "-test.run=^TestFrameCostClients$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PUSHMAP_FRAME_URL="+url, "PUSHMAP_FRAME_CLIENTS="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := &frameChild{cmd: cmd, stdin: stdin}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if sc.Text() == "ready" {
			go io.Copy(io.Discard, stdout)
			return c
		}
		if strings.HasPrefix(sc.Text(), "failed") {
			c.stop()
			b.Fatalf("frame clients: %s", sc.Text())
		}
	}
	c.stop()
	b.Fatalf("the frame clients' process ended before its clients were ready")
	return nil
}

// stop ends the child: it exits when its stdin closes.
func (c *frameChild) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// TestFrameCostClients is BenchmarkFrameCost's child process: it runs only
// when started by it (PUSHMAP_FRAME_URL set). It dials the clients, each
// viewing its cell of frameGrid, prints "ready" once every one has its
// ViewAck, reads everything until stdin closes, and exits.
func TestFrameCostClients(t *testing.T) {
	url := os.Getenv("PUSHMAP_FRAME_URL")
	if url == "" {
		t.Skip("BenchmarkFrameCost's child process")
	}
	n, err := strconv.Atoi(os.Getenv("PUSHMAP_FRAME_CLIENTS"))
	if err != nil {
		fmt.Println("failed: PUSHMAP_FRAME_CLIENTS:", err)
		os.Exit(1)
	}
	if addr, ok := strings.CutPrefix(url, "tcp://"); ok {
		rawFrameClients(addr, n)
		return
	}
	hello, _ := wire.Marshal(wire.Hello{Version: wire.Version})
	ready := make(chan error, n)
	for i := range n {
		// Dial a few hundred at a time, below the server's cap on
		// connections waiting for their hello.
		if i >= 256 {
			if err := <-ready; err != nil {
				fmt.Println("failed:", err)
				os.Exit(1)
			}
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ws, _, err := websocket.Dial(ctx, url, nil)
			if err != nil {
				ready <- fmt.Errorf("client %d: dial: %w", i, err)
				return
			}
			ws.SetReadLimit(64 << 20)
			view, _ := wire.Marshal(wire.View{Box: frameGrid(i, n), Zoom: 16})
			if err := ws.Write(ctx, websocket.MessageBinary, hello); err != nil {
				ready <- fmt.Errorf("client %d: hello: %w", i, err)
				return
			}
			if err := ws.Write(ctx, websocket.MessageBinary, view); err != nil {
				ready <- fmt.Errorf("client %d: view: %w", i, err)
				return
			}
			signalled := false
			for {
				_, frame, err := ws.Read(context.Background())
				if err != nil {
					if !signalled {
						ready <- fmt.Errorf("client %d: %w", i, err)
					}
					return
				}
				if !signalled {
					if m, _ := wire.Unmarshal(frame); m != nil && m.Type() == wire.TypeViewAck {
						signalled = true
						ready <- nil
					}
				}
			}
		}()
	}
	for range min(n, 256) {
		if err := <-ready; err != nil {
			fmt.Println("failed:", err)
			os.Exit(1)
		}
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// rawFrameClients is TestFrameCostClients for benchWriteFloor: n plain
// TCP connections to addr, each reading everything, until stdin closes.
func rawFrameClients(addr string, n int) {
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Println("failed:", err)
			os.Exit(1)
		}
		go io.Copy(io.Discard, c)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}
