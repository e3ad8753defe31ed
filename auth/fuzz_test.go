package auth_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/wire"
)

// FuzzVerify signs arbitrary headers and claims with the Verifier's own
// secret, so that the fuzzer gets past the signature to the claims, and
// checks that Verify never panics, and that whatever it accepts was an
// HS256 token with an exp and a grant within the limits.
func FuzzVerify(f *testing.F) {
	hs := `{"alg":"HS256","typ":"JWT"}`
	exp := time.Now().Add(24 * time.Hour).Unix()
	deep := strings.Repeat("[", 2000) + strings.Repeat("]", 2000) // within MaxTokenLen once base64
	for _, seed := range [][2]string{
		{hs, `{"sub":"a","exp":` + jsonNum(exp) + `}`},
		{hs, `{"sub":"a","exp":` + jsonNum(exp) + `,"layers":["x",""],"box":[170,-10,-170,10]}`},
		{hs, `{"exp":` + jsonNum(exp) + `,"layers":null,"box":null}`},
		{hs, `{"exp":` + jsonNum(exp) + `,"layers":` + deep + `}`},
		{hs, `{"exp":` + jsonNum(exp) + `,"box":` + deep + `}`},
		{hs, `{"exp":` + jsonNum(exp) + `,"other":` + deep + `}`},
		{`{"alg":` + deep + `}`, `{}`},
		{`{"alg":"none"}`, `{"exp":` + jsonNum(exp) + `}`},
		{`{"alg":"HS256","kid":` + deep + `}`, `{"exp":1e300}`},
		{hs, `{"exp":-1e308,"nbf":"x","iat":[]}`},
		{hs, `[` + deep + `]`},
	} {
		f.Add(seed[0], seed[1])
	}
	v, err := auth.NewVerifier(auth.Config{Secrets: [][]byte{secretA}, StaticTokens: []string{"dev"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { v.Close() })
	f.Fuzz(func(t *testing.T, header, claims string) {
		unsigned := b64([]byte(header)) + "." + b64([]byte(claims))
		m := hmac.New(sha256.New, secretA)
		m.Write([]byte(unsigned))
		g, err := v.Verify(unsigned + "." + b64(m.Sum(nil)))
		if err != nil {
			return
		}
		var h struct {
			Alg string `json:"alg"`
		}
		if json.Unmarshal([]byte(header), &h) != nil || h.Alg != "HS256" {
			t.Fatalf("accepted a token whose header is %q", header)
		}
		if g.Expires.IsZero() {
			t.Fatalf("accepted claims %q without an expiry", claims)
		}
		if g.Box != nil && g.Box.Validate() != nil {
			t.Fatalf("claims %q: grant box %v: %v", claims, *g.Box, g.Box.Validate())
		}
		if g.Layers != nil && wire.ValidateLayers(g.Layers) != nil {
			t.Fatalf("claims %q: grant layers %q", claims, g.Layers)
		}
	})
}

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }
