//go:build !js

package e2e_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/e2e"
	"github.com/pushmap/pushmap/server"
)

// TestGetTokenRefreshesInTheBrowser: the JS API's getToken, in Chromium
// with the real wasm client and server. Tokens live three seconds; the
// page's client asks for a new one before each expires and sends it on the
// open connection, which stays open past two expiries; a token the server
// refuses is not sent again.
func TestGetTokenRefreshesInTheBrowser(t *testing.T) {
	var mu sync.Mutex
	var presented []string
	authorize := func(_ *http.Request, tok string) (auth.Grant, error) {
		mu.Lock()
		presented = append(presented, tok)
		mu.Unlock()
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			return auth.Grant{}, fmt.Errorf("token %q is not a JWT", tok)
		}
		raw, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			return auth.Grant{}, err
		}
		var claims struct{ Exp int64 }
		if err := json.Unmarshal(raw, &claims); err != nil {
			return auth.Grant{}, err
		}
		if exp := time.Unix(claims.Exp, 0); time.Now().Before(exp) {
			return auth.Grant{Expires: exp}, nil
		}
		return auth.Grant{}, fmt.Errorf("expired")
	}
	d := startDemoWith(t, &server.Options{Authorize: authorize})
	p, err := browser(t).Open(testCtx(t, 30*time.Second), "http://"+d.addr+"/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const script = `(async () => {
		const { load } = await import('/lib/pushmap.js');
		const pm = await load();
		const b64 = (o) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
		window.tok = { calls: 0, states: [] };
		window.client = pm.connect('/ws', {
			getToken: async () => {
				window.tok.calls++;
				if (window.tok.calls === 1) return 'refused';
				return b64({ alg: 'none' }) + '.' + b64({ exp: Math.floor(Date.now() / 1000) + 3 }) + '.sig';
			},
		});
		window.client.on('status', (s) => window.tok.states.push(s.state + ':' + s.code));
		return true;
	})()`
	if _, err := e2e.Eval[bool](testCtx(t, 30*time.Second), p, script); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor(testCtx(t, 20*time.Second), `window.client.status === 'open'`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(7 * time.Second) // two expiries of three-second tokens
	states, err := e2e.Eval[[]string](testCtx(t, 5*time.Second), p, `window.tok.states`)
	if err != nil {
		t.Fatal(err)
	}
	calls, err := e2e.Eval[int](testCtx(t, 5*time.Second), p, `window.tok.calls`)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("states %v, getToken called %d times, server saw %d tokens", states, calls, len(presented))
	if last := states[len(states)-1]; last != "open:0" || strings.Count(strings.Join(states, ","), "open") != 1 {
		t.Fatalf("states %v: want one open, never lost after", states)
	}
	if calls < 4 || len(presented) < 4 {
		t.Fatalf("getToken called %d times and %d tokens presented: want the refused one, the first good one and two refreshes", calls, len(presented))
	}
	for i, tok := range presented[1:] {
		if tok == "refused" {
			t.Fatalf("the refused token was presented again (token %d)", i+1)
		}
	}
}
