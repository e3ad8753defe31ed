package redisfeed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
	"github.com/redis/rueidis"
	"github.com/vmihailenco/msgpack/v5"
)

// A Store is what a Cluster node keeps in step with the stream: a
// *server.Server. Its methods must be safe for concurrent use.
type Store interface {
	// Apply applies a batch of updates all or nothing.
	Apply([]server.Update) error
	// Stored returns a marker's state; false when there is none.
	Stored(id string) (server.StoredMarker, bool)
	// Snapshot copies every marker with its version and absolute expiry.
	Snapshot() []server.StoredMarker
	// Restore stores markers with their versions and absolute expiry.
	Restore([]server.StoredMarker) error
}

var _ Store = (*server.Server)(nil)

// A ClientResetter is a Store that can tell its clients explicitly that
// the markers were replaced wholesale: a *server.Server, whose ResetClients
// sends each a reset. A node that reloads the snapshot after a gap calls it
// when its Store is one.
type ClientResetter interface {
	ResetClients() int
}

var _ ClientResetter = (*server.Server)(nil)

// ErrUnavailable is what the errors of Cluster.Apply match (errors.Is)
// when Redis cannot be reached or did not take the batch: nothing was
// acknowledged, and the feed should retry. They report Temporary() true,
// which the HTTP ingest answers with 503.
var ErrUnavailable = errors.New("redisfeed: the cluster's Redis is unavailable")

type unavailable struct{ err error }

func (e unavailable) Error() string        { return ErrUnavailable.Error() + ": " + e.err.Error() }
func (e unavailable) Unwrap() error        { return e.err }
func (e unavailable) Is(target error) bool { return target == ErrUnavailable }
func (e unavailable) Temporary() bool      { return true }

// ClusterOptions configures a Cluster node. Zero values mean the defaults
// documented on each field.
type ClusterOptions struct {
	// Stream is the key of the stream every write goes through. Default
	// "pushmap:updates".
	Stream string
	// SnapshotKey is the hash holding the cluster's snapshot: fields id
	// (the last entry it covers) and data. Default Stream + ":snapshot".
	SnapshotKey string
	// SnapshotEvery is how often a node writes a snapshot when the stream
	// moved since the last one (any node's newer snapshot wins), after
	// which the stream is trimmed below the snapshot it replaced: a node
	// more than about one interval behind finds a gap and reloads the
	// snapshot. Default 30s.
	SnapshotEvery time.Duration
	// Batch is the most entries read at once. Default 1000.
	Batch int
	// Block is how long one XREAD waits for new entries. Default 1s.
	Block time.Duration
	// ApplyTimeout bounds how long Apply waits for this node's tail to
	// apply the entry it added, after Redis took it. Default 10s.
	ApplyTimeout time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// ClusterStats are a Cluster node's counters.
type ClusterStats struct {
	Entries   int64  // stream entries applied
	Bad       int64  // entries refused (logged and skipped)
	Resyncs   int64  // times the node reloaded the snapshot: a gap or a Redis that lost entries
	Snapshots int64  // snapshots this node wrote
	Errors    int64  // Redis errors, each followed by a retry
	LastID    string // the last entry applied
}

// A Cluster is one node of a pushmap cluster on Redis: the stream is the
// log of every write, and every node tails all of it (XREAD, not a
// consumer group) and applies it in stream order, so that every node holds
// the same markers. See docs/cluster.md. Its methods are safe for
// concurrent use; Run runs once at a time.
type Cluster struct {
	opt      rueidis.ClientOption
	store    Store
	stream   string
	snapKey  string
	every    time.Duration
	batch    int
	block    time.Duration
	timeout  time.Duration
	log      *slog.Logger
	running  atomic.Bool
	writer   rueidis.Client // XADD and PING; connected by New, lazily by rueidis
	entries  atomic.Int64
	bad      atomic.Int64
	resyncs  atomic.Int64
	snaps    atomic.Int64
	errs     atomic.Int64
	loaded   bool      // touched by Run's goroutine only: the snapshot was loaded; a later Run resumes
	lastSnap time.Time // touched by Run's goroutine only
	// snapping is set while a snapshot is encoded and written, off the
	// tail (at 1M markers that takes seconds, during which the tail would
	// apply nothing and the node's feeds time out); one at a time.
	snapping atomic.Bool
	snapWG   sync.WaitGroup // the snapshot being written; Run waits for it before it closes its client
	// beforeSnapshotWrite, when set (tests), runs before a snapshot is
	// encoded, on the goroutine that writes it.
	beforeSnapshotWrite func()
	// ordinal is how many entries the stream had received up to and
	// including the last one applied (XINFO's entries-added then):
	// trimming removes entries from the head only, so the stream's first
	// entry is number entries-added - length + 1, and one beyond
	// ordinal + 1 means entries this node never applied were trimmed.
	ordinal uint64 // touched by Run's goroutine only

	mu      sync.Mutex
	snapID  streamID      // guarded by mu: the last snapshot written or loaded
	applied streamID      // guarded by mu: the last entry applied
	moved   chan struct{} // guarded by mu: closed and replaced when applied moves
}

// A streamID is a stream entry id, <ms>-<seq>.
type streamID struct{ ms, seq uint64 }

func parseID(s string) (streamID, error) {
	a, b, ok := strings.Cut(s, "-")
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return streamID{}, fmt.Errorf("redisfeed: bad stream id %q", s)
	}
	return streamID{ms, seq}, nil
}

func (id streamID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.seq, 10)
}
func (id streamID) less(o streamID) bool {
	return id.ms < o.ms || id.ms == o.ms && id.seq < o.seq
}

// NewCluster returns a node feeding store from the stream at redisURL. It
// does not read the stream: Run does, and Apply needs Run running.
func NewCluster(redisURL string, store Store, opts *ClusterOptions) (*Cluster, error) {
	if store == nil {
		return nil, errors.New("redisfeed: the Store is nil")
	}
	opt, err := rueidis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("redisfeed: Redis URL %q: %w", redisURL, err)
	}
	opt.DisableCache = true
	opt.ClientName = "pushmap-cluster"
	// rueidis retries a read by itself across a Redis restart, hiding the
	// outage from the tail (no error counted or logged while Redis was
	// down, seen in TestRedisKill9MidFeed): the tail retries itself, and
	// checks for a gap first.
	opt.DisableRetry = true
	var o ClusterOptions
	if opts != nil {
		o = *opts
	}
	c := &Cluster{opt: opt, store: store, stream: cmpOr(o.Stream, "pushmap:updates"), every: o.SnapshotEvery,
		batch: o.Batch, block: o.Block, timeout: o.ApplyTimeout, log: o.Logger, moved: make(chan struct{})}
	c.snapKey = cmpOr(o.SnapshotKey, c.stream+":snapshot")
	if c.every < 0 || c.batch < 0 || c.block < 0 || c.timeout < 0 {
		return nil, errors.New("redisfeed: ClusterOptions must not be negative")
	}
	if c.every == 0 {
		c.every = 30 * time.Second
	}
	if c.batch == 0 {
		c.batch = 1000
	}
	if c.block == 0 {
		c.block = time.Second
	}
	if c.timeout == 0 {
		c.timeout = 10 * time.Second
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("stream", c.stream)
	return c, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// client returns the writer's client, dialling it the first time.
func (c *Cluster) client() (rueidis.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writer != nil {
		return c.writer, nil
	}
	cl, err := rueidis.NewClient(c.opt)
	if err != nil {
		return nil, err
	}
	c.writer = cl
	return cl, nil
}

// Close closes the writer's connection.
func (c *Cluster) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writer != nil {
		c.writer.Close()
		c.writer = nil
	}
}

// Ping asks Redis for a PONG within ctx, for a readiness check.
func (c *Cluster) Ping(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	return cl.Do(ctx, cl.B().Ping().Build()).Error()
}

// Stats returns the node's counters.
func (c *Cluster) Stats() ClusterStats {
	c.mu.Lock()
	last := c.applied
	c.mu.Unlock()
	return ClusterStats{Entries: c.entries.Load(), Bad: c.bad.Load(), Resyncs: c.resyncs.Load(),
		Snapshots: c.snaps.Load(), Errors: c.errs.Load(), LastID: last.String()}
}

// Apply adds updates to the stream as one entry (all or nothing on every
// node) and returns once Redis has it and this node's tail has applied it
// (read-your-writes on this node). An invalid batch is refused before it
// reaches Redis. When Redis cannot be reached the error wraps
// ErrUnavailable and nothing was written.
func (c *Cluster) Apply(updates []server.Update) error {
	if len(updates) == 0 {
		return nil
	}
	if err := server.ValidateUpdates(updates); err != nil {
		return err
	}
	body, err := encodeItems(updates)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return unavailable{err}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	resyncs := c.resyncs.Load()
	raw, err := cl.Do(ctx, cl.B().Xadd().Key(c.stream).Id("*").FieldValue().FieldValue("msgpack", string(body)).Build()).ToString()
	if err != nil {
		return unavailable{fmt.Errorf("XADD: %w", err)}
	}
	id, err := parseID(raw)
	if err != nil {
		return err
	}
	if err := c.waitApplied(ctx, id, resyncs); err != nil {
		return unavailable{err}
	}
	return nil
}

// ApplyLayers is Apply for a feed that may write only layers: checked
// against this node's markers before the entry is added (another node may
// move a marker between the check and the apply: see docs/cluster.md).
func (c *Cluster) ApplyLayers(layers []string, updates []server.Update) error {
	if layers == nil {
		return c.Apply(updates)
	}
	allowed := make(map[string]bool, len(layers))
	for _, l := range layers {
		allowed[l] = true
	}
	var le *server.LayerError
	for i := range updates {
		u := &updates[i]
		reason := ""
		if !u.Remove && !allowed[u.Marker.Layer] {
			reason = fmt.Sprintf("layer %q is not one this feed may write", u.Marker.Layer)
		} else if r, ok := c.store.Stored(u.Marker.ID); ok && !allowed[r.Marker.Layer] {
			reason = "the marker is in a layer this feed may not write"
		}
		if reason == "" {
			continue
		}
		if le == nil {
			le = &server.LayerError{}
		}
		if le.Count++; len(le.Denied) < server.MaxLayerErrors {
			le.Denied = append(le.Denied, server.DeniedUpdate{Index: i, ID: u.Marker.ID, Reason: reason})
		}
	}
	if le != nil {
		return le
	}
	return c.Apply(updates)
}

// waitApplied returns once the tail has applied id, or ctx ends. It fails
// when the node reloaded the snapshot since resyncs was read (before the
// XADD): Redis lost entries, perhaps this one, and a position beyond id no
// longer means that id was applied (TestRedisKill9MidFeed, power cut).
func (c *Cluster) waitApplied(ctx context.Context, id streamID, resyncs int64) error {
	for {
		c.mu.Lock()
		done, moved := !c.applied.less(id), c.moved
		c.mu.Unlock()
		if c.resyncs.Load() != resyncs {
			return fmt.Errorf("redisfeed: this node reloaded the snapshot (Redis lost entries) before it applied entry %s, which may be lost: retry", id)
		}
		if done {
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return fmt.Errorf("redisfeed: entry %s is in Redis but this node has not applied it within %v (is its tail running?): %w",
				id, c.timeout, ctx.Err())
		}
	}
}

func (c *Cluster) setApplied(id streamID) {
	c.mu.Lock()
	c.applied = id
	close(c.moved)
	c.moved = make(chan struct{})
	c.mu.Unlock()
}

func (c *Cluster) appliedID() streamID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applied
}

// Run loads the snapshot (the first time: a later Run resumes after the
// last entry applied), then tails the stream and applies it until ctx
// ends, then returns ctx.Err(). Redis errors are logged and retried with
// backoff, resuming after the last entry applied; a gap (entries trimmed
// or lost before this node read them) makes it load the snapshot again,
// replacing every marker (clients get the removals and upserts: an
// explicit change, never a silently wrong map).
func (c *Cluster) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("redisfeed: Run is already running")
	}
	defer c.running.Store(false)
	var client rueidis.Client
	defer func() {
		c.snapWG.Wait()
		if client != nil {
			client.Close()
		}
	}()
	failures := 0
	for {
		var err error
		if client == nil {
			client, err = rueidis.NewClient(c.opt)
		}
		if err == nil && !c.loaded {
			if err = c.resync(ctx, client, false); err == nil {
				c.loaded = true
			}
		}
		if err == nil {
			err = c.tail(ctx, client, func() { failures = 0 })
		}
		if err := waitToRetry(ctx, &failures, &c.errs, c.log, "redisfeed: cluster: Redis error; retrying", err); err != nil {
			return err
		}
	}
}

// tail reads and applies entries after the last applied until an error.
//
// Each read is one round trip: XREAD, then in the same pipeline the gap
// check's XINFO STREAM, XRANGE and HGET, which Redis runs right after the
// XREAD returns (a blocked client's later commands wait for it), so that
// the entries read are checked before they are applied without a round
// trip of their own. The tail used to check before the read as well, and
// again after it: three round trips per entry, each a wake-up of Redis and
// of the node, which on a busy machine made the hop through Redis the
// cluster's tail latency (docs/cluster.md). A check before the first read
// stays, so that a node resuming after a Redis restart notices a gap at
// once rather than after a Block with nothing to read.
func (c *Cluster) tail(ctx context.Context, client rueidis.Client, healthy func()) error {
	if err := c.checkGap(ctx, client); err != nil {
		return err
	}
	for {
		after := c.appliedID()
		cmds := append([]rueidis.Completed{client.B().Xread().Count(int64(c.batch)).Block(c.block.Milliseconds()).
			Streams().Key(c.stream).Id(after.String()).Build()}, c.gapCommands(client, after)...)
		res := client.DoMulti(ctx, cmds...)
		read, err := res[0].AsXRead()
		if err != nil && !rueidis.IsRedisNil(err) {
			return fmt.Errorf("XREAD after %s: %w", after, err)
		}
		healthy()
		// Entries read past a gap must not be applied: the check ran
		// after the read.
		if err := c.checkGapOf(ctx, client, after, res[1:]); err != nil {
			return err
		}
		if c.appliedID() != after {
			continue // resynced: read again from the snapshot's id
		}
		if entries := read[c.stream]; len(entries) > 0 {
			if err := c.apply(entries); err != nil {
				return err
			}
		}
		c.maybeSnapshot(ctx, client)
	}
}

// apply applies entries in order, each all or nothing.
func (c *Cluster) apply(entries []rueidis.XRangeEntry) error {
	var last streamID
	for _, e := range entries {
		id, err := parseID(e.ID)
		if err != nil {
			return err
		}
		last = id
		us, err := decodeEntry(e.FieldValues)
		if err == nil {
			shiftTTL(us, time.UnixMilli(int64(id.ms)))
			err = c.store.Apply(us)
		}
		if err != nil {
			c.bad.Add(1)
			c.log.Warn("redisfeed: cluster: bad entry skipped", "entry", e.ID, "reason", err)
		}
	}
	c.entries.Add(int64(len(entries)))
	c.ordinal += uint64(len(entries))
	c.setApplied(last)
	return nil
}

// shiftTTL makes the ttls of updates count from at, the time Redis added
// their entry, so that every node expires a marker at the same time
// whenever it applies the entry. An update whose time is over already
// gets the shortest ttl: applied (its version counts) and expired at once.
func shiftTTL(us []server.Update, at time.Time) {
	for i := range us {
		if us[i].TTL > 0 {
			us[i].TTL = max(time.Until(at.Add(us[i].TTL)), time.Nanosecond)
		}
	}
}

// checkGap compares the stream with what this node applied: entries
// after its position that were trimmed or deleted before it read them, or
// a stream that ends before its position (a Redis that lost entries), make
// it load the snapshot again.
func (c *Cluster) checkGap(ctx context.Context, client rueidis.Client) error {
	at := c.appliedID()
	return c.checkGapOf(ctx, client, at, client.DoMulti(ctx, c.gapCommands(client, at)...))
}

// gapCommands are what the gap check asks Redis, in one round trip: the
// stream's counters, the entry at (the one applied last), and the
// snapshot's id.
func (c *Cluster) gapCommands(client rueidis.Client, at streamID) []rueidis.Completed {
	return []rueidis.Completed{client.B().XinfoStream().Key(c.stream).Build(),
		client.B().Xrange().Key(c.stream).Start(at.String()).End(at.String()).Build(),
		client.B().Hget().Key(c.snapKey).Field("id").Build()}
}

// checkGapOf is checkGap on res, the answers to gapCommands(client, at),
// at being the entry this node applied last.
func (c *Cluster) checkGapOf(ctx context.Context, client rueidis.Client, at streamID, res []rueidis.RedisResult) error {
	info, err := res[0].AsMap()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			if at == (streamID{}) {
				return nil // nothing written yet, nothing applied
			}
			c.log.Warn("redisfeed: cluster: the stream is gone (a Redis that lost its data?); loading the snapshot", "applied", at)
			return c.resync(ctx, client, true)
		}
		return fmt.Errorf("XINFO STREAM: %w", err)
	}
	lastGenMsg, maxDelMsg, addedMsg, lengthMsg := info["last-generated-id"], info["max-deleted-entry-id"], info["entries-added"], info["length"]
	lastGen, _ := lastGenMsg.ToString()
	maxDel, _ := maxDelMsg.ToString()
	added, err1 := addedMsg.AsInt64()
	length, err2 := lengthMsg.AsInt64()
	if err1 != nil || err2 != nil {
		return fmt.Errorf("XINFO STREAM of %s lacks entries-added or length (Redis 7 or later is needed): %v %v", c.stream, err1, err2)
	}
	if id, err := parseID(lastGen); err == nil && id.less(at) || uint64(added) < c.ordinal {
		c.log.Warn("redisfeed: cluster: the stream ends before what this node applied (Redis lost entries); loading the snapshot",
			"applied", at, "stream_last", lastGen, "applied_entries", c.ordinal, "stream_entries", added)
		return c.resync(ctx, client, true)
	}
	// The entry applied last must still be there (unless the node is at
	// the snapshot, whose entry a feed's MAXLEN may have trimmed): a Redis
	// that restarted without the tail of its log (appendfsync everysec and
	// a power cut) and took new entries since has entries-added and a
	// last-generated-id beyond this node's position again, which the
	// checks above take for a stream that merely moved on.
	if at != (streamID{}) {
		here, err := res[1].AsXRange()
		if err != nil {
			return fmt.Errorf("XRANGE %s %s: %w", c.stream, at, err)
		}
		snap, err := res[2].ToString()
		if err != nil && !rueidis.IsRedisNil(err) {
			return fmt.Errorf("HGET %s id: %w", c.snapKey, err)
		}
		if len(here) == 0 && snap != at.String() {
			c.log.Warn("redisfeed: cluster: the entry this node applied last is not in the stream (Redis lost entries, or they were trimmed); loading the snapshot",
				"applied", at, "snapshot", snap)
			return c.resync(ctx, client, true)
		}
	}
	if id, err := parseID(maxDel); err == nil && at.less(id) {
		c.log.Warn("redisfeed: cluster: entries after this node's position were deleted before it read them; loading the snapshot",
			"applied", at, "deleted_up_to", maxDel)
		return c.resync(ctx, client, true)
	}
	if first := uint64(added-length) + 1; length > 0 && first > c.ordinal+1 {
		if c.snapshotID() == (streamID{}) && at == (streamID{}) && !c.snapshotExists(ctx, client) {
			// No snapshot covers them: they are lost to every node that
			// starts now. Say so, and start from what there is.
			c.log.Warn("redisfeed: cluster: the stream's first entries were trimmed and no snapshot covers them; starting from its first entry",
				"trimmed_entries", first-1)
			c.ordinal = first - 1
			return nil
		}
		c.log.Warn("redisfeed: cluster: entries after this node's position were trimmed before it read them; loading the snapshot",
			"applied", at, "applied_entries", c.ordinal, "first_entry_number", first)
		return c.resync(ctx, client, true)
	}
	return nil
}

func (c *Cluster) snapshotExists(ctx context.Context, client rueidis.Client) bool {
	n, err := client.Do(ctx, client.B().Exists().Key(c.snapKey).Build()).AsInt64()
	return err != nil || n > 0 // on an error, assume one: resync tries and reports
}

// snapState is a marker in a snapshot in Redis.
type snapState struct {
	//lint:ignore U1000 msgpack reads its tag: the struct is encoded as an array
	_msgpack struct{} `msgpack:",as_array"`

	ID      string
	Layer   string
	Lon     float64
	Lat     float64
	Version uint64
	Time    int64
	Props   map[string]any
	Expires int64 // Unix nanoseconds; 0: never
}

// resync loads the snapshot and makes the store hold exactly it (replace:
// every other marker removed, versions taken as they are, and the clients
// sent a reset), then sets the
// position to the snapshot's id, or to the start of the stream when there
// is none.
func (c *Cluster) resync(ctx context.Context, client rueidis.Client, replace bool) error {
	m, err := client.Do(ctx, client.B().Hmget().Key(c.snapKey).Field("id", "data", "n").Build()).ToArray()
	if err != nil {
		return fmt.Errorf("HMGET %s: %w", c.snapKey, err)
	}
	var recs []server.StoredMarker
	var at streamID
	var ordinal uint64
	if rawID, err := m[0].ToString(); err == nil {
		if at, err = parseID(rawID); err != nil {
			return err
		}
		rawN, _ := m[2].ToString()
		if ordinal, err = strconv.ParseUint(rawN, 10, 64); err != nil {
			return fmt.Errorf("the snapshot %s at %s: entry count %q: %v", c.snapKey, rawID, rawN, err)
		}
		data, _ := m[1].ToString()
		var states []snapState
		dec := msgpack.NewDecoder(bytes.NewReader([]byte(data)))
		dec.UseLooseInterfaceDecoding(true)
		if err := dec.Decode(&states); err != nil {
			return fmt.Errorf("the snapshot %s at %s: %w", c.snapKey, rawID, err)
		}
		for _, s := range states {
			r := server.StoredMarker{Marker: wire.Marker{ID: s.ID, Layer: s.Layer, Pos: geo.Point{Lon: s.Lon, Lat: s.Lat},
				Version: s.Version, Time: s.Time, Props: s.Props}}
			if s.Expires != 0 {
				r.Expires = time.Unix(0, s.Expires)
			}
			recs = append(recs, r)
		}
	}
	if replace {
		c.resyncs.Add(1)
		var removes []server.Update
		for _, r := range c.store.Snapshot() {
			removes = append(removes, server.Update{Marker: wire.Marker{ID: r.Marker.ID}, Remove: true})
		}
		if err := c.store.Apply(removes); err != nil {
			return fmt.Errorf("clearing the store for the snapshot: %w", err)
		}
	}
	if err := c.store.Restore(recs); err != nil {
		return fmt.Errorf("restoring the snapshot of %d markers: %w", len(recs), err)
	}
	if r, ok := c.store.(ClientResetter); ok && replace {
		r.ResetClients()
	}
	c.setSnapshotID(at)
	c.ordinal = ordinal
	c.lastSnap = time.Now()
	c.setApplied(at)
	c.log.Info("redisfeed: cluster: snapshot loaded", "markers", len(recs), "id", at, "replaced", replace)
	return nil
}

// snapshotScript writes a snapshot unless the one in Redis covers as much
// already, and trims the stream below the snapshot it replaces (not below
// itself: a node less than one snapshot interval behind then reads on
// without a gap, where trimming below the new one made every node that
// lagged a moment reset its clients): KEYS[1] the snapshot hash,
// KEYS[2] the stream, ARGV[1] the id, ARGV[2] the data, ARGV[3] the id's
// ms, ARGV[4] its seq and ARGV[5] the entries the stream had received up
// to it. It returns 1 when written.
var snapshotScript = rueidis.NewLuaScript(`
local cur = redis.call('HGET', KEYS[1], 'id')
if cur then
  local ms, seq = string.match(cur, '^(%d+)-(%d+)$')
  ms, seq = tonumber(ms), tonumber(seq)
  local nms, nseq = tonumber(ARGV[3]), tonumber(ARGV[4])
  if ms > nms or (ms == nms and seq >= nseq) then return 0 end
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'data', ARGV[2], 'n', ARGV[5])
if cur then redis.call('XTRIM', KEYS[2], 'MINID', cur) end
return 1
`)

// maybeSnapshot writes a snapshot of the store at the last applied entry
// when SnapshotEvery passed, the stream moved since the last one and no
// other is being written. The tail is the store's only writer (expiry
// aside), so the copy taken here is exactly the state at that entry; it
// is encoded and written on a goroutine of its own while the tail goes on.
func (c *Cluster) maybeSnapshot(ctx context.Context, client rueidis.Client) {
	at := c.appliedID()
	if time.Since(c.lastSnap) < c.every || !c.snapshotID().less(at) || !c.snapping.CompareAndSwap(false, true) {
		return
	}
	c.lastSnap = time.Now()
	recs, ordinal := c.store.Snapshot(), c.ordinal
	c.snapWG.Add(1)
	go func() {
		defer c.snapWG.Done()
		defer c.snapping.Store(false)
		if c.beforeSnapshotWrite != nil {
			c.beforeSnapshotWrite()
		}
		c.writeSnapshot(ctx, client, at, ordinal, recs)
	}()
}

// writeSnapshot encodes recs, the store at entry at (the ordinal-th the
// stream received), and writes them as the snapshot unless the one in
// Redis covers as much already.
func (c *Cluster) writeSnapshot(ctx context.Context, client rueidis.Client, at streamID, ordinal uint64, recs []server.StoredMarker) {
	states := make([]snapState, 0, len(recs))
	for _, r := range recs {
		s := snapState{ID: r.Marker.ID, Layer: r.Marker.Layer, Lon: r.Marker.Pos.Lon, Lat: r.Marker.Pos.Lat,
			Version: r.Marker.Version, Time: r.Marker.Time, Props: r.Marker.Props}
		if !r.Expires.IsZero() {
			s.Expires = r.Expires.UnixNano()
		}
		states = append(states, s)
	}
	data, err := msgpack.Marshal(states)
	if err != nil {
		c.log.Error("redisfeed: cluster: encoding the snapshot", "err", err)
		return
	}
	n, err := snapshotScript.Exec(ctx, client, []string{c.snapKey, c.stream},
		[]string{at.String(), string(data), strconv.FormatUint(at.ms, 10), strconv.FormatUint(at.seq, 10),
			strconv.FormatUint(ordinal, 10)}).AsInt64()
	if err != nil {
		c.log.Warn("redisfeed: cluster: writing the snapshot", "err", err)
		return
	}
	c.mu.Lock()
	if c.snapID.less(at) {
		c.snapID = at
	}
	c.mu.Unlock()
	if n == 1 {
		c.snaps.Add(1)
		c.log.Debug("redisfeed: cluster: snapshot written", "markers", len(states), "id", at, "bytes", len(data))
	}
}

// snapshotID returns the id of the last snapshot written or loaded.
func (c *Cluster) snapshotID() streamID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snapID
}

// setSnapshotID records that the snapshot at id was loaded.
func (c *Cluster) setSnapshotID(id streamID) {
	c.mu.Lock()
	c.snapID = id
	c.mu.Unlock()
}
