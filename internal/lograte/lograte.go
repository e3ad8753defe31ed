// Package lograte logs events that an attacker or a broken client can
// cause at any rate (refused connections, bad tokens, floods) without
// letting them fill the disk: at most a few lines per second per kind of
// event, then one summary line saying how many more there were.
package lograte

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Defaults of a Limiter's PerInterval and Interval.
const (
	DefaultPerInterval = 5
	DefaultInterval    = time.Second
)

// A Limiter logs at most PerInterval records per Interval for each key; the
// records it drops are counted, and once the interval is over one summary
// record says how many there were ("and 1234 more"), so that every event is
// either logged or counted in a summary. A flood therefore costs at most
// PerInterval+1 lines per key per Interval. The zero value is not usable:
// make one with New. Keys must come from a small fixed set (reasons, not
// addresses): the Limiter keeps a little state per key for ever. Its
// methods are safe for concurrent use.
type Limiter struct {
	log         *slog.Logger
	perInterval int
	interval    time.Duration

	mu      sync.Mutex
	windows map[string]*window // guarded by mu
	stopped bool               // guarded by mu: Flush was called for good
}

// A window is the current interval of one key.
type window struct {
	start   time.Time
	logged  int
	dropped int
	level   slog.Level // of the first record dropped, for the summary
	msg     string     // of the first record dropped
	timer   *time.Timer
}

// New returns a Limiter logging to log, at most perInterval records per
// interval and key; zero or negative values mean the defaults (5 per
// second).
func New(log *slog.Logger, perInterval int, interval time.Duration) *Limiter {
	if perInterval <= 0 {
		perInterval = DefaultPerInterval
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Limiter{log: log, perInterval: perInterval, interval: interval, windows: make(map[string]*window)}
}

// Log logs msg with args at level, unless PerInterval records of key were
// logged in the current interval: then it only counts it for the summary.
// It reports whether the record was logged.
func (l *Limiter) Log(level slog.Level, key, msg string, args ...any) bool {
	if !l.log.Enabled(context.Background(), level) {
		return false
	}
	now := time.Now()
	l.mu.Lock()
	w := l.windows[key]
	var summary window
	if w == nil {
		w = &window{start: now}
		l.windows[key] = w
	} else if now.Sub(w.start) >= l.interval {
		summary = l.endLocked(w)
		w.start, w.logged = now, 0
	}
	logged := w.logged < l.perInterval
	if logged {
		w.logged++
	} else {
		if w.dropped == 0 {
			w.level, w.msg = level, msg
			if !l.stopped {
				start := w.start
				w.timer = time.AfterFunc(w.start.Add(l.interval).Sub(now), func() { l.flushKey(key, start) })
			}
		}
		w.dropped++
	}
	l.mu.Unlock()
	l.summarize(key, summary)
	if logged {
		l.log.Log(context.Background(), level, msg, args...)
	}
	return logged
}

// endLocked ends w's interval and returns what its summary must say
// (dropped 0: nothing).
func (l *Limiter) endLocked(w *window) window {
	s := *w
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.dropped = 0
	return s
}

// flushKey writes the summary of key's interval that began at start, if
// that interval is still the key's current one.
func (l *Limiter) flushKey(key string, start time.Time) {
	l.mu.Lock()
	w := l.windows[key]
	var s window
	if w != nil && w.start.Equal(start) {
		s = l.endLocked(w)
	}
	l.mu.Unlock()
	l.summarize(key, s)
}

func (l *Limiter) summarize(key string, s window) {
	if s.dropped == 0 {
		return
	}
	l.log.Log(context.Background(), s.level, s.msg+": and more, not logged",
		"key", key, "more", s.dropped, "within", l.interval.String())
}

// Flush writes the summaries of every key now, and stops arming timers:
// call it when the program that owns the Limiter stops. Log still works
// after it, with summaries written only by later calls of Log or Flush.
func (l *Limiter) Flush() {
	l.mu.Lock()
	l.stopped = true
	var pending []window
	var keys []string
	for key, w := range l.windows {
		if s := l.endLocked(w); s.dropped > 0 {
			pending = append(pending, s)
			keys = append(keys, key)
		}
	}
	l.mu.Unlock()
	for i, s := range pending {
		l.summarize(keys[i], s)
	}
}
