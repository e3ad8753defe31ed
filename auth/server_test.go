package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wasmclient"
	"github.com/pushmap/pushmap/wire"
)

// TestVerifierGuardsServer puts a Verifier in front of a real server and
// connects real clients: a signed token gets in, an expired, forged or
// missing one is closed with 4401 and a reason saying why.
func TestVerifierGuardsServer(t *testing.T) {
	v := newVerifier(t, auth.Config{Secrets: [][]byte{secretA}, JWKSFile: jwksFile(t), Leeway: -1})
	_, url := servertest.StartServer(t, &server.Options{Authorize: v.Authorize})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for name, tok := range map[string]string{
		"HS256": hs256(t, secretA, claims(map[string]any{"layers": []string{"a"}})),
		"ES256": sign(t, jwt.SigningMethodES256, ecKey(), "ec-1", claims(nil)),
	} {
		c, err := wasmclient.Dial(ctx, url, &wasmclient.Options{Token: tok})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c.Close()
	}

	expiredAt := time.Now().Add(-time.Minute)
	for _, tt := range []struct {
		name, token, reason string
	}{
		{"expired", hs256(t, secretA, claims(map[string]any{"exp": expiredAt.Unix()})),
			"unauthorized: token expired at " + expiredAt.UTC().Format(time.RFC3339)},
		{"forged", hs256(t, secretC, claims(nil)), "unauthorized: signature invalid"},
		{"none", forge(map[string]any{"alg": "none"}, claims(nil), nil), `unauthorized: token algorithm "none" is not accepted`},
		{"missing", "", "unauthorized: no token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := wasmclient.Dial(ctx, url, &wasmclient.Options{Token: tt.token})
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want a close", err)
			}
			if ce.Code != wire.CloseUnauthorized || !strings.HasPrefix(ce.Reason, tt.reason) {
				t.Errorf("closed with %d %q, want %d %q", ce.Code, ce.Reason, wire.CloseUnauthorized, tt.reason)
			}
		})
	}
}
