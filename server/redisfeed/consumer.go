package redisfeed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushmap/pushmap/server"
	"github.com/redis/rueidis"
)

// An Applier applies a batch of updates all or nothing: a *server.Server.
// It must not keep the slice after Apply returns.
type Applier interface {
	Apply([]server.Update) error
}

var _ Applier = (*server.Server)(nil)

// Options configures a Consumer. A nil *Options, and zero fields, mean the
// defaults documented on each field.
type Options struct {
	// Stream is the key of the Redis stream feeds write to. Default
	// "pushmap:updates".
	Stream string
	// Group is the consumer group. Default "pushmap". Servers that must
	// each see every update need a group each.
	Group string
	// Consumer is this server's name in the group: its pending entries are
	// re-read under this name after a restart, so it must stay the same
	// across restarts. Default: the host name.
	Consumer string
	// Batch is the most entries read (XREADGROUP COUNT) and applied at
	// once. Default 1000.
	Batch int
	// Block is how long one read waits for new entries (XREADGROUP BLOCK)
	// before asking again. Default 1s.
	Block time.Duration
	// ClaimIdle: entries delivered to another consumer of the group and
	// not acknowledged for this long are claimed by this one (XAUTOCLAIM)
	// and applied: that consumer is gone (a node that died and will not
	// come back under its name). Checked at start and every ClaimIdle/2.
	// A claimed entry may be older than entries already applied: the
	// version rules keep versioned updates right. Default 1m; negative:
	// never claim.
	ClaimIdle time.Duration
	// Logger receives bad entries (warn), Redis errors (warn) and
	// progress (debug). Default: slog.Default().
	Logger *slog.Logger
}

// Stats are a Consumer's counters since New.
type Stats struct {
	Applied     int64 // updates applied (stale ones included: the Applier ignored those)
	Entries     int64 // stream entries handled and acknowledged, bad ones included
	Bad         int64 // entries refused (logged and acknowledged)
	Redelivered int64 // entries read again from this consumer's pending list after a (re)start
	Claimed     int64 // entries claimed from other consumers' pending lists (XAUTOCLAIM) and applied
	Errors      int64 // Redis errors, each followed by a retry
	// Lag is how many entries of the stream were not yet delivered to the
	// group at the last check (at most once a second, and 0 whenever a
	// read comes back empty); -1 when Redis cannot tell.
	Lag    int64
	LastID string // the id of the last entry acknowledged
	// LastEntryTime is when the last entry acknowledged was added to the
	// stream (the time in its id), and Delay how old it was when it was
	// applied: the feed's end-to-end lag. Both zero before the first entry.
	LastEntryTime time.Time
	Delay         time.Duration
}

// A Consumer applies the updates of a Redis stream to an Applier; see the
// package documentation for the format and the guarantee. Its methods are
// safe for concurrent use; Run runs once at a time.
type Consumer struct {
	opt     rueidis.ClientOption
	f       Applier
	stream  string
	group   string
	name    string
	batch   int
	block   time.Duration
	idle    time.Duration // ClaimIdle; 0: never
	log     *slog.Logger
	running atomic.Bool

	applied, entries, bad, redelivered, claimed, errs, lag atomic.Int64

	mu       sync.Mutex
	lastID   string         // guarded by mu
	lastTime time.Time      // guarded by mu: the time in lastID
	delay    time.Duration  // guarded by mu: lastTime's age when applied
	client   rueidis.Client // guarded by mu: the client Run uses, or nil

	// Touched only by the goroutine in Run.
	lastLag   time.Time       // when Lag was last asked for
	lastClaim time.Time       // when entries were last claimed
	updates   []server.Update // scratch: the updates of a batch
	ackIDs    []string        // scratch: the entry ids of a batch
	badCount  int             // bad entries of the current batch, for log limiting
}

// New returns a Consumer that will apply the updates of the stream at the
// Redis server redisURL (redis://[user:password@]host:port/db, rediss://
// for TLS, or unix:///path) to f. It returns an error for an invalid URL
// or option; it does not connect: Run does.
func New(redisURL string, f Applier, opts *Options) (*Consumer, error) {
	if f == nil {
		return nil, errors.New("redisfeed: the Applier is nil")
	}
	opt, err := rueidis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("redisfeed: Redis URL %q: %w", redisURL, err)
	}
	opt.DisableCache = true // no client-side caching: works with any Redis ≥ 5
	opt.ClientName = "pushmap"
	var o Options
	if opts != nil {
		o = *opts
	}
	c := &Consumer{opt: opt, f: f, stream: o.Stream, group: o.Group, name: o.Consumer, batch: o.Batch, block: o.Block, idle: o.ClaimIdle, log: o.Logger}
	c.lag.Store(-1)
	if c.stream == "" {
		c.stream = "pushmap:updates"
	}
	if c.group == "" {
		c.group = "pushmap"
	}
	if c.name == "" {
		if c.name, err = os.Hostname(); err != nil || c.name == "" {
			return nil, fmt.Errorf("redisfeed: no Options.Consumer and no host name: %v", err)
		}
	}
	switch {
	case c.batch < 0:
		return nil, fmt.Errorf("redisfeed: option Batch is %d, must not be negative", c.batch)
	case c.batch == 0:
		c.batch = 1000
	}
	switch {
	case c.block < 0:
		return nil, fmt.Errorf("redisfeed: option Block is %v, must not be negative", c.block)
	case c.block == 0:
		c.block = time.Second
	case c.block < time.Millisecond:
		c.block = time.Millisecond
	}
	switch {
	case c.idle < 0:
		c.idle = 0
	case c.idle == 0:
		c.idle = time.Minute
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("stream", c.stream, "group", c.group, "consumer", c.name)
	return c, nil
}

// Run is New followed by Consumer.Run.
func Run(ctx context.Context, redisURL string, f Applier, opts *Options) error {
	c, err := New(redisURL, f, opts)
	if err != nil {
		return err
	}
	return c.Run(ctx)
}

// Stats returns the consumer's counters.
func (c *Consumer) Stats() Stats {
	c.mu.Lock()
	last, lastTime, delay := c.lastID, c.lastTime, c.delay
	c.mu.Unlock()
	return Stats{
		Applied: c.applied.Load(), Entries: c.entries.Load(), Bad: c.bad.Load(),
		Redelivered: c.redelivered.Load(), Claimed: c.claimed.Load(), Errors: c.errs.Load(), Lag: c.lag.Load(), LastID: last,
		LastEntryTime: lastTime, Delay: delay,
	}
}

// Ping asks Redis for a PONG through the connection Run uses, within ctx:
// for a readiness check. It returns an error when Run is not running, has
// not connected yet, or Redis does not answer.
func (c *Consumer) Ping(ctx context.Context) error {
	c.mu.Lock()
	client := c.client
	c.mu.Unlock()
	if client == nil {
		return errors.New("redisfeed: not connected to Redis")
	}
	if err := client.Do(ctx, client.B().Ping().Build()).Error(); err != nil {
		return fmt.Errorf("redisfeed: PING: %w", err)
	}
	return nil
}

// setClient makes client the one Ping uses.
func (c *Consumer) setClient(client rueidis.Client) {
	c.mu.Lock()
	c.client = client
	c.mu.Unlock()
}

// Run connects to Redis and applies the stream's updates until ctx ends,
// then returns ctx.Err(). Redis errors (refused connections, a restarted
// Redis, a deleted group) are logged and retried with backoff; the group
// is created again when missing. It returns another error only when Run is
// already running.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("redisfeed: Run is already running")
	}
	defer c.running.Store(false)
	var client rueidis.Client
	defer func() {
		c.setClient(nil)
		if client != nil {
			client.Close()
		}
	}()
	failures := 0
	for {
		var err error
		if client == nil {
			if client, err = rueidis.NewClient(c.opt); err == nil {
				c.setClient(client)
			}
		}
		if err == nil {
			err = c.consume(ctx, client, func() { failures = 0 })
		}
		if err := waitToRetry(ctx, &failures, &c.errs, c.log, "redisfeed: Redis error; retrying", err); err != nil {
			return err
		}
	}
}

// waitToRetry counts the Redis error err, logs it with msg and waits out
// the backoff of the failures in a row so far; it returns ctx's error
// when ctx ends first.
func waitToRetry(ctx context.Context, failures *int, errs *atomic.Int64, log *slog.Logger, msg string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	errs.Add(1)
	*failures++
	wait := backoff(*failures)
	log.Warn(msg, "err", err, "retry_in", wait)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(wait):
		return nil
	}
}

// backoff is the wait after n failures in a row: exponential from 100ms to
// 5s, with jitter.
func backoff(n int) time.Duration {
	d := 100 * time.Millisecond << min(n-1, 6)
	d = min(d, 5*time.Second)
	return d/2 + rand.N(d/2+1)
}

// consume creates the group if needed, re-reads this consumer's pending
// entries, then reads new ones until an error or the end of ctx. healthy
// is called after each successful read.
func (c *Consumer) consume(ctx context.Context, client rueidis.Client, healthy func()) error {
	err := client.Do(ctx, client.B().XgroupCreate().Key(c.stream).Group(c.group).Id("0").Mkstream().Build()).Error()
	if err != nil && !rueidis.IsRedisBusyGroup(err) {
		return fmt.Errorf("creating the consumer group: %w", err)
	}
	// Pending entries: read before a crash or a lost connection, never
	// acknowledged. Reading from id 0 returns them in order; go on after
	// the last one handled until none is left.
	after := "0"
	for {
		entries, err := c.read(ctx, client, after, false)
		if err != nil {
			return err
		}
		healthy()
		if len(entries) == 0 {
			break
		}
		c.redelivered.Add(int64(len(entries)))
		c.log.Info("redisfeed: applying entries read before but not acknowledged", "entries", len(entries))
		if err := c.handle(ctx, client, entries); err != nil {
			return err
		}
		after = entries[len(entries)-1].ID
	}
	if err := c.claim(ctx, client); err != nil {
		return err
	}
	for {
		if time.Since(c.lastClaim) >= c.idle/2 {
			if err := c.claim(ctx, client); err != nil {
				return err
			}
		}
		entries, err := c.read(ctx, client, ">", true)
		if err != nil {
			return err
		}
		healthy()
		if len(entries) == 0 {
			c.lag.Store(0)
			continue
		}
		if err := c.handle(ctx, client, entries); err != nil {
			return err
		}
		c.checkLag(ctx, client)
	}
}

// claim takes over the entries other consumers of the group left pending
// for longer than ClaimIdle (XAUTOCLAIM) and applies them.
func (c *Consumer) claim(ctx context.Context, client rueidis.Client) error {
	if c.idle == 0 {
		return nil
	}
	c.lastClaim = time.Now()
	start := "0-0"
	for {
		res, err := client.Do(ctx, client.B().Xautoclaim().Key(c.stream).Group(c.group).Consumer(c.name).
			MinIdleTime(strconv.FormatInt(c.idle.Milliseconds(), 10)).Start(start).Count(int64(c.batch)).Build()).ToArray()
		if err != nil {
			return fmt.Errorf("XAUTOCLAIM: %w", err)
		}
		if len(res) < 2 {
			return fmt.Errorf("XAUTOCLAIM: %d elements in the reply, want 2 or 3", len(res))
		}
		next, err := res[0].ToString()
		if err != nil {
			return fmt.Errorf("XAUTOCLAIM: next id: %w", err)
		}
		entries, err := res[1].AsXRange()
		if err != nil {
			return fmt.Errorf("XAUTOCLAIM: entries: %w", err)
		}
		if len(entries) > 0 {
			c.claimed.Add(int64(len(entries)))
			c.log.Warn("redisfeed: applying entries another consumer left pending", "entries", len(entries), "idle_over", c.idle)
			if err := c.handle(ctx, client, entries); err != nil {
				return err
			}
		}
		if next == "0-0" {
			return nil
		}
		start = next
	}
}

// read reads up to Batch entries after id ("0" for pending ones, ">" for
// new ones, blocking up to Block).
func (c *Consumer) read(ctx context.Context, client rueidis.Client, id string, block bool) ([]rueidis.XRangeEntry, error) {
	var cmd rueidis.Completed
	if block {
		cmd = client.B().Xreadgroup().Group(c.group, c.name).Count(int64(c.batch)).Block(c.block.Milliseconds()).
			Streams().Key(c.stream).Id(id).Build()
	} else {
		cmd = client.B().Xreadgroup().Group(c.group, c.name).Count(int64(c.batch)).
			Streams().Key(c.stream).Id(id).Build()
	}
	res, err := client.Do(ctx, cmd).AsXRead()
	if rueidis.IsRedisNil(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("XREADGROUP %s: %w", id, err)
	}
	return res[c.stream], nil
}

// maxBadLogs caps the bad entries logged per batch.
const maxBadLogs = 10

// handle decodes entries, applies them in one Apply call and acknowledges
// them all, bad ones included.
func (c *Consumer) handle(ctx context.Context, client rueidis.Client, entries []rueidis.XRangeEntry) error {
	c.updates = c.updates[:0]
	c.ackIDs = c.ackIDs[:0]
	c.badCount = 0
	spans := make([]int, 0, len(entries)+1) // spans[i]: first update of entry i
	for _, e := range entries {
		spans = append(spans, len(c.updates))
		c.ackIDs = append(c.ackIDs, e.ID)
		if e.FieldValues == nil {
			// A pending entry trimmed from the stream before it was
			// applied: its content is gone.
			c.log.Warn("redisfeed: a pending entry was deleted from the stream before it was applied", "entry", e.ID)
			continue
		}
		us, err := decodeEntry(e.FieldValues)
		if err != nil {
			c.refuse(e.ID, err)
			continue
		}
		c.updates = append(c.updates, us...)
	}
	spans = append(spans, len(c.updates))
	if len(c.updates) > 0 {
		if err := c.f.Apply(c.updates); err != nil {
			// Cannot happen with a *server.Server, which refuses only
			// what decodeEntry refuses; with another Applier, find the
			// entries at fault one by one.
			c.log.Warn("redisfeed: the batch was refused; applying entry by entry", "err", err)
			for i, e := range entries {
				us := c.updates[spans[i]:spans[i+1]]
				if len(us) == 0 {
					continue
				}
				if err := c.f.Apply(us); err != nil {
					c.refuse(e.ID, err)
					continue
				}
				c.applied.Add(int64(len(us)))
			}
		} else {
			c.applied.Add(int64(len(c.updates)))
		}
	}
	if c.badCount > maxBadLogs {
		c.log.Warn("redisfeed: more bad entries in this batch were not logged", "bad", c.badCount, "logged", maxBadLogs)
	}
	// Acknowledge even when ctx has just ended: what was applied should not
	// be applied again.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := client.Do(actx, client.B().Xack().Key(c.stream).Group(c.group).Id(c.ackIDs...).Build()).Error(); err != nil {
		return fmt.Errorf("XACK: %w", err)
	}
	c.entries.Add(int64(len(entries)))
	last := entries[len(entries)-1].ID
	c.mu.Lock()
	c.lastID = last
	if at, ok := idTime(last); ok {
		c.lastTime, c.delay = at, max(time.Since(at), 0)
	}
	c.mu.Unlock()
	c.log.Debug("redisfeed: applied", "entries", len(entries), "updates", len(c.updates), "last", entries[len(entries)-1].ID)
	return nil
}

// idTime returns the time in a stream entry id, "<Unix ms>-<seq>".
func idTime(id string) (time.Time, bool) {
	ms, _, ok := strings.Cut(id, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || n < 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(n), true
}

func (c *Consumer) refuse(id string, err error) {
	c.bad.Add(1)
	if c.badCount++; c.badCount <= maxBadLogs {
		c.log.Warn("redisfeed: bad entry acknowledged and skipped", "entry", id, "reason", err)
	}
}

// checkLag asks Redis how many entries the group has not been delivered
// yet, at most once a second.
func (c *Consumer) checkLag(ctx context.Context, client rueidis.Client) {
	if time.Since(c.lastLag) < time.Second {
		return
	}
	c.lastLag = time.Now()
	groups, err := client.Do(ctx, client.B().XinfoGroups().Key(c.stream).Build()).ToArray()
	if err != nil {
		return
	}
	for _, g := range groups {
		m, err := g.AsMap()
		if err != nil {
			continue
		}
		name, lagMsg := m["name"], m["lag"]
		if s, _ := name.ToString(); s != c.group {
			continue
		}
		lag, err := lagMsg.AsInt64()
		if err != nil {
			lag = -1 // nil: Redis cannot tell (Redis < 7, or after deletions)
		}
		c.lag.Store(lag)
		return
	}
}
