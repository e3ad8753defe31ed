package redisfeed_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server/redisfeed"
	"github.com/pushmap/pushmap/server/servertest"
)

// TestClaimsWhatAGoneConsumerLeftPending: two consumers of one group. The
// first, "gone", reads three entries (XREADGROUP by redis-cli) and dies
// without acknowledging them. The second, a Consumer, applies what the
// stream gets afterwards at once, and the three pending entries once they
// have been idle for ClaimIdle (XAUTOCLAIM), then acknowledges them: none
// is left pending. A consumer with ClaimIdle < 0 leaves them be.
func TestClaimsWhatAGoneConsumerLeftPending(t *testing.T) {
	f := start(t)
	f.redis.CLI("XGROUP", "CREATE", "pushmap:updates", "pushmap", "0", "MKSTREAM")
	for i := range 3 {
		f.xadd(t, "id", fmt.Sprint("pending-", i), "lon", fmt.Sprint(i), "lat", "1")
	}
	read := f.redis.CLI("XREADGROUP", "GROUP", "pushmap", "gone", "COUNT", "3", "STREAMS", "pushmap:updates", ">")
	if strings.Count(read, "pending-") != 3 {
		t.Fatalf("the gone consumer read %q, want the three entries", read)
	}
	f.xadd(t, "id", "later", "lon", "5", "lat", "1")

	// Not claiming: the pending entries stay the gone consumer's.
	c := f.run(t, &redisfeed.Options{ClaimIdle: -1})
	w := f.watch(t, geo.BBox(-10, -10, 10, 10), 5)
	sees(t, w, "later")
	f.stop(t)
	if c.Stats().Claimed != 0 {
		t.Fatalf("a consumer with ClaimIdle -1 claimed %d entries", c.Stats().Claimed)
	}

	c = f.run(t, &redisfeed.Options{Consumer: "second", ClaimIdle: 300 * time.Millisecond})
	sees(t, w, "later", "pending-0", "pending-1", "pending-2")
	if got := c.Stats().Claimed; got != 3 {
		t.Errorf("claimed %d entries, want 3", got)
	}
	servertest.Eventually(t, 5*time.Second, func() string {
		if n := f.redis.CLI("XPENDING", "pushmap:updates", "pushmap"); !strings.HasPrefix(n, "0") {
			return "entries still pending: " + n
		}
		return ""
	})
}
