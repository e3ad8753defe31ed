package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/bench/internal/target"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// IdleOptions configure an idle-connection test: Conns pushmap clients,
// each greeted and holding one view, that then stay silent.
type IdleOptions struct {
	Conns int
	// PerProcess caps the connections of one process: a process cannot
	// hold more files than its RLIMIT_NOFILE, so Conns are spread over
	// ⌈Conns/PerProcess⌉ server processes, each with a dialer process of
	// its own.
	PerProcess int
	Region     geo.Box
	View       [2]float64
	// Target returns the command of a pushmap target, as Env.Target;
	// Dialer the command `pushmap-bench dial args...` (see Hold).
	Target  func(kind string, args ...string) *exec.Cmd
	Dialer  func(args ...string) *exec.Cmd
	Sources []net.IP // one per dialer process, in turn
	Log     io.Writer
}

// IdleResult is what an idle-connection test measured.
type IdleResult struct {
	Conns        int     `json:"conns"`
	Servers      int     `json:"servers"` // server processes
	FileLimit    uint64  `json:"fileLimit"`
	DialSec      float64 `json:"dialSec"`    // to connect and greet every client
	RSSBefore    int64   `json:"rssBefore"`  // bytes, all servers, before any client
	RSSAfter     int64   `json:"rssAfter"`   // with every client
	RSSAfterGC   int64   `json:"rssAfterGc"` // with every client, after a forced GC
	PerConn      float64 `json:"perConn"`    // (RSSAfter - RSSBefore) / Conns
	PerConnGC    float64 `json:"perConnGc"`  // (RSSAfterGC - RSSBefore) / Conns
	Goroutines   float64 `json:"goroutinesPerConn"`
	HeapPerConn  float64 `json:"heapPerConn"`  // Go heap in use per connection
	StackPerConn float64 `json:"stackPerConn"` // goroutine stacks per connection
}

// Idle runs an idle-connection test.
func Idle(ctx context.Context, o IdleOptions) (*IdleResult, error) {
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	n := (o.Conns + o.PerProcess - 1) / o.PerProcess
	res := &IdleResult{Conns: o.Conns, Servers: n}
	res.FileLimit, _ = target.RaiseFileLimit()
	var servers, dialers []*Process
	defer func() {
		for _, p := range dialers {
			p.Stop()
		}
		for _, p := range servers {
			p.Stop()
		}
	}()
	hc := &http.Client{}
	defer hc.CloseIdleConnections()
	for range n {
		p, err := StartProcess(o.Target(target.KindPushmap, "-max-connections", strconv.Itoa(o.PerProcess+10)), "listening", o.Log, 30*time.Second)
		if err != nil {
			return nil, err
		}
		servers = append(servers, p)
	}
	before, _, err := idleRSS(hc, servers, true)
	if err != nil {
		return nil, err
	}
	res.RSSBefore = before
	logf("idle: %d connections over %d server processes", o.Conns, n)
	start := time.Now()
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for i, srv := range servers {
		count := min(o.PerProcess, o.Conns-i*o.PerProcess)
		args := []string{"-url", "ws://" + srv.Addr + target.PathWS, "-n", strconv.Itoa(count),
			"-region", fmt.Sprintf("%g,%g,%g,%g", o.Region.West, o.Region.South, o.Region.East, o.Region.North),
			"-view", fmt.Sprintf("%gx%g", o.View[0], o.View[1]), "-seed", strconv.Itoa(i)}
		if len(o.Sources) > 0 {
			args = append(args, "-src", o.Sources[i%len(o.Sources)].String())
		}
		wg.Go(func() {
			p, err := StartProcess(o.Dialer(args...), "ready", o.Log, 10*time.Minute)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			dialers = append(dialers, p)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	res.DialSec = time.Since(start).Seconds()
	time.Sleep(2 * time.Second)
	if res.RSSAfter, _, err = idleRSS(hc, servers, false); err != nil {
		return nil, err
	}
	var st idleStats
	if res.RSSAfterGC, st, err = idleRSS(hc, servers, true); err != nil {
		return nil, err
	}
	c := float64(o.Conns)
	res.PerConn = float64(res.RSSAfter-res.RSSBefore) / c
	res.PerConnGC = float64(res.RSSAfterGC-res.RSSBefore) / c
	res.Goroutines = float64(st.Goroutines) / c
	res.HeapPerConn = float64(st.HeapInuse) / c
	res.StackPerConn = float64(st.StackInuse) / c
	logf("idle: %d connections in %.1fs; RSS %.1f KB per connection (%.1f KB after GC), %.2f goroutines per connection",
		o.Conns, res.DialSec, res.PerConn/1024, res.PerConnGC/1024, res.Goroutines)
	return res, nil
}

type idleStats struct {
	Goroutines int    `json:"goroutines"`
	HeapInuse  uint64 `json:"heapInuse"`
	StackInuse uint64 `json:"stackInuse"`
}

// idleRSS returns the summed RSS and stats of servers, after a forced GC
// when gc is set.
func idleRSS(hc *http.Client, servers []*Process, gc bool) (int64, idleStats, error) {
	var rss int64
	var sum idleStats
	for _, p := range servers {
		base := "http://" + p.Addr
		if gc {
			resp, err := hc.Post(base+target.PathGC, "", nil)
			if err != nil {
				return 0, sum, err
			}
			resp.Body.Close()
		}
		resp, err := hc.Get(base + target.PathStats)
		if err != nil {
			return 0, sum, err
		}
		var st idleStats
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			return 0, sum, err
		}
		sum.Goroutines += st.Goroutines
		sum.HeapInuse += st.HeapInuse
		sum.StackInuse += st.StackInuse
		pr, err := ReadProc(p.PID)
		if err != nil {
			return 0, sum, err
		}
		rss += pr.RSS
	}
	return rss, sum, nil
}

// HoldOptions configure Hold.
type HoldOptions struct {
	URL    string // the pushmap WebSocket endpoint
	N      int
	Src    net.IP // local address to dial from; nil for any
	Region geo.Box
	View   [2]float64
	Seed   uint64
}

// Hold opens o.N pushmap connections, each greeted and given a random view
// of the region, and returns once every view is acknowledged, with a
// function that closes them all. The connections read (and so answer
// pings and closes) but send nothing more.
func Hold(ctx context.Context, o HoldOptions) (stop func(), err error) {
	d := newDialer(o.Src)
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	var mu sync.Mutex
	var conns []*websocket.Conn
	var readers sync.WaitGroup
	closeAll := func() {
		mu.Lock()
		for _, c := range conns {
			c.CloseNow()
		}
		mu.Unlock()
		readers.Wait()
		hc.CloseIdleConnections()
	}
	hello, _ := wire.Marshal(wire.Hello{Version: wire.Version})
	failed, errs := inParallel(o.N, 64, 3, func(i int) error {
		rng := rand.New(rand.NewPCG(o.Seed, uint64(i)))
		x := o.Region.West + rng.Float64()*(o.Region.East-o.Region.West-o.View[0])
		y := o.Region.South + rng.Float64()*(o.Region.North-o.Region.South-o.View[1])
		view, _ := wire.Marshal(wire.View{Box: geo.BBox(x, y, x+o.View[0], y+o.View[1]), Zoom: 14})
		c, err := holdOne(ctx, hc, o.URL, hello, view)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		readers.Go(func() {
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					return
				}
			}
		})
		return nil
	})
	if failed > 0 {
		closeAll()
		return nil, fmt.Errorf("loadgen: %d connections failed: %w", failed, errors.Join(errs...))
	}
	return closeAll, nil
}

func holdOne(ctx context.Context, hc *http.Client, url string, hello, view []byte) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(-1)
	if err := c.Write(ctx, websocket.MessageBinary, hello); err != nil {
		c.CloseNow()
		return nil, err
	}
	if err := c.Write(ctx, websocket.MessageBinary, view); err != nil {
		c.CloseNow()
		return nil, err
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			c.CloseNow()
			return nil, err
		}
		if f, err := parseFrame(b); err == nil && f.typ == int(wire.TypeViewAck) {
			return c, nil
		}
	}
}
