//go:build !js

package e2e_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
)

// TestRefusedOriginIsReported opens the demo page from one origin with a
// WebSocket URL on another server, which refuses the page's origin (403 on
// the upgrade, as a server without --origins does): the page must say so
// through 'status' and 'error' events rather than stay 'connecting' in
// silence.
func TestRefusedOriginIsReported(t *testing.T) {
	d := startDemo(t)
	other, err := server.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	var upgrades atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upgrades.Add(1)
		other.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	wsURL := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"

	b := browser(t)
	p, err := b.Open(testCtx(t, 30*time.Second), d.url("lon=2.35&lat=48.85&zoom=10&declutter=0&ws="+url.QueryEscape(wsURL)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ctx := testCtx(t, 30*time.Second)
	if err := p.WaitFor(ctx, `(pushmapDemo.stats.error ?? '').startsWith('connect_failed')`); err != nil {
		t.Fatalf("no connect_failed error shown: %v", err)
	}
	var got struct {
		Status, Error, Panel string
	}
	if err := p.Eval(ctx, `({Status: pushmapDemo.client.status, Error: pushmapDemo.stats.error,
		Panel: document.getElementById('st-error').textContent})`, &got); err != nil {
		t.Fatal(err)
	}
	if got.Status != "connecting" || !strings.Contains(got.Error, "--origins") || got.Panel != got.Error {
		t.Errorf("status %q, error %q, panel %q: want connecting, the reason naming --origins, shown", got.Status, got.Error, got.Panel)
	}
	if upgrades.Load() == 0 {
		t.Error("the page never reached the other server")
	}
	// The server did refuse it: a Go client sending the page's Origin gets 403.
	req, _ := http.NewRequest("GET", hs.URL+"/ws", nil)
	for k, v := range map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
		"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Origin": "http://" + d.addr} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("upgrade from the page's origin: HTTP %d, want 403", resp.StatusCode)
	}
}

// TestStaleMarkersFade: while the server is down the markers drawn fade,
// on both pages, and come back to full opacity once reconnected.
func TestStaleMarkersFade(t *testing.T) {
	for name, page := range map[string]string{"maplibre": "/", "leaflet": "/leaflet.html"} {
		t.Run(name, func(t *testing.T) {
			d := startDemo(t)
			d.upsert(car("here", 2.35, 48.85))
			zoom := "10"
			if page != "/" {
				zoom = "11"
			}
			p := openPage(t, d, page+"?declutter=0&lon=2.35&lat=48.85&zoom="+zoom)
			waitShownIDs(t, p, "here")
			opacity := func() float64 {
				var o float64
				if err := p.Eval(testCtx(t, 10*time.Second), `__pushmapAdapters[0].markerOpacity()`, &o); err != nil {
					t.Fatal(err)
				}
				return o
			}
			if o := opacity(); o != 1 {
				t.Fatalf("connected: opacity %v, want 1", o)
			}
			d.stop()
			if err := p.WaitFor(testCtx(t, 20*time.Second), `__pushmapAdapters[0].stale && __pushmapAdapters[0].markerOpacity() < 0.5`); err != nil {
				t.Fatalf("markers not faded while disconnected (opacity %v): %v", opacity(), err)
			}
			d.start([]wire.Marker{car("here", 2.35, 48.85)})
			if err := p.WaitFor(testCtx(t, 60*time.Second), `!__pushmapAdapters[0].stale && __pushmapAdapters[0].markerOpacity() === 1`); err != nil {
				t.Fatalf("markers still faded after reconnecting (opacity %v): %v", opacity(), err)
			}
		})
	}
}
