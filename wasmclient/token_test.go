//go:build !js

package wasmclient_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wasmclient"
	"github.com/pushmap/pushmap/wire"
)

// testJWT returns an unsigned JWT-shaped token whose payload has sub and
// exp: the client reads exp; the test's Authorize checks both.
func testJWT(sub string, exp time.Time) string {
	enc := base64.RawURLEncoding
	payload, _ := json.Marshal(map[string]any{"sub": sub, "note": `"exp": 1`, "exp": exp.Unix()})
	return enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + enc.EncodeToString(payload) + ".sig"
}

// jwtAuthorizer accepts testJWT tokens until their exp and counts calls.
type jwtAuthorizer struct {
	calls  atomic.Int64
	mu     sync.Mutex
	tokens []string
}

func (a *jwtAuthorizer) authorize(_ *http.Request, tok string) (auth.Grant, error) {
	a.calls.Add(1)
	a.mu.Lock()
	a.tokens = append(a.tokens, tok)
	a.mu.Unlock()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return auth.Grant{}, fmt.Errorf("token %q is not a JWT", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return auth.Grant{}, err
	}
	var claims struct {
		Sub string `json:"sub"`
		Exp int64  `json:"exp"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return auth.Grant{}, err
	}
	exp := time.Unix(claims.Exp, 0)
	if !time.Now().Before(exp) {
		return auth.Grant{}, fmt.Errorf("token of %s expired", claims.Sub)
	}
	return auth.Grant{Subject: claims.Sub, Expires: exp}, nil
}

// TestTokenFuncRefreshesBeforeExpiry: tokens live two or three seconds;
// the client asks for a new one before each expires and sends it on the
// open connection, which stays open past several expiries.
func TestTokenFuncRefreshesBeforeExpiry(t *testing.T) {
	a := &jwtAuthorizer{}
	srv, url := servertest.StartServer(t, &server.Options{Authorize: a.authorize})
	srv.Upsert(wire.Marker{ID: "m", Pos: geo.Pt(1, 1)})
	var calls atomic.Int64
	var mu sync.Mutex
	var statuses []wasmclient.Status
	c, err := wasmclient.Dial(context.Background(), url, &wasmclient.Options{
		TokenFunc: func(context.Context) (string, error) {
			n := calls.Add(1)
			return testJWT(fmt.Sprint("user-", n), time.Now().Add(3*time.Second)), nil
		},
		OnStatus: func(s wasmclient.Status) { mu.Lock(); statuses = append(statuses, s); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetView(context.Background(), 0, geo.World, 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * time.Second) // two expiries of the first token
	mu.Lock()
	defer mu.Unlock()
	if len(statuses) != 1 || statuses[0].State != wasmclient.Open {
		t.Fatalf("the connection changed state: %+v", statuses)
	}
	if n := a.calls.Load(); n < 3 {
		t.Fatalf("Authorize called %d times, want the hello and at least two refreshes", n)
	}
	if c.Status().State != wasmclient.Open || srv.Stats().Accepted != 1 {
		t.Fatalf("status %+v after %d connections", c.Status(), srv.Stats().Accepted)
	}
}

// TestRefusedTokenIsNotResent: a token function that keeps returning a
// token the server refused (4401) is called again, with backoff, but the
// token is not sent again; once it gives a good one the client connects.
func TestRefusedTokenIsNotResent(t *testing.T) {
	a := &jwtAuthorizer{}
	_, url := servertest.StartServer(t, &server.Options{Authorize: a.authorize})
	var calls atomic.Int64
	var good atomic.Bool
	c := wasmclient.Connect(url, &wasmclient.Options{
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		TokenFunc: func(context.Context) (string, error) {
			calls.Add(1)
			if good.Load() {
				return testJWT("good", time.Now().Add(time.Hour)), nil
			}
			return "refused", nil
		},
	})
	defer c.Close()
	servertest.Eventually(t, 5*time.Second, func() string {
		if calls.Load() < 5 {
			return fmt.Sprintf("token function called %d times", calls.Load())
		}
		return ""
	})
	if n := a.calls.Load(); n != 1 {
		t.Fatalf("the refused token was presented %d times, want once", n)
	}
	if st := c.Status(); st.State == wasmclient.Closed {
		t.Fatalf("the client gave up: %+v", st)
	}
	good.Store(true)
	servertest.Eventually(t, 5*time.Second, func() string {
		if st := c.Status(); st.State != wasmclient.Open {
			return fmt.Sprintf("status %+v", st)
		}
		return ""
	})
}

// TestBackoffGrowsWhenClosedRightAfterConnect: a server that closes each
// connection shortly after accepting it (its tokens expire at once) sees
// the client's attempts slow down, instead of one every few hundred
// milliseconds forever.
func TestBackoffGrowsWhenClosedRightAfterConnect(t *testing.T) {
	var conns atomic.Int64
	_, url := servertest.StartServer(t, &server.Options{Authorize: func(*http.Request, string) (auth.Grant, error) {
		conns.Add(1)
		return auth.Grant{Expires: time.Now().Add(50 * time.Millisecond)}, nil
	}})
	c := wasmclient.Connect(url, &wasmclient.Options{
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 10 * time.Second,
		TokenFunc: func(context.Context) (string, error) { return fmt.Sprint("t", time.Now().UnixNano()), nil },
	})
	defer c.Close()
	time.Sleep(3 * time.Second)
	// Waits of 25–75, 50–150, 100–300 ms… after 50 ms connections: at most
	// about eight in 3 s. Resetting the backoff at each connect made ~25.
	if n := conns.Load(); n > 12 {
		t.Fatalf("%d connections in 3 s: the backoff does not grow", n)
	}
	t.Logf("%d connections in 3 s", conns.Load())
}

// TestSplitReplyCompletesSetView: SetView returns once the last more frame
// of a split view_ack is applied: the cache then holds every marker.
func TestSplitReplyCompletesSetView(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{Budget: 20000, MaxSendFrameBytes: wire.MinFrameBytes})
	var ms []wire.Marker
	for i := range 10000 {
		ms = append(ms, wire.Marker{ID: fmt.Sprintf("marker-%06d", i), Pos: geo.Pt(float64(i%100)/10, float64(i/100)/20)})
	}
	if err := srv.Apply(server.Upserts(ms...)); err != nil {
		t.Fatal(err)
	}
	var frames atomic.Int64
	c, err := wasmclient.Dial(context.Background(), url, &wasmclient.Options{OnChange: func(wasmclient.Change) { frames.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetView(context.Background(), 0, geo.World, 2); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Markers()); n != len(ms) {
		t.Fatalf("SetView returned with %d markers cached, want %d", n, len(ms))
	}
	if err := c.SetLayers(context.Background(), []string{""}); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Markers()); n != len(ms) {
		t.Fatalf("SetLayers returned with %d markers cached, want %d", n, len(ms))
	}
	t.Logf("%d frames", frames.Load())
}
