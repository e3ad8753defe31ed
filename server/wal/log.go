package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushmap/pushmap/server"
)

// A Store is what a Log keeps durable: a *server.Server. Its methods must
// be safe for concurrent use.
type Store interface {
	// ApplyLayersThen applies a batch of updates for a feed limited to
	// layers (nil: every layer), then calls then with stored, which
	// returns a marker's state after the batch (false when there is no
	// such marker: removed, or never there), under the same lock: see
	// server.Server.ApplyLayersThen.
	ApplyLayersThen(layers []string, updates []server.Update, then func(stored func(id string) (server.StoredMarker, bool))) error
	// Snapshot copies every marker, for a snapshot.
	Snapshot() []server.StoredMarker
	// Restore loads markers into the store at Open: versions kept,
	// absolute expiry, expired ones skipped.
	Restore([]server.StoredMarker) error
}

var _ Store = (*server.Server)(nil)

// Fsync is when a Log makes its writes durable.
type Fsync int

const (
	// FsyncAlways fsyncs before Apply returns: an acknowledged write
	// survives kill -9, a kernel crash and a power cut.
	FsyncAlways Fsync = iota
	// FsyncInterval fsyncs every Options.Interval: an acknowledged write
	// survives kill -9; a crash of the machine loses at most the last
	// interval.
	FsyncInterval
)

// ParseFsync parses "always" or "interval".
func ParseFsync(s string) (Fsync, error) {
	switch s {
	case "always":
		return FsyncAlways, nil
	case "interval":
		return FsyncInterval, nil
	}
	return 0, fmt.Errorf("fsync policy %q: want always or interval", s)
}

func (f Fsync) String() string {
	if f == FsyncInterval {
		return "interval"
	}
	return "always"
}

// Options configures a Log. Dir is required; zero values elsewhere mean the
// defaults documented on each field.
type Options struct {
	// Dir holds the log and snapshots; Open creates it (mode 0700) when
	// missing. One Log at a time may use it: Open locks it (flock on
	// Dir/LOCK) and fails while another process or Log holds it.
	Dir string
	// Fsync is when writes become durable; default FsyncAlways.
	Fsync Fsync
	// Interval is how often FsyncInterval fsyncs; default 100ms.
	Interval time.Duration
	// SnapshotBytes is how many bytes of log are written before a
	// snapshot bounds it; default 64 MiB.
	SnapshotBytes int64
	// Logger receives what Open restored, snapshots taken and failures.
	// Default: slog.Default().
	Logger *slog.Logger
}

// ErrClosed is returned by writes to a closed Log.
var ErrClosed = errors.New("wal: the log is closed")

// A Log is the durable way into a Store; see the package documentation.
// Its methods are safe for concurrent use.
type Log struct {
	store Store
	opts  Options
	log   *slog.Logger

	// Lock order: syncMu, then mu.
	syncMu sync.Mutex // held by whoever fsyncs or swaps the segment file
	synced int64      // guarded by syncMu: bytes of log known durable

	mu         sync.Mutex
	file       *os.File            // guarded by mu: the segment being appended
	seg        uint64              // guarded by mu: its number
	written    int64               // guarded by mu: bytes of log written since Open, all segments
	sinceSnap  int64               // guarded by mu: bytes written since the last snapshot began
	err        error               // guarded by mu: why writes are refused (broken or closed), or nil
	enc        *encoder            // guarded by mu
	touched    map[string]struct{} // guarded by mu: scratch, the ids of a batch
	states     []state             // guarded by mu: scratch, their states
	snapping   bool                // guarded by mu: a snapshot is being taken
	snapDone   sync.WaitGroup      // the snapshot goroutine
	stop       chan struct{}       // closed by Close: stops the interval syncer
	syncerDone chan struct{}

	restored int    // markers Open restored
	unlock   func() // releases the directory's lock

	stats struct {
		batches, records, syncs, snapshots atomic.Int64
	}
}

// Stats are a Log's counters since Open.
type Stats struct {
	Batches   int64 // batches logged
	Records   int64 // marker states logged
	Syncs     int64 // fsyncs of the log (one may cover many batches)
	Snapshots int64 // snapshots written
	Bytes     int64 // bytes of log written
	Restored  int   // markers Open restored
}

// Open restores store from opts.Dir, which it creates when missing, and
// returns the Log to feed store through. store must be empty and must be
// changed only through the Log from then on (its markers' expiry aside).
func Open(store Store, opts Options) (*Log, error) {
	if opts.Dir == "" {
		return nil, errors.New("wal: Options.Dir is empty")
	}
	if opts.Interval < 0 || opts.SnapshotBytes < 0 {
		return nil, fmt.Errorf("wal: Interval %v and SnapshotBytes %d must not be negative", opts.Interval, opts.SnapshotBytes)
	}
	if opts.Interval == 0 {
		opts.Interval = 100 * time.Millisecond
	}
	if opts.SnapshotBytes == 0 {
		opts.SnapshotBytes = 64 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	unlock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	l := &Log{store: store, opts: opts, log: opts.Logger, enc: newEncoder(), touched: map[string]struct{}{},
		stop: make(chan struct{}), syncerDone: make(chan struct{}), unlock: unlock}
	last, restored, err := l.recover()
	if err == nil {
		err = l.openSegment(last + 1)
	}
	if err != nil {
		unlock()
		return nil, err
	}
	l.restored = restored
	l.log.Info("data restored", "dir", opts.Dir, "markers", restored, "fsync", opts.Fsync.String())
	if opts.Fsync == FsyncInterval {
		go l.syncEvery(opts.Interval)
	} else {
		close(l.syncerDone)
	}
	return l, nil
}

// files lists the segment and snapshot numbers in dir, ascending.
func files(dir string) (segs, snaps []uint64, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if n, ok := numbered(name, "wal-", ".log"); ok {
			segs = append(segs, n)
		} else if n, ok := numbered(name, "snapshot-", ".snap"); ok {
			snaps = append(snaps, n)
		} else if strings.HasSuffix(name, ".snap.tmp") { // a snapshot a crash interrupted
			os.Remove(filepath.Join(dir, name))
		}
	}
	slices.Sort(segs)
	slices.Sort(snaps)
	return segs, snaps, nil
}

func numbered(name, prefix, suffix string) (uint64, bool) {
	if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
		return 0, false
	}
	n, err := strconv.ParseUint(name[len(prefix):len(name)-len(suffix)], 10, 64)
	return n, err == nil
}

func (l *Log) segPath(n uint64) string {
	return filepath.Join(l.opts.Dir, fmt.Sprintf("wal-%020d.log", n))
}

func (l *Log) snapPath(n uint64) string {
	return filepath.Join(l.opts.Dir, fmt.Sprintf("snapshot-%020d.snap", n))
}

// recover loads the newest snapshot and replays the segments after it into
// the store. It returns the highest segment or snapshot number found.
func (l *Log) recover() (last uint64, restored int, err error) {
	segs, snaps, err := files(l.opts.Dir)
	if err != nil {
		return 0, 0, err
	}
	latest := map[string]state{}
	keep := func(states []state) error {
		for _, s := range states {
			latest[s.ID] = s
		}
		return nil
	}
	var from uint64
	if len(snaps) > 0 {
		from = snaps[len(snaps)-1]
		last = from
		f, err := os.Open(l.snapPath(from))
		if err != nil {
			return 0, 0, fmt.Errorf("wal: %w", err)
		}
		_, err = readFrames(f, keep)
		f.Close()
		if err != nil { // written whole and renamed: any damage is corruption
			return 0, 0, fmt.Errorf("wal: snapshot %s: %w", l.snapPath(from), err)
		}
	}
	for i, n := range segs {
		last = max(last, n)
		if n < from {
			continue // covered by the snapshot; its deletion was interrupted
		}
		path := l.segPath(n)
		f, err := os.Open(path)
		if err != nil {
			return 0, 0, fmt.Errorf("wal: %w", err)
		}
		good, err := readFrames(f, keep)
		f.Close()
		if errors.Is(err, errTorn) && i == len(segs)-1 {
			l.log.Warn("the last log record is incomplete, from a crash while it was written; it was never acknowledged and is dropped",
				"file", path, "offset", good, "err", err)
			if err := truncate(path, good); err != nil {
				return 0, 0, err
			}
		} else if err != nil {
			return 0, 0, fmt.Errorf("wal: %s: %w (the log is damaged before its end; it was not written so by pushmap)", path, err)
		}
	}
	recs := make([]server.StoredMarker, 0, len(latest))
	now := time.Now().UnixNano()
	for _, s := range latest {
		if !s.Removed && (s.Expires == 0 || s.Expires > now) {
			recs = append(recs, s.record())
		}
	}
	if err := l.store.Restore(recs); err != nil {
		return 0, 0, fmt.Errorf("wal: restoring %d markers: %w", len(recs), err)
	}
	return last, len(recs), nil
}

func truncate(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("wal: truncating %s to %d bytes: %w", path, size, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	return nil
}

// openSegment starts segment n; the caller holds syncMu and mu, or is
// Open. The previous segment, if any, must be synced already.
func (l *Log) openSegment(n uint64) error {
	f, err := os.OpenFile(l.segPath(n), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	if err := syncDir(l.opts.Dir); err != nil {
		f.Close()
		return err
	}
	if l.file != nil {
		l.file.Close()
	}
	l.file, l.seg = f, n
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("wal: syncing directory %s: %w", dir, err)
	}
	return nil
}

// Apply applies updates to the store and logs their result. With
// FsyncAlways it returns once that is durable. It returns the store's error
// when the batch is refused (nothing applied, nothing logged), or the
// log's when it cannot write: then this and every later write fail.
func (l *Log) Apply(updates []server.Update) error { return l.apply(nil, updates) }

// ApplyLayers is Apply for a feed limited to layers (see
// server.Server.ApplyLayers).
func (l *Log) ApplyLayers(layers []string, updates []server.Update) error {
	return l.apply(layers, updates)
}

func (l *Log) apply(layers []string, updates []server.Update) error {
	l.mu.Lock()
	if l.err != nil {
		err := l.err
		l.mu.Unlock()
		return err
	}
	// The states are read back under the store's lock, as the batch is
	// applied: no wait for the batch's fan-out to the clients.
	states := l.states[:0]
	err := l.store.ApplyLayersThen(layers, updates, func(stored func(id string) (server.StoredMarker, bool)) {
		clear(l.touched)
		for i := range updates {
			id := updates[i].Marker.ID
			if _, dup := l.touched[id]; dup {
				continue
			}
			l.touched[id] = struct{}{}
			if r, ok := stored(id); ok {
				states = append(states, stateOf(r))
			} else {
				states = append(states, state{ID: id, Removed: true})
			}
		}
	})
	if err != nil {
		l.mu.Unlock()
		return err
	}
	l.states = states
	frame, err := l.enc.frame(states)
	clear(l.states) // drop the props maps
	if err == nil {
		_, err = l.file.Write(frame)
	}
	if err != nil {
		l.err = fmt.Errorf("wal: writing to %s failed, the log refuses writes until a restart: %w", l.file.Name(), err)
		err = l.err
		l.log.Error("log write failed", "err", err)
		l.mu.Unlock()
		return err
	}
	l.written += int64(len(frame))
	l.sinceSnap += int64(len(frame))
	pos := l.written
	l.stats.batches.Add(1)
	l.stats.records.Add(int64(len(states)))
	if l.sinceSnap >= l.opts.SnapshotBytes && !l.snapping {
		l.snapping = true
		l.snapDone.Add(1)
		go l.snapshot()
	}
	l.mu.Unlock()
	if l.opts.Fsync == FsyncAlways {
		return l.syncTo(pos)
	}
	return nil
}

// syncTo returns once the first pos bytes of log are durable: it fsyncs,
// unless an fsync that began after they were written has covered them
// (group commit).
func (l *Log) syncTo(pos int64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.synced >= pos {
		return nil
	}
	l.mu.Lock()
	f, end, broken := l.file, l.written, l.err
	l.mu.Unlock()
	if broken != nil && !errors.Is(broken, ErrClosed) {
		return broken
	}
	if err := f.Sync(); err != nil {
		l.mu.Lock()
		if l.err == nil || errors.Is(l.err, ErrClosed) {
			l.err = fmt.Errorf("wal: fsync of %s failed, the log refuses writes until a restart: %w", f.Name(), err)
			l.log.Error("log fsync failed", "err", l.err)
		}
		err = l.err
		l.mu.Unlock()
		return err
	}
	l.stats.syncs.Add(1)
	l.synced = end
	return nil
}

// syncEvery fsyncs what was written, every interval, until Close.
func (l *Log) syncEvery(interval time.Duration) {
	defer close(l.syncerDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.mu.Lock()
			pos := l.written
			l.mu.Unlock()
			l.syncTo(pos)
		}
	}
}

// Snapshot writes a snapshot now and deletes the log it makes redundant;
// writes wait only while the log moves to a new segment.
func (l *Log) Snapshot() error {
	l.mu.Lock()
	for l.snapping {
		l.mu.Unlock()
		l.snapDone.Wait()
		l.mu.Lock()
	}
	if l.err != nil {
		err := l.err
		l.mu.Unlock()
		return err
	}
	l.snapping = true
	l.snapDone.Add(1)
	l.mu.Unlock()
	return l.takeSnapshot()
}

func (l *Log) snapshot() {
	if err := l.takeSnapshot(); err != nil && !errors.Is(err, ErrClosed) {
		l.log.Error("snapshot failed; the log keeps growing until one succeeds", "err", err)
	}
}

func (l *Log) takeSnapshot() (err error) {
	defer l.snapDone.Done()
	defer func() {
		l.mu.Lock()
		l.snapping = false
		l.mu.Unlock()
	}()
	start := time.Now()
	// Move to a new segment n: the snapshot covers every segment before it.
	l.syncMu.Lock()
	l.mu.Lock()
	if l.err != nil {
		err = l.err
	} else if err = l.file.Sync(); err == nil {
		l.synced = l.written
		err = l.openSegment(l.seg + 1)
	}
	n := l.seg
	l.sinceSnap = 0
	l.mu.Unlock()
	l.syncMu.Unlock()
	if err != nil {
		return err
	}
	var states []state
	for _, r := range l.store.Snapshot() {
		states = append(states, stateOf(r))
	}
	copied := time.Since(start)
	if err := l.writeSnapshot(n, states); err != nil {
		return err
	}
	l.stats.snapshots.Add(1)
	segs, snaps, err := files(l.opts.Dir)
	if err != nil {
		return err
	}
	for _, s := range segs {
		if s < n {
			os.Remove(l.segPath(s))
		}
	}
	for _, s := range snaps {
		if s < n {
			os.Remove(l.snapPath(s))
		}
	}
	l.log.Info("snapshot written", "file", l.snapPath(n), "markers", len(states),
		"copy", copied.Round(time.Microsecond).String(), "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// snapshotFrame is how many states one frame of a snapshot holds.
const snapshotFrame = 4096

func (l *Log) writeSnapshot(n uint64, states []state) error {
	path := l.snapPath(n)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	enc := newEncoder()
	for len(states) > 0 && err == nil {
		chunk := states[:min(len(states), snapshotFrame)]
		states = states[len(chunk):]
		var frame []byte
		if frame, err = enc.frame(chunk); err == nil {
			_, err = f.Write(frame)
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("wal: writing snapshot %s: %w", path, err)
	}
	return syncDir(l.opts.Dir)
}

// Stats returns the Log's counters.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	written := l.written
	l.mu.Unlock()
	return Stats{Batches: l.stats.batches.Load(), Records: l.stats.records.Load(), Syncs: l.stats.syncs.Load(),
		Snapshots: l.stats.snapshots.Load(), Bytes: written, Restored: l.restored}
}

// Close waits for a snapshot being taken, makes everything written durable
// and closes the log; later writes return ErrClosed. Call it after the
// feeds have stopped: a SIGTERM then loses nothing that was acknowledged.
func (l *Log) Close() error {
	l.mu.Lock()
	if errors.Is(l.err, ErrClosed) {
		l.mu.Unlock()
		return nil
	}
	broken := l.err
	l.err = ErrClosed
	l.mu.Unlock()
	close(l.stop)
	<-l.syncerDone
	l.snapDone.Wait()
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	err := broken
	if err == nil {
		err = l.file.Sync()
	}
	if cerr := l.file.Close(); err == nil {
		err = cerr
	}
	l.unlock()
	return err
}
