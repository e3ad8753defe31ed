package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/ingest"
	"github.com/pushmap/pushmap/server/redisfeed"
	"github.com/pushmap/pushmap/server/wal"
	"github.com/pushmap/pushmap/web"
)

// shutdownTimeout bounds a graceful shutdown: closing every client with 1001
// (going away), then the HTTP server's other connections. Connections still
// open after it are closed at once.
const shutdownTimeout = 10 * time.Second

// A node is one pushmap server with what serve or demo puts around it.
type node struct {
	cmd  string // "serve" or "demo", for messages
	cfg  *config
	log  *slog.Logger
	srv  *server.Server
	page http.Handler // served at "/", or nil

	// authorize checks the credential of every client read — the
	// WebSocket's hello and the HTTP read paths — and says what it may
	// read; nil when client auth is off and anyone may read everything.
	authorize auth.Authorizer
	verifier  *auth.Verifier // behind authorize, or nil; closed by close
	maxOpen   int            // most connections open at once (the open-files limit); 0: no cap

	ingest http.Handler        // the HTTP ingest, served at /feed/, or nil
	redis  *redisfeed.Consumer // the Redis stream emitter, or nil
	// cluster, with --cluster, is this node of the cluster on Redis: the
	// feeds' writes go through its stream, and it tails the stream.
	cluster *redisfeed.Cluster
	wal     *wal.Log // the write-ahead log of --data-dir, or nil

	metrics *metrics  // served at /metrics
	timed   timedFeed // the server as the feeds see it: their Apply calls timed
	ops     *opsAuth  // guards /stats and /metrics

	// feed, when not nil, runs beside the server until its context ends;
	// an error other than that context's ends the node with status 1.
	feed func(ctx context.Context) error
	// listening, when not nil, is called with the base URL (ending in "/")
	// once the node accepts connections.
	listening func(url string)
}

// newNode parses the flags of cmd, whose help says about, and returns the
// node they describe, not yet listening; runNode, or else n.close, ends
// it. When it returns nil the command is over with exit status code.
func (x *cli) newNode(cmd, about string, args []string) (_ *node, code int) {
	cfg, code := x.config(cmd, about, args)
	if cfg == nil {
		return nil, code
	}
	log := cfg.logger(x.stderr)
	maxOpen, err := fitFileLimit(&cfg.server, log)
	if err != nil {
		fmt.Fprintf(x.stderr, "pushmap %s: %v\n", cmd, err)
		return nil, 1
	}
	n := &node{cmd: cmd, cfg: cfg, log: log, maxOpen: maxOpen}
	verifier, err := cfg.newVerifier(log)
	if err != nil {
		fmt.Fprintf(x.stderr, "pushmap %s: %v\n", cmd, err)
		return nil, 2
	}
	if verifier != nil {
		n.verifier, n.authorize = verifier, verifier.Authorize
	}
	n.srv, err = cfg.newServer(log, n.authorize)
	if err != nil { // the flags are checked already; this is a bug, not a usage error
		fmt.Fprintf(x.stderr, "pushmap %s: %v\n", cmd, err)
		n.close()
		return nil, 1
	}
	n.metrics = newMetrics(n.srv, nil)
	if cfg.dataDir != "" {
		if n.wal, err = cfg.openLog(n.srv, log); err != nil {
			fmt.Fprintf(x.stderr, "pushmap %s: --data-dir: %v\n", cmd, err)
			n.close()
			return nil, 1
		}
	}
	n.timed = timedFeed{n.srv, n.metrics, nil}
	if n.wal != nil {
		n.timed.via = n.wal
	}
	if err := n.setUpFeeds(); err != nil {
		fmt.Fprintf(x.stderr, "pushmap %s: %v\n", cmd, err)
		n.close()
		return nil, 2
	}
	n.metrics.redis = n.redis
	if n.ops, err = newOpsAuth(cfg.opsKeys, n.srv.AuthRequired()); err != nil {
		fmt.Fprintf(x.stderr, "pushmap %s: --ops-keys: %v\n", cmd, err)
		n.close()
		return nil, 2
	}
	return n, 0
}

// close closes n's server, if any, stops its credential verifier and
// closes its log.
func (n *node) close() {
	if n.srv != nil {
		n.srv.Close()
	}
	if n.verifier != nil {
		n.verifier.Close()
	}
	n.closeLog()
	if n.cluster != nil {
		n.cluster.Close()
	}
}

// closeLog makes what the log holds durable and closes it; feeds writing
// later get an error. Closing it twice does nothing.
func (n *node) closeLog() {
	if n.wal == nil {
		return
	}
	if err := n.wal.Close(); err != nil {
		n.log.Error("closing the log", "dir", n.cfg.dataDir, "err", err)
	}
}

// setUpFeeds makes the HTTP ingest and the Redis consumer the flags ask for.
func (n *node) setUpFeeds() error {
	keys, err := n.cfg.allFeedKeys()
	if err != nil {
		return err
	}
	readKeys, err := n.cfg.allReadKeys()
	if err != nil {
		return err
	}
	if n.cfg.redisMode == "cluster" {
		if n.cfg.redis == "" {
			return errors.New("--redis-mode cluster needs --redis")
		}
		if n.wal != nil {
			return errors.New("--redis-mode cluster keeps markers durable in Redis; --data-dir is for a single node: give one of them")
		}
		c, err := redisfeed.NewCluster(n.cfg.redis, n.srv, &redisfeed.ClusterOptions{
			Stream: n.cfg.redisStream, SnapshotEvery: n.cfg.clusterSnapshot, Logger: n.log})
		if err != nil {
			return fmt.Errorf("--redis: %w", err)
		}
		n.cluster = c
		n.timed.via = c
	} else if n.cfg.redis != "" {
		c, err := redisfeed.New(n.cfg.redis, n.timed, &redisfeed.Options{
			Stream: n.cfg.redisStream, Group: n.cfg.redisGroup, Consumer: n.cfg.redisConsumer,
			ClaimIdle: claimIdle(n.cfg.redisClaimIdle), Logger: n.log})
		if err != nil {
			return fmt.Errorf("--redis: %w", err)
		}
		n.redis = c
	}
	if len(keys) > 0 {
		// GET /feed/markers applies the grants of the WebSocket's clients.
		h, err := ingest.New(n.timed, &ingest.Options{Keys: keys, ReadKeys: readKeys,
			Authorize: n.authorize, Logger: n.log})
		if err != nil {
			return fmt.Errorf("--feed-keys: %w", err)
		}
		n.ingest = n.metrics.countRequests(http.StripPrefix("/feed", h))
	}
	return nil
}

// runNode serves n until ctx ends (or the HTTP server or the feed fails),
// then shuts it down gracefully, and returns the exit status.
func (x *cli) runNode(ctx context.Context, n *node) int {
	ln, err := x.listen("tcp", n.cfg.addr)
	if err != nil {
		n.log.Error("cannot listen", "addr", n.cfg.addr, "err", err)
		return 1
	}
	if n.maxOpen > 0 {
		ln = &cappedListener{Listener: ln, max: int64(n.maxOpen), log: n.log}
	}
	ep := &endpoints{srv: n.srv, started: time.Now(), log: n.log}
	if n.redis != nil {
		ep.redis = n.redis
	} else if n.cluster != nil {
		ep.redis = n.cluster
	}
	// The timeouts bound plain HTTP requests; a WebSocket clears them when
	// it takes its connection over (server.Server's hijack), and has
	// bounds of its own (--hello-timeout, --write-timeout).
	lim := n.cfg.http
	hs := &http.Server{
		Handler:           n.mux(ep),
		ReadHeaderTimeout: lim.readHeaderTimeout,
		ReadTimeout:       lim.readTimeout,
		WriteTimeout:      lim.writeTimeout,
		IdleTimeout:       lim.idleTimeout,
		MaxHeaderBytes:    lim.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}

	var fed chan error // nil, which never delivers, when there is no feed
	feedCtx, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	if n.cfg.server.DensityLayer != "" {
		go flushDensity(feedCtx, n.srv)
	}
	redisDone := make(chan struct{})
	if n.redis != nil {
		n.log.Info("reading the Redis stream", "stream", n.cfg.redisStream, "group", n.cfg.redisGroup)
		go func() {
			defer close(redisDone)
			if err := n.redis.Run(feedCtx); err != nil && !errors.Is(err, context.Canceled) {
				n.log.Error("Redis stream emitter stopped", "err", err)
			}
		}()
	} else if n.cluster != nil {
		n.log.Info("cluster node on the Redis stream", "stream", n.cfg.redisStream)
		go func() {
			defer close(redisDone)
			if err := n.cluster.Run(feedCtx); err != nil && !errors.Is(err, context.Canceled) {
				n.log.Error("cluster tail stopped", "err", err)
			}
		}()
	} else {
		close(redisDone)
	}
	if n.ingest != nil {
		n.log.Info("HTTP ingest on", "path", "/feed/")
	}
	if n.feed != nil {
		fed = make(chan error, 1)
		go func() { fed <- n.feed(feedCtx) }()
	}

	// Say where before serving: once a request is answered, the URL is out.
	url := baseURL(n.cfg.addr, ln.Addr())
	ws := "ws" + strings.TrimPrefix(strings.TrimSuffix(url, "/"), "http") + n.cfg.wsPath
	n.log.Info("listening", "addr", ln.Addr().String(), "url", url, "ws", ws)
	if n.listening != nil {
		n.listening(url)
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	code := 0
	select {
	case <-ctx.Done():
		n.log.Info("shutting down", "cause", context.Cause(ctx), "timeout", shutdownTimeout.String())
	case err := <-served:
		served = nil
		n.log.Error("HTTP server failed; shutting down", "err", err)
		code = 1
	case err := <-fed:
		fed = nil
		n.log.Error("feed failed; shutting down", "err", err)
		code = 1
	}
	ep.stopping.Store(true)
	stopFeed()
	<-redisDone
	if fed != nil {
		if err := <-fed; err != nil && !errors.Is(err, context.Canceled) {
			n.log.Error("feed failed", "err", err)
		}
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := n.srv.Shutdown(sctx); err != nil {
		n.log.Warn("clients did not close in time; closing them at once", "err", err)
	}
	// Closes what Shutdown left, stops the server's timers and the JWKS
	// watcher; the log stays open for the ingest requests in flight.
	n.srv.Close()
	if n.verifier != nil {
		n.verifier.Close()
	}
	if err := hs.Shutdown(sctx); err != nil {
		n.log.Warn("HTTP connections did not close in time; closing them at once", "err", err)
		hs.Close()
	}
	if served != nil {
		<-served // http.ErrServerClosed
	}
	// Every feed has stopped and every ingest request was answered: what
	// was acknowledged is in the log; Close fsyncs it.
	n.closeLog()
	if n.cluster != nil {
		n.cluster.Close()
	}
	n.log.Info("stopped")
	return code
}

// mux routes the node's HTTP requests: the WebSocket endpoint, /healthz,
// /readyz, /stats, /metrics and, when there is a page, everything else to
// it.
func (n *node) mux(ep *endpoints) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", ep.healthz)
	mux.HandleFunc("GET /readyz", ep.readyz)
	mux.HandleFunc("GET /stats", n.ops.guard(ep.stats))
	mux.HandleFunc("GET /metrics", n.ops.guard(n.metrics.serveHTTP))
	mux.Handle("GET "+n.cfg.wsPath, n.srv)
	if n.cfg.server.DensityLayer != "" {
		mux.Handle("GET /tiles/density/", http.StripPrefix("/tiles/density/", n.srv.DensityHandler()))
	}
	if n.ingest != nil {
		mux.Handle("/feed/", n.ingest)
	}
	if n.page != nil {
		// Not "GET /": it would conflict with "/feed/" (fewer methods, a
		// more general path), and registering both panics.
		mux.Handle("/", readOnly(n.page))
	}
	return mux
}

// readOnly passes GET and HEAD requests to h and answers others 405.
func readOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "pushmap: "+r.Method+" is not allowed here", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// densityInterval is how often the views showing density tiles are told
// which of them changed.
const densityInterval = time.Second

// flushDensity tells the views which density tiles changed, every
// densityInterval until ctx ends.
func flushDensity(ctx context.Context, srv *server.Server) {
	t := time.NewTicker(densityInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			srv.FlushDensity()
		}
	}
}

// baseURL returns the http URL, ending in "/", of a server asked to listen
// on host:port asked and listening on addr: the host asked (localhost when
// it is every interface) and the port chosen (which may differ from port 0).
func baseURL(asked string, addr net.Addr) string {
	host, _, _ := net.SplitHostPort(asked)
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil { // not a TCP address: a listener from a test
		return "http://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// staticRoot returns a handler serving the files of dir, or an error if dir
// is not a directory.
func staticRoot(dir string) (http.Handler, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	return web.Handler(os.DirFS(dir)), nil
}

// hasIndex reports whether dir holds an index.html, or why not.
func hasIndex(dir string) error {
	index := filepath.Join(dir, "index.html")
	st, err := os.Stat(index)
	if err == nil && st.IsDir() {
		err = fmt.Errorf("%s is a directory", index)
	}
	return err
}

// endpoints answers the HTTP requests beside the WebSocket: /healthz,
// /readyz and /stats. Its methods are safe for concurrent use.
type endpoints struct {
	srv      *server.Server
	started  time.Time
	redis    pinger // checked by /readyz; nil without --redis
	log      *slog.Logger
	stopping atomic.Bool // set when the node begins shutting down
	notReady atomic.Bool // the last /readyz answered 503, for logging changes only
}

// A pinger is a Redis connection /readyz checks.
type pinger interface {
	Ping(ctx context.Context) error
}

// readyTimeout bounds the Redis check of /readyz: a probe must not hang.
const readyTimeout = time.Second

// healthz answers 200 "ok", or 503 once the node is shutting down so that
// a load balancer stops sending it clients.
func (ep *endpoints) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if ep.stopping.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "shutting down")
		return
	}
	io.WriteString(w, "ok")
}

// readyz answers 200 "ready" when the node can do its work: it is not
// shutting down and, with --redis, Redis answers a PING within
// readyTimeout. Otherwise 503 with the reason in a few words (the details
// go to the log, once per change): the endpoint is public.
func (ep *endpoints) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	reason, detail := "", error(nil)
	switch {
	case ep.stopping.Load():
		reason = "shutting down"
	case ep.redis != nil:
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		detail = ep.redis.Ping(ctx)
		cancel()
		if detail != nil {
			reason = "redis unreachable"
		}
	}
	if reason != "" {
		if !ep.notReady.Swap(true) && ep.log != nil {
			ep.log.Warn("not ready", "reason", reason, "err", detail)
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, reason)
		return
	}
	if ep.notReady.Swap(false) && ep.log != nil {
		ep.log.Info("ready again")
	}
	io.WriteString(w, "ready")
}

// stats answers the server's counters and the uptime as a JSON object.
func (ep *endpoints) stats(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(statsJSON(ep.srv.Stats(), time.Since(ep.started)))
}

// statsJSON returns the body of /stats: every field of st under its name
// with a lower-case first letter ("connections", "tooSlow", ...), so that a
// field added to server.Stats appears with no change here, and
// "uptimeSeconds".
func statsJSON(st server.Stats, uptime time.Duration) map[string]any {
	v := reflect.ValueOf(st)
	out := make(map[string]any, v.NumField()+1)
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		out[strings.ToLower(name[:1])+name[1:]] = v.Field(i).Interface()
	}
	out["uptimeSeconds"] = uptime.Round(time.Millisecond).Seconds()
	return out
}

// claimIdle maps --redis-claim-idle (0: never) to Options.ClaimIdle (0:
// the default, negative: never).
func claimIdle(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
