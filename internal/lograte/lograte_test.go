package lograte

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// lines decodes the JSON log in buf.
func lines(t *testing.T, buf *syncBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

// TestFloodIsSummarized logs a flood of two kinds from several goroutines:
// every event is logged or counted in a summary, and the lines written stay
// within PerInterval+1 per key and interval elapsed.
func TestFloodIsSummarized(t *testing.T) {
	buf := new(syncBuffer)
	const per, interval = 3, 50 * time.Millisecond
	l := New(slog.New(slog.NewJSONHandler(buf, nil)), per, interval)
	const goroutines, each = 4, 5000
	start := time.Now()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			key := []string{"server_full", "bad_token"}[g%2]
			for range each {
				l.Log(slog.LevelWarn, key, "connection refused", "reason", key)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	l.Flush()

	logged, summarized := map[string]int{}, map[string]int{}
	got := lines(t, buf)
	for _, m := range got {
		if more, ok := m["more"].(float64); ok {
			summarized[m["key"].(string)] += int(more)
			if m["level"] != "WARN" || m["msg"] != "connection refused: and more, not logged" {
				t.Errorf("summary %v: want level WARN and the first dropped record's message", m)
			}
			continue
		}
		logged[m["reason"].(string)]++
	}
	for _, key := range []string{"server_full", "bad_token"} {
		if n := logged[key] + summarized[key]; n != goroutines/2*each {
			t.Errorf("%s: %d logged + %d summarized = %d, want every one of %d", key, logged[key], summarized[key], n, goroutines/2*each)
		}
	}
	windows := int(elapsed/interval) + 1
	if limit := 2 * windows * (per + 1); len(got) > limit {
		t.Errorf("%d lines for %d events in %v, want at most %d (%d per key and %v)", len(got), goroutines*each, elapsed, limit, per+1, interval)
	}
	if len(summarized) == 0 {
		t.Error("no summary line")
	}
}

// TestSummaryWithoutLaterEvent checks that a flood that stops is still
// summarized when its interval ends, without another event or a Flush.
func TestSummaryWithoutLaterEvent(t *testing.T) {
	buf := new(syncBuffer)
	l := New(slog.New(slog.NewJSONHandler(buf, nil)), 1, 20*time.Millisecond)
	for range 10 {
		l.Log(slog.LevelInfo, "k", "refused")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		total := 0
		got := lines(t, buf)
		for _, m := range got {
			if more, ok := m["more"].(float64); ok {
				total += int(more)
			} else {
				total++
			}
		}
		if total == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s the log accounts for %d of 10 events: %v", total, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.Flush()
}

// TestLevelBelowHandler: records the handler would drop cost no window.
func TestLevelBelowHandler(t *testing.T) {
	buf := new(syncBuffer)
	l := New(slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelWarn})), 1, time.Hour)
	for range 3 {
		if l.Log(slog.LevelInfo, "k", "refused") {
			t.Error("an info record was logged by a warn handler")
		}
	}
	l.Flush()
	if len(buf.Bytes()) != 0 {
		t.Errorf("log: %s", buf.Bytes())
	}
}
