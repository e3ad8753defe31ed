// Package server is pushmap's server: an http.Handler that accepts the
// WebSocket connections of map clients, keeps every client's viewport in an
// R-tree, keeps every marker in another, and pushes each marker change only
// to the clients whose view holds it.
//
// Feeds change markers through Apply (Upsert and Remove are Apply of one
// update), which is safe for concurrent use. An update reads one way:
//
//	feed → Apply → marker store (server/internal/store) → change
//	     → fan-out to the views that see it → per-connection outbox
//	       (coalesced by marker id) → writer → WebSocket
//
// and a client's view change takes the same lock, so every client receives
// an exact, ordered stream: the markers its new view adds, then the changes
// inside its views. docs/protocol.md describes the wire format, and
// docs/design.md the packages and both paths.
package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/lograte"
	"github.com/pushmap/pushmap/internal/outbox"
	"github.com/pushmap/pushmap/server/internal/store"
	"github.com/pushmap/pushmap/wire"
	"github.com/tidwall/rtree"
)

// A Server pushes marker changes to the map clients that can see them. It is
// an http.Handler for the WebSocket endpoint: mount it where clients connect,
// e.g. mux.Handle("/ws", srv). All its methods are safe for concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger

	// mu guards the marker store, the viewport index, every connection's
	// views and layers, and enc. Lock order: mu, then an outbox's mu.
	mu    sync.Mutex
	store *store.Store            // guarded by mu: markers, point index, clusters, expiry
	views rtree.RTreeG[*viewPart] // guarded by mu: boxes of views in marker mode
	// viewSizes sums the sizes of the boxes in views, for the cells of a
	// batch's fan-out (fangrid.go); guarded by mu.
	viewSizes viewSizes
	conns     map[*conn]struct{} // guarded by mu
	enc       *wire.Encoder      // guarded by mu
	found     []*store.Record    // guarded by mu: scratch for searches

	expiryTimer *time.Timer // guarded by mu: fires at the store's next expiry
	stopped     bool        // guarded by mu: Close was called; arm no timer

	tileVersions map[string]uint64 // guarded by mu: per tile layer, its last change

	// fan delivers ops to outboxes, in batches: the writers to start wait
	// until the whole batch is in the outboxes, so that a client gets a
	// feed's batch in one frame rather than its first ops alone.
	fan fanOut // guarded by mu

	clusterViews rtree.RTreeG[*viewPart] // guarded by mu: boxes of views in cluster mode
	// The merged clusters of the views in cluster mode (clusters.go), all
	// guarded by mu: the sets views share, by key and by region; where
	// markers changed since the last flush; the flush's timer.
	clusterSets    map[clusterSetKey]*clusterSet
	clusterRegions rtree.RTreeG[*clusterSet]
	clusterDirty   []dirtyPlace
	clusterTimer   *time.Timer
	clusterArmed   bool
	clusterGen     uint32
	gatherShare    store.GatherShare // the cells a flush's merges share
	density        *densityLayer     // guarded by mu: nil unless Options.DensityLayer is set

	writes *outbox.Watchdog // bounds every write to a client

	// pageHold, when set by a test, is told how many markers each lock
	// hold of MarkersPage looked at.
	pageHold func(visited int)
	// interestCopied, when set by a test, is called by InterestIn once it
	// copied the views' boxes, before it covers them with tiles.
	interestCopied func()

	nconns    atomic.Int64 // connections admitted (past their hello)
	admission admission    // connections by state and address
	closing   atomic.Bool
	wg        sync.WaitGroup // connection readers and writers
	counters  counters
	refusals  refusals
}

type counters struct {
	accepted, refused, resets, tooSlow, stale, delivered, viewChanges, expired atomic.Int64
	frames, bytesWritten                                                       atomic.Int64
}

// Stats is a snapshot of a Server's state and counters.
type Stats struct {
	Connections int   // open WebSocket connections past their hello
	Pending     int   // WebSocket connections waiting for their hello
	Views       int   // view boxes in the index (a view across the antimeridian counts twice)
	Markers     int   // markers in the store
	Accepted    int64 // connections accepted since start
	Refused     int64 // connections refused after their hello (server full) or while shutting down
	Resets      int64 // resets sent to clients that fell behind
	TooSlow     int64 // clients closed with 4002 (too slow)
	Stale       int64 // upserts ignored because their version was not newer
	Delivered   int64 // ops handed to connections' outboxes, before coalescing: marker upserts and removes, cluster and tile changes
	ViewChanges int64 // views set or dropped by clients
	Expired     int64 // markers removed because their expiry passed (a TTL ran out, or Restore brought one already expired)

	// Refusals counts the clients and requests turned away since start,
	// by reason (every name of RefusalReasons, zeros included): server_full,
	// shutting_down, origin, bad_hello, bad_token, rate_limited, view_flood,
	// bad_messages, pending_full (MaxPending), per_ip (MaxConnectionsPerIP,
	// MaxPendingPerIP). Each is logged too, at most a few lines per second
	// per reason, then a summary.
	Refusals map[string]int64
	// Frames and BytesWritten count the WebSocket messages written to
	// clients, and their payload bytes.
	Frames       int64
	BytesWritten int64
	// OutboxBytes is the bytes waiting, unsent, in every connection's
	// outbox together, and OutboxMaxBytes the most waiting for one.
	OutboxBytes    int64
	OutboxMaxBytes int64
}

// New returns a Server configured by opts; nil means every default. It
// returns an error naming the first invalid option.
func New(opts *Options) (*Server, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:   o,
		log:    o.Logger,
		store:  store.New(o.ClusterZoom),
		conns:  make(map[*conn]struct{}),
		enc:    wire.NewEncoder(),
		writes: outbox.NewWatchdog(o.WriteTimeout),

		clusterSets: make(map[clusterSetKey]*clusterSet),
	}
	s.fan.inline = fanWorker{s: s, enc: s.enc}
	if o.DensityLayer != "" {
		s.density = newDensityLayer(o.DensityLayer, o.ClusterZoom)
	}
	s.refusals.log = lograte.New(o.Logger, 0, 0)
	return s, nil
}

// ServeHTTP upgrades the request to a WebSocket and returns: the client is
// served by a goroutine of its own until it leaves or the server shuts
// down. Returning frees what net/http holds for a request (its goroutine's
// stack, its read buffer), a third of an idle connection's memory.
//
// A connection is refused before the upgrade, with 503 Service Unavailable
// when Options.MaxPending connections are waiting for their hello, and 429
// Too Many Requests when its address has MaxConnectionsPerIP connections or
// MaxPendingPerIP waiting for their hello (both with Retry-After); after
// its hello, with close code 1013 (try again later) when MaxConnections
// clients are connected.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t, why, status, msg := s.enter(r.RemoteAddr)
	if t == nil {
		s.refuse(why, r.RemoteAddr, msg)
		refuseHTTP(w, status, msg)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	c := &conn{s: s}
	hj := &smallReads{ResponseWriter: sw, sock: &c.sockw}
	ws, err := websocket.Accept(hj, r, &websocket.AcceptOptions{
		OriginPatterns:  s.opts.OriginPatterns,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		s.leave(t)
		s.wg.Done()
		if sw.status == http.StatusForbidden { // the library's answer to a foreign Origin
			s.refuse(refusedOrigin, r.RemoteAddr, err.Error())
			return
		}
		s.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	c.init(ws, r.RemoteAddr)
	if c.sock = hj.sock; c.sock != nil {
		c.w.WriteWith(c.sock.WriteMessage)
	}
	c.ticket = t
	if s.opts.Authorize != nil {
		// The request's context ends when ServeHTTP returns; Authorize
		// gets one that keeps its values and lasts. Without Authorize
		// the request (its headers, its URL) is not kept at all.
		c.req = r.WithContext(context.WithoutCancel(r.Context()))
	}
	go func() { // counted in s.wg by enter
		defer s.wg.Done()
		defer s.leave(t)
		c.serve()
	}()
}

// readBufferSize is the read buffer of a client connection. Clients send
// little (hello, views of a few dozen bytes); a larger message is read
// through it in pieces.
const readBufferSize = 512

// controlBufferSize is the write buffer of a client connection whose
// messages are framed by the server (sockWriter): the WebSocket library
// writes control frames through it, at most 127 bytes each.
const controlBufferSize = 256

// smallReads makes the hijacked connection read through a readBufferSize
// buffer instead of net/http's 4 KiB one, which an idle connection would
// keep for life, and write through a sockWriter where it can (see
// writeRun).
type smallReads struct {
	http.ResponseWriter
	// sock is the memory of the connection's sockWriter, set up by
	// Hijack; nil after it when the connection writes to the net.Conn.
	sock *sockWriter
}

func (w *smallReads) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hands over the connection with a small read buffer primed with
// whatever net/http had read past the request already.
func (w *smallReads) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Where the server can see the socket (and net/http left nothing
	// in its write buffer), the library writes to a sockWriter instead.
	if brw.Writer.Buffered() == 0 && w.sock.init(conn) {
		// The library writes only control frames through it now (see
		// sockWriter): a buffer for one, instead of net/http's 4 KiB
		// kept for the connection's life.
		brw.Writer = bufio.NewWriterSize(w.sock, controlBufferSize)
	} else {
		w.sock = nil
	}
	// net/http clears the deadlines of its ReadTimeout and WriteTimeout
	// at the hijack: they bound the upgrade request, not the WebSocket,
	// whose reads and writes have bounds of their own.
	n := brw.Reader.Buffered()
	if n == 0 {
		return conn, bufio.NewReadWriter(bufio.NewReaderSize(conn, readBufferSize), brw.Writer), nil
	}
	early, _ := brw.Reader.Peek(n)
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(early)), conn), max(readBufferSize, n))
	// Fill the buffer with those bytes alone, so that they count as
	// buffered: the WebSocket library takes over what is buffered.
	if _, err := br.Peek(n); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, bufio.NewReadWriter(br, brw.Writer), nil
}

// statusWriter remembers the status of a response that was not upgraded.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Stats returns the server's current state and counters. It looks at every
// connection's outbox: call it every few seconds, not per request.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	st := Stats{Connections: len(s.conns), Views: s.views.Len() + s.clusterViews.Len(), Markers: s.store.Len()}
	s.mu.Unlock()
	for _, c := range s.connList() {
		n := int64(c.out.Bytes())
		st.OutboxBytes += n
		st.OutboxMaxBytes = max(st.OutboxMaxBytes, n)
	}
	_, st.Refusals = s.refusals.snapshot()
	st.Frames = s.counters.frames.Load()
	st.BytesWritten = s.counters.bytesWritten.Load()
	st.Accepted = s.counters.accepted.Load()
	st.Refused = s.counters.refused.Load()
	s.admission.mu.Lock()
	st.Pending = s.admission.pending
	s.admission.mu.Unlock()
	st.Resets = s.counters.resets.Load()
	st.TooSlow = s.counters.tooSlow.Load()
	st.Stale = s.counters.stale.Load()
	st.Delivered = s.counters.delivered.Load()
	st.ViewChanges = s.counters.viewChanges.Load()
	st.Expired = s.counters.expired.Load()
	return st
}

// Shutdown stops accepting connections, closes every client with 1001
// (going away) and waits until their goroutines are gone or ctx ends. The
// marker store stays usable. Mount the server in an http.Server and call
// its Shutdown too: hijacked WebSocket connections are not its business.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopAdmitting()
	for _, c := range s.connList() {
		go c.close(websocket.StatusGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range s.connList() {
			c.ws.CloseNow()
		}
		return ctx.Err()
	}
}

// Close closes every connection at once, without a closing handshake, and
// waits for their goroutines. Markers stop expiring.
func (s *Server) Close() error {
	s.stopAdmitting()
	defer s.refusals.log.Flush()
	s.mu.Lock()
	s.stopped = true
	if s.clusterTimer != nil {
		s.clusterTimer.Stop()
	}
	if s.expiryTimer != nil {
		s.expiryTimer.Stop()
	}
	s.mu.Unlock()
	for _, c := range s.connList() {
		c.ws.CloseNow()
	}
	s.wg.Wait()
	return nil
}

func (s *Server) connList() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	return cs
}

func (o *Options) withDefaults() (Options, error) {
	var r Options
	if o != nil {
		r = *o
	}
	ints := []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxConnections", &r.MaxConnections, 100000},
		{"MaxPending", &r.MaxPending, 1000},
		{"MaxConnectionsPerIP", &r.MaxConnectionsPerIP, 5000},
		{"MaxPendingPerIP", &r.MaxPendingPerIP, 100},
		{"MaxViews", &r.MaxViews, 4},
		{"ViewBurst", &r.ViewBurst, 40},
		{"Budget", &r.Budget, 5000},
		{"OutboxBytes", &r.OutboxBytes, 4 << 20},
		{"MaxSendFrameBytes", &r.MaxSendFrameBytes, 1 << 20},
	}
	for _, f := range ints {
		if *f.v < 0 {
			return r, fmt.Errorf("server: option %s is %d, must not be negative", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if r.MaxSendFrameBytes < wire.MinFrameBytes {
		return r, fmt.Errorf("server: option MaxSendFrameBytes is %d, must be at least %d", r.MaxSendFrameBytes, wire.MinFrameBytes)
	}
	if r.ClusterZoom < 0 || r.ClusterZoom > geo.MaxZoom {
		return r, fmt.Errorf("server: option ClusterZoom is %d, must be in [0, %d]", r.ClusterZoom, geo.MaxZoom)
	}
	if r.ClusterZoom == 0 {
		r.ClusterZoom = 14
	}
	if r.MaxViews > wire.MaxViewID+1 {
		return r, fmt.Errorf("server: option MaxViews is %d, at most %d", r.MaxViews, wire.MaxViewID+1)
	}
	if r.MaxFrameBytes < 0 {
		return r, fmt.Errorf("server: option MaxFrameBytes is %d, must not be negative", r.MaxFrameBytes)
	}
	if r.MaxFrameBytes == 0 {
		r.MaxFrameBytes = 16 << 10
	}
	if r.ViewRate < 0 {
		return r, fmt.Errorf("server: option ViewRate is %v, must not be negative", r.ViewRate)
	}
	if r.ViewRate == 0 {
		r.ViewRate = 20
	}
	durs := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"WriteTimeout", &r.WriteTimeout, 10 * time.Second}, {"HelloTimeout", &r.HelloTimeout, 10 * time.Second},
		{"ClusterInterval", &r.ClusterInterval, 100 * time.Millisecond}}
	for _, f := range durs {
		if *f.v < 0 {
			return r, fmt.Errorf("server: option %s is %v, must not be negative", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	return r, nil
}

var errClosed = errors.New("connection closed")
