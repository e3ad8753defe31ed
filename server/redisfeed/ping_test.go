package redisfeed_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/server/servertest"
)

// TestPingFollowsRedis: Ping answers while Run is connected, fails with the
// reason once Redis is gone, and answers again when it is back.
func TestPingFollowsRedis(t *testing.T) {
	f := start(t)
	c := f.run(t, nil)
	ping := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		return c.Ping(ctx)
	}
	servertest.Eventually(t, 10*time.Second, func() string {
		if err := ping(); err != nil {
			return "Ping while Redis runs: " + err.Error()
		}
		return ""
	})
	f.redis.Stop()
	servertest.Eventually(t, 10*time.Second, func() string {
		if ping() == nil {
			return "Ping answers with Redis stopped"
		}
		return ""
	})
	if err := ping(); err == nil || !strings.Contains(err.Error(), "PING") {
		t.Errorf("Ping with Redis stopped: %v, want an error naming PING", err)
	}
	f.redis.Restart()
	servertest.Eventually(t, 20*time.Second, func() string {
		if err := ping(); err != nil {
			return "Ping after Redis came back: " + err.Error()
		}
		return ""
	})
}

// TestPingWithoutRun: a consumer that is not running is not ready.
func TestPingWithoutRun(t *testing.T) {
	f := start(t)
	c := f.run(t, nil)
	f.stop(t)
	if err := c.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "not connected") {
		t.Errorf("Ping after Run returned: %v, want not connected", err)
	}
}

// TestDelay: the stats say when the last entry was written and how old it
// was when applied.
func TestDelay(t *testing.T) {
	f := start(t)
	c := f.run(t, nil)
	before := time.Now().Add(-time.Second) // Redis's clock is this machine's
	f.xadd(t, "id", "a", "lon", "1", "lat", "1")
	f.handled(t, c, 1)
	st := c.Stats()
	if st.LastEntryTime.Before(before) || st.LastEntryTime.After(time.Now()) {
		t.Errorf("LastEntryTime %v, want within the test (from %v)", st.LastEntryTime, before)
	}
	if st.Delay < 0 || st.Delay > time.Since(before) {
		t.Errorf("Delay %v, want between 0 and %v", st.Delay, time.Since(before))
	}
}
