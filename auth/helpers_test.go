package auth_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// Secrets of the tests: 32 bytes and more, as NewVerifier requires.
var (
	secretA = []byte("test-secret-A-0123456789abcdefghijklmnop")
	secretB = []byte("test-secret-B-0123456789abcdefghijklmnop")
	secretC = []byte("test-secret-C-never-given-to-the-verifier")
)

// Keys of the tests, made once: an RSA key is slow to generate.
var (
	rsaKey  = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	rsaKey2 = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	ecKey   = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	ecKey2  = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	// ecPrivate is ecKey's private scalar, as a JWK's "d" holds it.
	ecPrivate = sync.OnceValue(func() []byte { return must(ecKey().Bytes()) })
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// b64 is base64url without padding, as JOSE writes it.
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwkOf returns the public JWK of key (an *rsa.PrivateKey or
// *ecdsa.PrivateKey) with kid, plus the members of extra.
func jwkOf(kid string, key any, extra map[string]any) map[string]any {
	k := map[string]any{"kid": kid}
	switch key := key.(type) {
	case *rsa.PrivateKey:
		k["kty"], k["n"], k["e"] = "RSA", b64(key.N.Bytes()), b64(big.NewInt(int64(key.E)).Bytes())
	case *ecdsa.PrivateKey:
		pub := must(key.PublicKey.Bytes()) // 0x04 || x || y
		k["kty"], k["crv"], k["x"], k["y"] = "EC", "P-256", b64(pub[1:33]), b64(pub[33:])
	}
	for name, v := range extra {
		k[name] = v
	}
	return k
}

// writeJWKS writes a JWKS of keys to path, atomically (rename), as a
// deployment tool would.
func writeJWKS(t testing.TB, path string, keys ...map[string]any) {
	t.Helper()
	b := must(json.Marshal(map[string]any{"keys": keys}))
	writeFile(t, path, string(b))
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// jwksFile returns the path of a fresh JWKS file of the test's two main
// keys: "rsa-1" (RS256) and "ec-1" (ES256).
func jwksFile(t testing.TB) string {
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKS(t, path, jwkOf("rsa-1", rsaKey(), nil), jwkOf("ec-1", ecKey(), nil))
	return path
}

// newVerifier returns a Verifier of c, closed when the test ends.
func newVerifier(t testing.TB, c auth.Config) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// claims returns the claims of a token valid for an hour, with sub "alice",
// and the changes of extra (a nil value deletes the claim).
func claims(extra map[string]any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// sign returns a token of c signed with method and key, its header
// holding kid unless it is "".
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hs256 returns an HS256 token of c signed with secret.
func hs256(t testing.TB, secret []byte, c jwt.MapClaims) string {
	return sign(t, jwt.SigningMethodHS256, secret, "", c)
}

// forge returns a token of header and claims whose signature is
// sig, built by hand as an attacker would.
func forge(header, claims map[string]any, sig []byte) string {
	return b64(must(json.Marshal(header))) + "." + b64(must(json.Marshal(claims))) + "." + b64(sig)
}

// logBuffer is a logger into a buffer, safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// count returns how many lines of the log hold s.
func (l *logBuffer) count(s string) int {
	n := 0
	for line := range strings.Lines(l.String()) {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// b64Decode decodes base64url without padding.
func b64Decode(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
