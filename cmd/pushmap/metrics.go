package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	vm "github.com/VictoriaMetrics/metrics"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/redisfeed"
	"github.com/pushmap/pushmap/server/wal"
)

// Metrics. The server counts what it does with plain atomic counters
// (server.Stats), read when /metrics is scraped; the metrics of this file
// that are not snapshots of those — the apply latency and the feed
// requests — are VictoriaMetrics/metrics histograms and counters, one Set
// per family so that each gets its HELP and TYPE lines. Nothing here runs
// per delivery. docs/operations.md lists every metric; docs/design.md says
// why this library.

// applyBuckets are the upper bounds of pushmap_apply_seconds: 50 µs (a
// small batch on an idle server) to 10 s (a stall).
var applyBuckets = []float64{50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10}

// maxLayerSeries caps the layers pushmap_layer_markers lists: the most
// populated ones. Layers are named by feeds; this keeps a feed that names
// a layer per marker from making a series per marker.
const maxLayerSeries = 100

// A metrics is what a node exports at /metrics.
type metrics struct {
	srv   *server.Server
	redis *redisfeed.Consumer // nil without --redis

	apply          *vm.Set // pushmap_apply_seconds
	applyHist      *vm.PrometheusHistogram
	applied        *vm.Set // pushmap_applied_updates_total
	appliedCounter *vm.Counter
	requests       *vm.Set // pushmap_feed_requests_total{route,status}
	durations      *vm.Set // pushmap_feed_request_seconds{route}
	routes         *http.ServeMux
}

// feedRoutes are the routes of the HTTP ingest, mounted at /feed, that
// label the feed request metrics; any other path counts as "other".
var feedRoutes = []string{
	"POST /feed/markers",
	"GET /feed/markers",
	"DELETE /feed/markers/{id}",
	"POST /feed/markers/remove",
	"POST /feed/tiles/invalidate",
	"GET /feed/interest",
}

func newMetrics(srv *server.Server, redis *redisfeed.Consumer) *metrics {
	m := &metrics{srv: srv, redis: redis, apply: vm.NewSet(), applied: vm.NewSet(),
		requests: vm.NewSet(), durations: vm.NewSet(), routes: http.NewServeMux()}
	m.applyHist = m.apply.NewPrometheusHistogramExt("pushmap_apply_seconds", applyBuckets)
	m.appliedCounter = m.applied.NewCounter("pushmap_applied_updates_total")
	for _, route := range feedRoutes {
		m.routes.Handle(route, http.NotFoundHandler())
	}
	return m
}

// timedFeed is the server as the feeds see it: its Apply and ApplyLayers go
// through via when set — the write-ahead log (--data-dir) or the cluster's
// stream (--redis-mode cluster) — and are timed into pushmap_apply_seconds,
// once per call (a batch), never per update. The rest is the server's.
type timedFeed struct {
	*server.Server
	m   *metrics
	via feedWriter // nil: straight into the server, in memory only
}

// A feedWriter is the way feeds' writes take to the server when it is not
// the server itself: a *wal.Log or a *redisfeed.Cluster.
type feedWriter interface {
	Apply([]server.Update) error
	ApplyLayers(layers []string, updates []server.Update) error
}

var (
	_ feedWriter = (*wal.Log)(nil)
	_ feedWriter = (*redisfeed.Cluster)(nil)
)

// Apply applies updates, timing the call.
func (f timedFeed) Apply(updates []server.Update) error {
	start := time.Now()
	var err error
	if f.via != nil {
		err = f.via.Apply(updates)
	} else {
		err = f.Server.Apply(updates)
	}
	f.m.observeApply(start, len(updates), err)
	return err
}

// ApplyLayers applies updates of a feed limited to layers, timing the call.
func (f timedFeed) ApplyLayers(layers []string, updates []server.Update) error {
	start := time.Now()
	var err error
	if f.via != nil {
		err = f.via.ApplyLayers(layers, updates)
	} else {
		err = f.Server.ApplyLayers(layers, updates)
	}
	f.m.observeApply(start, len(updates), err)
	return err
}

func (m *metrics) observeApply(start time.Time, n int, err error) {
	m.applyHist.UpdateDuration(start)
	if err == nil {
		m.appliedCounter.Add(n)
	}
}

// countRequests wraps the HTTP ingest h: each request is counted by route
// and status, and timed by route.
func (m *metrics) countRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		_, route := m.routes.Handler(r)
		if route == "" {
			route = "other"
		}
		sw := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		label := `route="` + route + `"`
		m.requests.GetOrCreateCounter(`pushmap_feed_requests_total{` + label + `,status="` + strconv.Itoa(sw.status) + `"}`).Inc()
		m.durations.GetOrCreatePrometheusHistogramExt(`pushmap_feed_request_seconds{`+label+`}`, applyBuckets).UpdateDuration(start)
	})
}

// statusRecorder remembers the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serveHTTP answers a scrape in the Prometheus text format.
func (m *metrics) serveHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	bw := bufio.NewWriter(w)
	m.write(bw)
	bw.Flush()
}

// write writes every metric to w.
func (m *metrics) write(w io.Writer) {
	st := m.srv.Stats()
	gauge := func(name, help string, v float64) { family(w, name, "gauge", help); sample(w, name, "", v) }
	counter := func(name, help string, v int64) { family(w, name, "counter", help); sample(w, name, "", float64(v)) }

	family(w, "pushmap_build_info", "gauge", "Always 1; the version label says which pushmap this is.")
	sample(w, "pushmap_build_info", label("version", buildVersion()), 1)

	gauge("pushmap_connections", "WebSocket connections past their hello.", float64(st.Connections))
	gauge("pushmap_connections_pre_hello", "WebSocket connections upgraded whose hello has not come yet.", float64(preHello(st)))
	counter("pushmap_connections_accepted_total", "WebSocket connections accepted since start.", st.Accepted)
	gauge("pushmap_views", "View boxes in the index (a view across the antimeridian counts twice).", float64(st.Views))
	gauge("pushmap_markers", "Markers in the store.", float64(st.Markers))
	m.writeLayers(w)
	counter("pushmap_deliveries_total", "Marker, cluster and tile ops handed to connections' outboxes (before coalescing).", st.Delivered)
	counter("pushmap_sent_frames_total", "WebSocket messages written to clients.", st.Frames)
	counter("pushmap_sent_bytes_total", "Payload bytes of the WebSocket messages written to clients.", st.BytesWritten)
	gauge("pushmap_outbox_bytes", "Bytes waiting, unsent, in every connection's outbox together.", float64(st.OutboxBytes))
	gauge("pushmap_outbox_max_bytes", "Most bytes waiting, unsent, for one connection.", float64(st.OutboxMaxBytes))
	counter("pushmap_resets_total", "Resets sent to clients that fell behind.", st.Resets)
	counter("pushmap_too_slow_total", "Clients closed for being too slow (4002, or a write timeout).", st.TooSlow)
	counter("pushmap_view_changes_total", "Views set or dropped by clients.", st.ViewChanges)
	counter("pushmap_stale_updates_total", "Upserts ignored because their version was not newer.", st.Stale)
	counter("pushmap_expired_markers_total", "Markers removed because their TTL ran out.", st.Expired)
	family(w, "pushmap_refusals_total", "counter", "Clients and requests turned away, by reason.")
	for _, reason := range server.RefusalReasons() {
		sample(w, "pushmap_refusals_total", label("reason", reason), float64(st.Refusals[reason]))
	}

	family(w, "pushmap_apply_seconds", "histogram", "Time of one feed's Apply call (a batch of updates), lock wait and fan-out included.")
	m.apply.WritePrometheus(w)
	family(w, "pushmap_applied_updates_total", "counter", "Updates applied by the feeds (stale ones included).")
	m.applied.WritePrometheus(w)
	family(w, "pushmap_feed_requests_total", "counter", "Requests to the HTTP ingest, by route and status.")
	m.requests.WritePrometheus(w)
	family(w, "pushmap_feed_request_seconds", "histogram", "Time to answer a request to the HTTP ingest, by route.")
	m.durations.WritePrometheus(w)

	if m.redis != nil {
		rs := m.redis.Stats()
		counter("pushmap_redis_entries_total", "Redis stream entries handled and acknowledged, bad ones included.", rs.Entries)
		counter("pushmap_redis_applied_updates_total", "Updates applied from the Redis stream.", rs.Applied)
		counter("pushmap_redis_bad_entries_total", "Redis stream entries refused (logged and acknowledged).", rs.Bad)
		counter("pushmap_redis_redelivered_entries_total", "Redis entries read again from this consumer's pending list after a (re)start.", rs.Redelivered)
		counter("pushmap_redis_errors_total", "Redis errors, each followed by a retry.", rs.Errors)
		if rs.Lag >= 0 {
			gauge("pushmap_redis_lag_entries", "Entries of the stream not yet delivered to the consumer group (checked at most once a second).", float64(rs.Lag))
		}
		if !rs.LastEntryTime.IsZero() {
			gauge("pushmap_redis_delay_seconds", "Age of the last entry applied, from its stream id's time, when it was applied.", rs.Delay.Seconds())
			gauge("pushmap_redis_last_entry_timestamp_seconds", "Time in the stream id of the last entry applied, Unix seconds.", float64(rs.LastEntryTime.UnixMilli())/1e3)
		}
	}
	vm.WriteProcessMetrics(w)
}

// writeLayers writes pushmap_layer_markers, for the maxLayerSeries most
// populated layers.
func (m *metrics) writeLayers(w io.Writer) {
	type layerCount struct {
		name string
		n    int
	}
	var layers []layerCount
	for name, n := range m.srv.MarkersPerLayer() {
		layers = append(layers, layerCount{name, n})
	}
	slices.SortFunc(layers, func(a, b layerCount) int {
		if a.n != b.n {
			return b.n - a.n
		}
		return strings.Compare(a.name, b.name)
	})
	family(w, "pushmap_layer_markers", "gauge", fmt.Sprintf("Markers in the store per layer (the %d most populated layers).", maxLayerSeries))
	for _, l := range layers[:min(len(layers), maxLayerSeries)] {
		sample(w, "pushmap_layer_markers", label("layer", l.name), float64(l.n))
	}
}

// preHello is the number of connections upgraded whose hello has not come.
func preHello(st server.Stats) int { return st.Pending }

func family(w io.Writer, name, typ, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func sample(w io.Writer, name, labels string, v float64) {
	if labels != "" {
		labels = "{" + labels + "}"
	}
	fmt.Fprintf(w, "%s%s %s\n", name, labels, strconv.FormatFloat(v, 'g', -1, 64))
}

// label returns name="value" with value escaped as the text format wants.
func label(name, value string) string {
	value = strings.ToValidUTF8(value, string(utf8.RuneError))
	value = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(value)
	return name + `="` + value + `"`
}

// buildVersion is the module version of the binary, "(devel)" from a work
// tree.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
