package auth_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/geo"
)

// docExample returns the path of docs/examples/name, after checking that
// docs/auth.md shows it verbatim in a fenced block.
func docExample(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join("..", "docs", "examples", name)
	example, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	guide, err := os.ReadFile(filepath.Join("..", "docs", "auth.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(guide), "\n"+string(example)+"```\n") {
		t.Fatalf("docs/auth.md does not show docs/examples/%s verbatim in a fenced block; paste it again", name)
	}
	return path
}

// interpreter returns the path of the first of names found, or skips the
// test.
func interpreter(t *testing.T, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skipf("none of %v is installed", names)
	return ""
}

// mint runs a minting script with env and args and returns the token it
// printed.
func mint(t *testing.T, env []string, cmd ...string) string {
	t.Helper()
	c := exec.Command(cmd[0], cmd[1:]...)
	c.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// A scriptCase is a run of a minting script: its arguments and the Grant
// the token must give.
type scriptCase struct {
	name string
	args []string
	want auth.Grant // Expires aside
}

var scriptCases = []scriptCase{
	{"every layer, the world", []string{"alice"}, auth.Grant{Subject: "alice"}},
	{"star is every layer", []string{"alice", "*"}, auth.Grant{Subject: "alice"}},
	{"layers and a box across the antimeridian", []string{"bob", "flights,vehicles", "170,-50,-170.5,-30"},
		auth.Grant{Subject: "bob", Layers: []string{"flights", "vehicles"}, Box: &geo.Box{West: 170, South: -50, East: -170.5, North: -30}}},
	{"no layer", []string{"carol", ""}, auth.Grant{Subject: "carol", Layers: []string{}}},
	{"defaults", nil, auth.Grant{Subject: "anonymous"}},
}

// checkScriptToken verifies token and compares its Grant with want; the
// scripts mint tokens valid 15 minutes.
func checkScriptToken(t *testing.T, v *auth.Verifier, token string, want auth.Grant) {
	t.Helper()
	g, err := v.Verify(token)
	if err != nil {
		t.Fatalf("token %s: %v", token, err)
	}
	if ttl := time.Until(g.Expires); ttl < 14*time.Minute || ttl > 16*time.Minute {
		t.Errorf("expires in %v, want 15 minutes", ttl)
	}
	g.Expires = time.Time{}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("grant %+v (box %v), want %+v (box %v)", g, g.Box, want, want.Box)
	}
}

// TestMintTokenNode runs docs/examples/mint-token.mjs with node, HS256 and
// ES256, and verifies the tokens it prints.
func TestMintTokenNode(t *testing.T) {
	script := docExample(t, "mint-token.mjs")
	node := interpreter(t, "node")
	secret := "a-secret-of-the-app-and-server-0123456789"
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKS(t, path, jwkOf("app-2026", ecKey(), nil))
	v := newVerifier(t, auth.Config{Secrets: [][]byte{[]byte(secret)}, JWKSFile: path, Leeway: -1})
	der := must(x509.MarshalPKCS8PrivateKey(ecKey()))
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))

	for _, alg := range []struct {
		name string
		env  []string
	}{
		{"HS256", []string{"PUSHMAP_JWT_SECRET=" + secret}},
		{"ES256", []string{"PUSHMAP_JWT_ES256_KEY=" + keyPEM, "PUSHMAP_JWT_KID=app-2026"}},
	} {
		for _, tt := range scriptCases {
			t.Run(alg.name+"/"+tt.name, func(t *testing.T) {
				tok := mint(t, alg.env, append([]string{node, script}, tt.args...)...)
				if got := strings.SplitN(tok, ".", 2)[0]; !strings.Contains(string(must(b64Decode(got))), alg.name) {
					t.Errorf("header %s is not %s", got, alg.name)
				}
				checkScriptToken(t, v, tok, tt.want)
			})
		}
	}
	// Signed with another secret, the token is refused.
	tok := mint(t, []string{"PUSHMAP_JWT_SECRET=another-secret-0123456789abcdefghij"}, node, script, "mallory")
	checkRefused(t, v, tok, refusal{auth.ErrTokenInvalid, []string{"signature invalid"}})
}

// TestMintTokenPython runs docs/examples/mint_token.py with the system's
// python3 and verifies the tokens it prints.
func TestMintTokenPython(t *testing.T) {
	script := docExample(t, "mint_token.py")
	py := interpreter(t, "/usr/bin/python3", "python3")
	secret := "a-secret-of-the-app-and-server-0123456789"
	v := newVerifier(t, auth.Config{Secrets: [][]byte{[]byte("the-new-secret-after-rotation-0123456789"), []byte(secret)}, Leeway: -1})
	for _, tt := range scriptCases {
		t.Run(tt.name, func(t *testing.T) {
			tok := mint(t, []string{"PUSHMAP_JWT_SECRET=" + secret}, append([]string{py, script}, tt.args...)...)
			checkScriptToken(t, v, tok, tt.want)
		})
	}
	tok := mint(t, []string{"PUSHMAP_JWT_SECRET=another-secret-0123456789abcdefghij"}, py, script, "mallory")
	checkRefused(t, v, tok, refusal{auth.ErrTokenInvalid, []string{"signature invalid"}})
}
