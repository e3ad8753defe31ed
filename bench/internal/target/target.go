// Package target is the server under test of pushmap's load benchmark, run
// in a process of its own (`pushmap-bench target`): the pushmap server, or
// one of the baselines of package baseline, fed through pushmap's real HTTP
// ingest (package server/ingest) mounted at /feed/ as `pushmap serve
// --feed-keys` mounts it.
package target

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/pushmap/pushmap/bench/internal/baseline"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/ingest"
	"github.com/pushmap/pushmap/server/redisfeed"
	"github.com/pushmap/pushmap/server/wal"
	"github.com/pushmap/pushmap/wire"
)

// Kinds of target.
const (
	KindPushmap   = "pushmap"   // the pushmap server, with default options
	KindTiles     = "tiles"     // baseline.Tiles
	KindBroadcast = "broadcast" // baseline.Broadcast
	KindPoll      = "poll"      // baseline.Poll
	KindFloor     = "floor"     // baseline.Floor: not shippable, the floor
)

// Paths a target serves.
const (
	PathWS    = "/ws"           // the WebSocket endpoint
	PathFeed  = "/feed/markers" // the ingest: POST upserts (with FeedKey); GET ?bbox= the markers in a box (pushmap only)
	PathPoll  = "/poll/markers" // KindPoll: GET ?bbox=&since= the changes in a box (baseline.Poll)
	PathStats = "/bench/stats"  // GET: goroutines, heap and the server's counters as JSON
	PathGC    = "/bench/gc"     // POST: collect garbage and return memory to the system
	// PathApplied (a cluster node): GET ?entries=N answers once the node
	// has applied N stream entries (204), or after 10s (504).
	PathApplied = "/bench/applied"
)

// FeedKey is the ingest's feed key in a target.
const FeedKey = "pushmap-bench-feed-key"

// About describes the command that runs Main.
const About = `Runs a server under test for pushmap-bench, which starts it in a process
of its own: -kind pushmap (the pushmap server with default options, plus the
HTTP ingest at /feed/, whose GET /feed/markers?bbox= is the polling
endpoint), tiles (a tile-channel broker), broadcast, poll (a polling
endpoint of changes since a cursor at /poll/markers), or floor (the leanest
server pushmap's bench clients accept: not shippable, the floor); the
baselines too are
fed through the ingest (POST /feed/markers, upserts only). With -redis, a
pushmap target is a node of a cluster on that Redis, fed through the stream
as pushmap serve --redis-mode cluster is. Every kind answers
GET /bench/stats and POST /bench/gc. It prints "listening host:port" and
serves until its standard input closes or ctx ends.
`

// Main runs a target with the command line args until stdin closes or ctx
// ends, and returns the exit status: 0, 1 when it cannot run, 2 for a bad
// command line.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pushmap-bench target", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: pushmap-bench target [flags]\n\n%s\nFlags:\n", About)
		fs.PrintDefaults()
	}
	kind := fs.String("kind", KindPushmap, "pushmap, tiles, broadcast, poll or floor")
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	maxConns := fs.Int("max-connections", 100000, "pushmap: most WebSocket connections")
	tileZoom := fs.Int("tile-zoom", 14, "tiles: zoom of the channels' tiles")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	dataDir := fs.String("data-dir", "", "pushmap: the write-ahead log's directory, as pushmap serve --data-dir (fsync always); empty: in memory")
	redisURL := fs.String("redis", "", "pushmap: a node of a cluster on the Redis at this URL, as pushmap serve --redis URL --redis-mode cluster (docs/cluster.md)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "pushmap-bench target: %v\n", err)
		return 1
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if _, err := RaiseFileLimit(); err != nil {
		return fail(err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	mux := http.NewServeMux()
	var closeAll func()
	var feed ingest.Feed
	stats := func() map[string]any { return map[string]any{} }
	switch *kind {
	case KindPushmap:
		// The bench's clients come from a few local addresses (127.0.0.x):
		// no per-address limit below the total.
		srv, err := server.New(&server.Options{Logger: log, MaxConnections: *maxConns,
			MaxConnectionsPerIP: *maxConns, MaxPendingPerIP: min(*maxConns, 1000)})
		if err != nil {
			return fail(err)
		}
		mux.Handle("GET "+PathWS, srv)
		feed = srv
		closeAll = func() { srv.Close() }
		var cl *redisfeed.Cluster
		if *dataDir != "" && *redisURL != "" {
			srv.Close()
			fmt.Fprintln(stderr, "pushmap-bench target: -data-dir and -redis are exclusive, as pushmap serve's --data-dir and --redis-mode cluster")
			return 2
		}
		if *redisURL != "" {
			counted := &countingStore{Server: srv, moved: make(chan struct{})}
			mux.HandleFunc("GET "+PathApplied, counted.serveApplied)
			c, err := redisfeed.NewCluster(*redisURL, counted, &redisfeed.ClusterOptions{Logger: log})
			if err != nil {
				srv.Close()
				return fail(err)
			}
			tailCtx, stopTail := context.WithCancel(context.Background())
			tailed := make(chan struct{})
			go func() {
				defer close(tailed)
				if err := c.Run(tailCtx); err != nil && !errors.Is(err, context.Canceled) {
					log.Error("cluster tail stopped", "err", err)
				}
			}()
			feed = clusterFeed{srv, c}
			closeAll = func() { stopTail(); <-tailed; c.Close(); srv.Close() }
			cl = c
		}
		if *dataDir != "" {
			l, err := wal.Open(srv, wal.Options{Dir: *dataDir, Logger: log})
			if err != nil {
				srv.Close()
				return fail(err)
			}
			feed = durableFeed{srv, l}
			closeAll = func() { srv.Close(); l.Close() }
		}
		stats = func() map[string]any {
			st := srv.Stats()
			m := map[string]any{"connections": st.Connections, "views": st.Views, "markers": st.Markers,
				"delivered": st.Delivered, "resets": st.Resets, "tooSlow": st.TooSlow}
			if cl != nil {
				cs := cl.Stats()
				m["clusterEntries"], m["clusterResyncs"], m["clusterErrors"] = cs.Entries, cs.Resyncs, cs.Errors
			}
			return m
		}
	case KindTiles:
		t, err := baseline.NewTiles(*tileZoom, &baseline.Options{Logger: log})
		if err != nil {
			return fail(err)
		}
		mux.Handle("GET "+PathWS, t)
		feed = brokerFeed{t.Publish}
		closeAll = t.Close
		stats = func() map[string]any { return map[string]any{"channels": t.Channels()} }
	case KindBroadcast:
		b := baseline.NewBroadcast(&baseline.Options{Logger: log})
		mux.Handle("GET "+PathWS, b)
		feed = brokerFeed{b.Publish}
		closeAll = b.Close
	case KindFloor:
		f := baseline.NewFloor()
		mux.Handle("GET "+PathWS, f)
		feed = brokerFeed{f.Publish}
		closeAll = f.Close
	case KindPoll:
		p := baseline.NewPoll(0)
		mux.Handle("GET "+PathPoll, p)
		feed = brokerFeed{p.Publish}
		closeAll = func() {}
	default:
		fmt.Fprintf(stderr, "pushmap-bench target: unknown -kind %q\n", *kind)
		return 2
	}
	h, err := ingest.New(feed, &ingest.Options{Keys: []ingest.Key{{Secret: FeedKey}}, Logger: log})
	if err != nil {
		closeAll()
		return fail(err)
	}
	mux.Handle("/feed/", http.StripPrefix("/feed", h))
	mux.HandleFunc("GET "+PathStats, func(w http.ResponseWriter, _ *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st := stats()
		st["goroutines"] = runtime.NumGoroutine()
		st["heapInuse"] = ms.HeapInuse
		st["stackInuse"] = ms.StackInuse
		st["sys"] = ms.Sys
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("POST "+PathGC, func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		debug.FreeOSMemory()
		w.WriteHeader(http.StatusNoContent)
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		closeAll()
		return fail(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())

	// The generator closes our standard input to stop us.
	stdinClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, stdin)
		close(stdinClosed)
	}()
	code := 0
	select {
	case <-ctx.Done():
	case <-stdinClosed:
	case err := <-served:
		fmt.Fprintf(stderr, "pushmap-bench target: %v\n", err)
		code = 1
	}
	closeAll()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	return code
}

// durableFeed is the pushmap server fed through its write-ahead log, as
// pushmap serve --data-dir feeds it.
type durableFeed struct {
	*server.Server
	log *wal.Log
}

func (f durableFeed) Apply(updates []server.Update) error { return f.log.Apply(updates) }
func (f durableFeed) ApplyLayers(layers []string, updates []server.Update) error {
	return f.log.ApplyLayers(layers, updates)
}

// clusterFeed is the pushmap server fed through the cluster's stream, as
// pushmap serve --redis-mode cluster feeds it: a batch is answered once
// Redis has it and this node's tail applied it.
type clusterFeed struct {
	*server.Server
	cluster *redisfeed.Cluster
}

func (f clusterFeed) Apply(updates []server.Update) error { return f.cluster.Apply(updates) }
func (f clusterFeed) ApplyLayers(layers []string, updates []server.Update) error {
	return f.cluster.ApplyLayers(layers, updates)
}

// countingStore is a cluster node's store that counts the batches applied
// (one per stream entry), so that the generator can learn when every node
// applied a feed request (PathApplied).
type countingStore struct {
	*server.Server
	mu      sync.Mutex
	applied int64         // guarded by mu
	moved   chan struct{} // guarded by mu: closed and replaced when applied moves
}

func (s *countingStore) Apply(updates []server.Update) error {
	err := s.Server.Apply(updates)
	s.mu.Lock()
	s.applied++
	close(s.moved)
	s.moved = make(chan struct{})
	s.mu.Unlock()
	return err
}

func (s *countingStore) serveApplied(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.URL.Query().Get("entries"), 10, 64)
	if err != nil {
		http.Error(w, fmt.Sprintf("entries=%q: want a count", r.URL.Query().Get("entries")), http.StatusBadRequest)
		return
	}
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		s.mu.Lock()
		done, moved := s.applied >= n, s.moved
		s.mu.Unlock()
		if done {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		select {
		case <-moved:
		case <-timeout.C:
			s.mu.Lock()
			applied := s.applied
			s.mu.Unlock()
			http.Error(w, fmt.Sprintf("%d of %d entries applied after 10s", applied, n), http.StatusGatewayTimeout)
			return
		case <-r.Context().Done():
			return
		}
	}
}

// brokerFeed feeds a baseline broker through the ingest: upserts only.
type brokerFeed struct {
	publish func([]wire.Marker) error
}

var _ ingest.Feed = brokerFeed{}

var errUnsupported = errors.New("a baseline broker takes marker upserts only")

func (f brokerFeed) Apply(us []server.Update) error {
	ms := make([]wire.Marker, len(us))
	for i, u := range us {
		if u.Remove || u.TTL != 0 {
			return errUnsupported
		}
		ms[i] = u.Marker
	}
	return f.publish(ms)
}

func (brokerFeed) ApplyLayers([]string, []server.Update) error        { return errUnsupported }
func (brokerFeed) InvalidateTiles(string, ...geo.Tile) error          { return errUnsupported }
func (brokerFeed) InvalidateBox(string, geo.Box) error                { return errUnsupported }
func (brokerFeed) InterestIn(int, []string) ([]server.Watched, error) { return nil, errUnsupported }
func (brokerFeed) MarkersPage(server.MarkersQuery) (server.Page, error) {
	return server.Page{}, errUnsupported
}

// RaiseFileLimit raises this process's soft limit on open files to its
// hard limit and returns the new limit. Raising the hard limit needs
// CAP_SYS_RESOURCE; without it the hard limit is what a process gets.
func RaiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, err
		}
	}
	return l.Cur, nil
}
