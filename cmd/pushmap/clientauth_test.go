package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wasmclient"
	"github.com/pushmap/pushmap/wire"
)

// Secrets of these tests, 32 bytes and more.
const (
	secret1 = "cmd-test-secret-1-0123456789abcdefghij"
	secret2 = "cmd-test-secret-2-0123456789abcdefghij"
)

func TestParseConfigClientAuth(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want config // of the client auth fields only
	}{
		{name: "flags",
			args: []string{"--jwt-secrets", " " + secret1 + " , " + secret2, "--jwt-secrets-file", "s.txt", "--jwks-file", "k.json",
				"--jwt-audience", "pushmap", "--jwt-issuer", "https://app.example", "--client-tokens", "dev1,dev2"},
			want: config{jwtSecrets: []string{secret1, secret2}, jwtSecretsFile: "s.txt", jwksFile: "k.json",
				jwtAudience: "pushmap", jwtIssuer: "https://app.example", clientTokens: []string{"dev1", "dev2"}, argvSecrets: true}},
		{name: "environment",
			env: map[string]string{"PUSHMAP_JWT_SECRETS": secret1, "PUSHMAP_JWT_SECRETS_FILE": "s.txt", "PUSHMAP_JWKS_FILE": "k.json",
				"PUSHMAP_JWT_AUDIENCE": "a", "PUSHMAP_JWT_ISSUER": "i", "PUSHMAP_CLIENT_TOKENS": "dev"},
			want: config{jwtSecrets: []string{secret1}, jwtSecretsFile: "s.txt", jwksFile: "k.json",
				jwtAudience: "a", jwtIssuer: "i", clientTokens: []string{"dev"}}},
		{name: "none", want: config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig("serve", tt.args, mapEnv(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			got := config{jwtSecrets: c.jwtSecrets, jwtSecretsFile: c.jwtSecretsFile, jwksFile: c.jwksFile,
				jwtAudience: c.jwtAudience, jwtIssuer: c.jwtIssuer, clientTokens: c.clientTokens, argvSecrets: c.argvSecrets}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// testJWKS writes a JWKS file of the public part of key, with kid, into
// dir and returns its path.
func testJWKS(t *testing.T, dir, kid string, key *ecdsa.PrivateKey) string {
	t.Helper()
	pub, err := key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	writeFile(t, dir, "jwks.json", fmt.Sprintf(`{"keys": [{"kty": "EC", "crv": "P-256", "kid": %q, "x": %q, "y": %q}]}`,
		kid, b64(pub[1:33]), b64(pub[33:])))
	return filepath.Join(dir, "jwks.json")
}

func TestNewVerifierFromFlags(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "secrets", "# the current secret first\n"+secret1+"\n\n  "+secret2+"  \n")
	writeFile(t, dir, "short", "# comment\n"+secret1+"\nshort-secret\n")
	writeFile(t, dir, "empty", "# no secret yet\n\n")
	writeFile(t, dir, "bad.json", `{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k", "x": "AAAA", "y": "AAAA"}]}`)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks := testJWKS(t, dir, "k1", key)
	file := func(name string) string { return filepath.Join(dir, name) }

	errs := []struct {
		name string
		c    config
		want []string
	}{
		{"empty secret", config{jwtSecrets: []string{""}},
			[]string{"--jwt-secrets (or PUSHMAP_JWT_SECRETS): secret 1 of 1 is empty"}},
		{"stray comma", config{jwtSecrets: []string{secret1, ""}}, []string{"secret 2 of 2 is empty (a stray comma?)"}},
		{"short secret", config{jwtSecrets: []string{secret1, "tiny"}},
			[]string{"--jwt-secrets (or PUSHMAP_JWT_SECRETS): secret 2 of 2 is 4 bytes, at least 32 required"}},
		{"short secret in the file", config{jwtSecretsFile: file("short")},
			[]string{"--jwt-secrets-file " + file("short") + ": the secret on line 3 is 12 bytes, at least 32"}},
		{"no secrets file", config{jwtSecretsFile: file("missing")}, []string{"--jwt-secrets-file", "no such file"}},
		{"empty secrets file", config{jwtSecretsFile: file("empty")}, []string{"--jwt-secrets-file", "holds no secret"}},
		{"no JWKS file", config{jwksFile: file("missing.json")}, []string{"--jwks-file", "missing.json", "no such file"}},
		{"bad JWKS file", config{jwksFile: file("bad.json")}, []string{"--jwks-file", `kid "k"`, "P-256 coordinates must be 32 bytes"}},
		{"audience alone", config{jwtAudience: "pushmap"}, []string{"--jwt-audience and --jwt-issuer need"}},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			v, err := tt.c.newVerifier(slog.New(slog.DiscardHandler))
			if err == nil {
				v.Close()
				t.Fatal("no error")
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "tiny") || strings.Contains(err.Error(), "short-secret") {
				t.Errorf("error %q reveals a secret", err)
			}
		})
	}

	if v, err := new(config).newVerifier(slog.New(slog.DiscardHandler)); v != nil || err != nil {
		t.Errorf("without client auth flags: %v, %v; want no verifier", v, err)
	}

	// Every source at once: each secret of the flag and the file verifies,
	// the JWKS key too, and the static tokens.
	var log servertest.Buffer
	c := config{jwtSecrets: []string{secret1}, jwtSecretsFile: file("secrets"), jwksFile: jwks,
		clientTokens: []string{"dev"}, argvSecrets: true}
	v, err := c.newVerifier(slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	exp := jwt.MapClaims{"sub": "u", "exp": time.Now().Add(time.Hour).Unix()}
	for _, tok := range []string{hs256Token(t, secret1, exp), hs256Token(t, secret2, exp), es256Token(t, key, "k1", exp), "dev"} {
		if _, err := v.Verify(tok); err != nil {
			t.Errorf("token %.20s…: %v", tok, err)
		}
	}
	for _, s := range []string{"--jwt-secrets on the command line is visible", "static client tokens (--client-tokens) grant everything"} {
		if !strings.Contains(log.String(), s) {
			t.Errorf("log lacks %q:\n%s", s, log.String())
		}
	}
}

func hs256Token(t *testing.T, secret string, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func es256Token(t *testing.T, key *ecdsa.PrivateKey, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestServeClientAuth runs serve with JWT secrets from a file, a JWKS file
// and a static token, and connects real clients: each credential gets in,
// an expired or forged token is closed with 4401 and says why.
func TestServeClientAuth(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "secrets", secret1+"\n")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks := testJWKS(t, dir, "app-1", key)
	r := start(t, "serve", "--addr", "127.0.0.1:0", "--jwt-secrets-file", filepath.Join(dir, "secrets"),
		"--jwks-file", jwks, "--client-tokens", "dev-token", "--jwt-audience", "pushmap")
	url := wsURL(r.url, "/ws")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	valid := jwt.MapClaims{"sub": "u", "aud": "pushmap", "exp": time.Now().Add(time.Hour).Unix(), "layers": []string{"a"}}
	for name, tok := range map[string]string{
		"HS256": hs256Token(t, secret1, valid), "ES256": es256Token(t, key, "app-1", valid), "static": "dev-token",
	} {
		c, err := wasmclient.Dial(ctx, url, &wasmclient.Options{Token: tok})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c.Close()
	}
	expired := time.Now().Add(-time.Hour)
	for _, tt := range []struct{ name, token, reason string }{
		{"expired", hs256Token(t, secret1, jwt.MapClaims{"aud": "pushmap", "exp": expired.Unix()}),
			"token expired at " + expired.UTC().Format(time.RFC3339)},
		{"forged", hs256Token(t, secret2, valid), "signature invalid"},
		{"other audience", hs256Token(t, secret1, jwt.MapClaims{"aud": "other", "exp": valid["exp"]}), "audience"},
		{"none", "", "no token"},
	} {
		_, err := wasmclient.Dial(ctx, url, &wasmclient.Options{Token: tt.token})
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != wire.CloseUnauthorized || !strings.Contains(ce.Reason, tt.reason) {
			t.Errorf("%s: %v, want close %d with %q", tt.name, err, wire.CloseUnauthorized, tt.reason)
		}
	}
	if code := r.stop(); code != 0 {
		t.Errorf("exit status %d", code)
	}
}

// TestServeRefusesBadClientAuth checks that serve refuses to start, with
// status 2 and a message naming the flag, on client auth it cannot use.
func TestServeRefusesBadClientAuth(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "jwks.json", `{"keys": []}`)
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"short secret", nil, map[string]string{"PUSHMAP_JWT_SECRETS": "0123456789"},
			"--jwt-secrets (or PUSHMAP_JWT_SECRETS): secret 1 of 1 is 10 bytes, at least 32 required"},
		{"empty secret", []string{"--jwt-secrets", ""}, nil, "--jwt-secrets (or PUSHMAP_JWT_SECRETS): secret 1 of 1 is empty"},
		{"stray comma", nil, map[string]string{"PUSHMAP_JWT_SECRETS": "0123456789abcdefghijklmnopqrstuvwxyz,"},
			"--jwt-secrets (or PUSHMAP_JWT_SECRETS): secret 2 of 2 is empty"},
		{"JWKS without keys", []string{"--jwks-file", filepath.Join(dir, "jwks.json")}, nil,
			"--jwks-file: auth: JWKS file " + filepath.Join(dir, "jwks.json") + ": no RS256 or ES256 signing key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x, _, stderr := testCLI(tt.env)
			args := append([]string{"serve", "--addr", "127.0.0.1:0"}, tt.args...)
			if code := x.run(context.Background(), args); code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.want)
			}
			if strings.Contains(stderr.String(), "0123456789") {
				t.Errorf("stderr %q reveals the secret", stderr.String())
			}
		})
	}
}

// TestServeHelpShowsClientAuth checks that serve --help shows the client
// auth flags with their variables, hiding no default secret.
func TestServeHelpShowsClientAuth(t *testing.T) {
	x, stdout, _ := testCLI(nil)
	if code := x.run(context.Background(), []string{"serve", "--help"}); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	for _, s := range []string{
		"--jwt-secrets secrets", "PUSHMAP_JWT_SECRETS, default none", "--jwt-secrets-file path", "PUSHMAP_JWT_SECRETS_FILE",
		"--jwks-file path", "PUSHMAP_JWKS_FILE", "--jwt-audience aud", "--jwt-issuer iss", "--client-tokens tokens",
		"PUSHMAP_CLIENT_TOKENS", "development only",
	} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("serve --help lacks %q", s)
		}
	}
}
