package auth_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/geo"
)

// A refusal of a Verify test: substrings of the error and the kind it wraps.
type refusal struct {
	kind error
	want []string
}

func checkRefused(t *testing.T, v *auth.Verifier, token string, r refusal) {
	t.Helper()
	g, err := v.Verify(token)
	if err == nil {
		t.Fatalf("accepted, with %+v", g)
	}
	if !errors.Is(err, r.kind) {
		t.Errorf("error %q does not wrap %v", err, r.kind)
	}
	for _, s := range r.want {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	if !reflect.DeepEqual(g, auth.Grant{}) {
		t.Errorf("refused, yet with grant %+v", g)
	}
}

func TestVerifyHS256Grant(t *testing.T) {
	v := newVerifier(t, auth.Config{Secrets: [][]byte{secretA}, Leeway: 10 * time.Second})
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	tok := hs256(t, secretA, claims(map[string]any{
		"exp": exp.Unix(), "layers": []string{"flights", ""}, "box": []float64{170, -50, -170, -30},
		"role": "admin", "nested": map[string]any{"a": []int{1}}, // unknown claims are ignored
	}))
	g, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	want := auth.Grant{Subject: "alice", Layers: []string{"flights", ""}, Box: &geo.Box{West: 170, South: -50, East: -170, North: -30},
		Expires: exp.Add(10 * time.Second)}
	if !reflect.DeepEqual(g, want) || !g.Expires.Equal(want.Expires) {
		t.Fatalf("grant %+v (box %v), want %+v (box %v)", g, g.Box, want, want.Box)
	}
	// The box crosses the antimeridian: 175 and -175 are in, 0 is out.
	if !g.Covers(geo.Pt(175, -40)) || !g.Covers(geo.Pt(-175, -40)) || g.Covers(geo.Pt(0, -40)) {
		t.Error("box claim does not cross the antimeridian")
	}
	if !g.AllowsLayer("flights") || !g.AllowsLayer("") || g.AllowsLayer("vehicles") {
		t.Error("layers claim not applied")
	}
	// Authorize is the same, and is an auth.Authorizer.
	var a auth.Authorizer = v.Authorize
	if g2, err := a(nil, tok); err != nil || !reflect.DeepEqual(g2, g) {
		t.Errorf("Authorize: %+v, %v", g2, err)
	}
}

// TestVerifySecretRotation checks that a token signed with any listed
// secret verifies, and one signed with a secret not (or no longer) listed
// does not: the rotation procedure of docs/auth.md.
func TestVerifySecretRotation(t *testing.T) {
	oldTok, newTok := hs256(t, secretA, claims(nil)), hs256(t, secretB, claims(nil))
	during := newVerifier(t, auth.Config{Secrets: [][]byte{secretB, secretA}})
	for name, tok := range map[string]string{"old": oldTok, "new": newTok} {
		if _, err := during.Verify(tok); err != nil {
			t.Errorf("during rotation, %s secret: %v", name, err)
		}
	}
	after := newVerifier(t, auth.Config{Secrets: [][]byte{secretB}})
	if _, err := after.Verify(newTok); err != nil {
		t.Errorf("after rotation, new secret: %v", err)
	}
	checkRefused(t, after, oldTok, refusal{auth.ErrTokenInvalid, []string{"signature invalid"}})
	checkRefused(t, during, hs256(t, secretC, claims(nil)), refusal{auth.ErrTokenInvalid, []string{"signature invalid"}})
}

func TestVerifyJWKS(t *testing.T) {
	v := newVerifier(t, auth.Config{JWKSFile: jwksFile(t)})
	for _, tt := range []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
	}{
		{"RS256", jwt.SigningMethodRS256, rsaKey(), "rsa-1"},
		{"ES256", jwt.SigningMethodES256, ecKey(), "ec-1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g, err := v.Verify(sign(t, tt.method, tt.key, tt.kid, claims(map[string]any{"layers": []string{"a"}})))
			if err != nil {
				t.Fatal(err)
			}
			if g.Subject != "alice" || !reflect.DeepEqual(g.Layers, []string{"a"}) {
				t.Errorf("grant %+v", g)
			}
		})
	}
	tests := []struct {
		name  string
		token string
		refusal
	}{
		{"unknown kid", sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-9", claims(nil)),
			refusal{auth.ErrTokenInvalid, []string{`unknown kid "rsa-9"`}}},
		{"no kid", sign(t, jwt.SigningMethodES256, ecKey(), "", claims(nil)),
			refusal{auth.ErrTokenInvalid, []string{"no kid header"}}},
		{"kid of another key", sign(t, jwt.SigningMethodRS256, rsaKey2(), "rsa-1", claims(nil)),
			refusal{auth.ErrTokenInvalid, []string{"signature invalid"}}},
		{"ES256 kid of another key", sign(t, jwt.SigningMethodES256, ecKey2(), "ec-1", claims(nil)),
			refusal{auth.ErrTokenInvalid, []string{"signature invalid"}}},
		{"HS256 without secrets", hs256(t, secretA, claims(nil)),
			refusal{auth.ErrTokenInvalid, []string{`algorithm "HS256" is not accepted (this server takes RS256, ES256)`}}},
		{"long kid is cut", sign(t, jwt.SigningMethodRS256, rsaKey(), strings.Repeat("k", 5000), claims(nil)),
			refusal{auth.ErrTokenInvalid, []string{`unknown kid "` + strings.Repeat("k", 40) + `"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkRefused(t, v, tt.token, tt.refusal) })
	}
}

// TestAlgorithmConfusion checks that no token verifies with a key of
// another algorithm than its own, "none" included: the classic attack signs
// an HS256 token with the RSA public key, which the attacker knows, as the
// HMAC secret.
func TestAlgorithmConfusion(t *testing.T) {
	jwks := jwksFile(t)
	both := newVerifier(t, auth.Config{Secrets: [][]byte{secretA}, JWKSFile: jwks})
	onlyJWKS := newVerifier(t, auth.Config{JWKSFile: jwks})
	onlyHS := newVerifier(t, auth.Config{Secrets: [][]byte{secretA}})

	pubDER := must(x509.MarshalPKIXPublicKey(&rsaKey().PublicKey))
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	ecDER := must(x509.MarshalPKIXPublicKey(&ecKey().PublicKey))
	c := claims(nil)
	hmacWith := func(alg string, key []byte) string {
		h := map[string]any{"alg": alg, "typ": "JWT", "kid": "rsa-1"}
		unsigned := b64(must(json.Marshal(h))) + "." + b64(must(json.Marshal(map[string]any(c))))
		m := hmac.New(sha256.New, key)
		m.Write([]byte(unsigned))
		return unsigned + "." + b64(m.Sum(nil))
	}
	none := func(alg string) string {
		return forge(map[string]any{"alg": alg, "typ": "JWT"}, c, nil)
	}
	rsOnEC := sign(t, jwt.SigningMethodRS256, rsaKey(), "ec-1", c) // an RSA signature naming the EC key
	esOnRSA := sign(t, jwt.SigningMethodES256, ecKey(), "rsa-1", c)
	tokens := []struct {
		name  string
		token string
	}{
		{"HS256 keyed with the RSA public key (PEM)", hmacWith("HS256", pubPEM)},
		{"HS256 keyed with the RSA public key (DER)", hmacWith("HS256", pubDER)},
		{"HS256 keyed with the RSA modulus", hmacWith("HS256", rsaKey().N.Bytes())},
		{"HS256 keyed with the EC public key", hmacWith("HS256", ecDER)},
		{"HS256 keyed with an empty secret", hmacWith("HS256", nil)},
		{"RS256 naming an ES256 key", rsOnEC},
		{"ES256 naming an RS256 key", esOnRSA},
		{"none", none("none")},
		{"None", none("None")},
		{"NONE", none("NONE")},
		{"none, signed by jwt's own none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", c)},
		{"no alg", forge(map[string]any{"typ": "JWT"}, c, []byte("x"))},
		{"HS512 with the right secret", sign(t, jwt.SigningMethodHS512, secretA, "", c)},
		{"HS384 with the right secret", sign(t, jwt.SigningMethodHS384, secretA, "", c)},
		{"PS256 with the right key", sign(t, jwt.SigningMethodPS256, rsaKey(), "rsa-1", c)},
		{"RS512 with the right key", sign(t, jwt.SigningMethodRS512, rsaKey(), "rsa-1", c)},
	}
	for _, v := range []struct {
		name string
		v    *auth.Verifier
	}{{"HS256 and JWKS", both}, {"JWKS only", onlyJWKS}, {"HS256 only", onlyHS}} {
		for _, tt := range tokens {
			t.Run(v.name+"/"+tt.name, func(t *testing.T) {
				_, err := v.v.Verify(tt.token)
				if err == nil {
					t.Fatal("accepted")
				}
				if !errors.Is(err, auth.ErrTokenInvalid) {
					t.Errorf("error %q does not wrap ErrTokenInvalid", err)
				}
				t.Log(err)
			})
		}
	}
	// The messages say what was refused.
	checkRefused(t, both, none("none"), refusal{auth.ErrTokenInvalid, []string{`algorithm "none" is not accepted`, "HS256, RS256, ES256"}})
	checkRefused(t, both, rsOnEC, refusal{auth.ErrTokenInvalid, []string{`RS256 does not match key "ec-1", which is ES256`}})
	checkRefused(t, both, hmacWith("HS256", pubPEM), refusal{auth.ErrTokenInvalid, []string{"signature invalid"}})
	checkRefused(t, onlyJWKS, hmacWith("HS256", pubPEM), refusal{auth.ErrTokenInvalid, []string{`algorithm "HS256" is not accepted`}})
	checkRefused(t, onlyHS, esOnRSA, refusal{auth.ErrTokenInvalid, []string{"ES256", "not accepted"}})
}

func TestVerifyClaims(t *testing.T) {
	const leeway = 30 * time.Second
	v := newVerifier(t, auth.Config{Secrets: [][]byte{secretA}, Leeway: leeway})
	now := time.Now()
	ok := func(c jwt.MapClaims) string { return hs256(t, secretA, claims(c)) }
	accepted := []struct {
		name  string
		token string
		check func(auth.Grant) bool
	}{
		{"expired within the leeway", ok(map[string]any{"exp": now.Add(-10 * time.Second).Unix()}),
			func(g auth.Grant) bool { return g.Expires.After(now) }},
		{"nbf within the leeway", ok(map[string]any{"nbf": now.Add(10 * time.Second).Unix()}), nil},
		{"nbf past", ok(map[string]any{"nbf": now.Add(-time.Hour).Unix()}), nil},
		{"iat within the leeway", ok(map[string]any{"iat": now.Add(10 * time.Second).Unix()}), nil},
		{"no iat", ok(map[string]any{"iat": nil}), nil},
		{"no sub", ok(map[string]any{"sub": nil}), func(g auth.Grant) bool { return g.Subject == "" }},
		{"no layers: every layer", ok(nil), func(g auth.Grant) bool { return g.Layers == nil && g.AllowsLayer("x") }},
		{"layers []: none", ok(map[string]any{"layers": []string{}}),
			func(g auth.Grant) bool { return g.Layers != nil && len(g.Layers) == 0 && !g.AllowsLayer("") }},
		{"64 layers", ok(map[string]any{"layers": make([]string, 64)}), nil},
		{"layer of 64 bytes", ok(map[string]any{"layers": []string{strings.Repeat("l", 64)}}), nil},
		{"no box: the world", ok(nil), func(g auth.Grant) bool { return g.Box == nil }},
		{"box of the world", ok(map[string]any{"box": []float64{-180, -90, 180, 90}}),
			func(g auth.Grant) bool { return *g.Box == geo.World }},
		{"box of a point", ok(map[string]any{"box": []float64{2, 48, 2, 48}}),
			func(g auth.Grant) bool { return g.Covers(geo.Pt(2, 48)) && !g.Covers(geo.Pt(2, 48.001)) }},
		{"fractional exp", ok(map[string]any{"exp": float64(now.Add(time.Hour).UnixMilli()) / 1000}), nil},
		{"aud and iss not configured, given anyway", ok(map[string]any{"aud": "x", "iss": "y"}), nil},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			g, err := v.Verify(tt.token)
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil && !tt.check(g) {
				t.Errorf("grant %+v (box %v)", g, g.Box)
			}
		})
	}

	exp := now.Add(-time.Minute)
	refused := []struct {
		name  string
		token string
		refusal
	}{
		{"no exp", ok(map[string]any{"exp": nil}), refusal{auth.ErrTokenInvalid, []string{"token has no exp claim"}}},
		{"expired", ok(map[string]any{"exp": exp.Unix()}),
			refusal{auth.ErrTokenExpired, []string{"token expired at " + exp.UTC().Format(time.RFC3339)}}},
		{"exp a string", ok(map[string]any{"exp": "tomorrow"}), refusal{auth.ErrTokenInvalid, []string{"malformed"}}},
		{"nbf future", ok(map[string]any{"nbf": now.Add(time.Hour).Unix()}),
			refusal{auth.ErrTokenInvalid, []string{"token not valid before " + now.Add(time.Hour).UTC().Format(time.RFC3339)}}},
		{"iat future", ok(map[string]any{"iat": now.Add(time.Hour).Unix()}),
			refusal{auth.ErrTokenInvalid, []string{"issued in the future"}}},
		{"layers null", ok(map[string]any{"layers": jsonNull{}}), refusal{auth.ErrTokenInvalid, []string{"layers claim is not an array"}}},
		{"layers a string", ok(map[string]any{"layers": "flights"}), refusal{auth.ErrTokenInvalid, []string{"layers claim is not an array"}}},
		{"layers of numbers", ok(map[string]any{"layers": []int{1}}), refusal{auth.ErrTokenInvalid, []string{"layers claim is not an array"}}},
		{"65 layers", ok(map[string]any{"layers": make([]string, 65)}), refusal{auth.ErrTokenInvalid, []string{"layers claim", "65 layers, at most 64"}}},
		{"layer of 65 bytes", ok(map[string]any{"layers": []string{strings.Repeat("l", 65)}}),
			refusal{auth.ErrTokenInvalid, []string{"layers claim", "65 bytes, at most 64"}}},
		{"box null", ok(map[string]any{"box": jsonNull{}}), refusal{auth.ErrTokenInvalid, []string{"box claim is not [west, south, east, north]"}}},
		{"box of 3", ok(map[string]any{"box": []float64{1, 2, 3}}), refusal{auth.ErrTokenInvalid, []string{"box claim is not"}}},
		{"box of 5", ok(map[string]any{"box": []float64{1, 2, 3, 4, 5}}), refusal{auth.ErrTokenInvalid, []string{"box claim is not"}}},
		{"box an object", ok(map[string]any{"box": map[string]float64{"west": 1}}), refusal{auth.ErrTokenInvalid, []string{"box claim is not"}}},
		{"box of strings", ok(map[string]any{"box": []string{"1", "2", "3", "4"}}), refusal{auth.ErrTokenInvalid, []string{"box claim is not"}}},
		{"box west out of range", ok(map[string]any{"box": []float64{-181, 0, 10, 10}}),
			refusal{auth.ErrTokenInvalid, []string{"box claim", "west -181 is outside [-180, 180]"}}},
		{"box south above north", ok(map[string]any{"box": []float64{0, 20, 10, 10}}),
			refusal{auth.ErrTokenInvalid, []string{"box claim", "south 20 is above north 10"}}},
		{"box north out of range", ok(map[string]any{"box": []float64{0, 0, 10, 91}}),
			refusal{auth.ErrTokenInvalid, []string{"box claim", "north 91"}}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) { checkRefused(t, v, tt.token, tt.refusal) })
	}
}

// jsonNull marshals as null, which jwt.MapClaims cannot hold otherwise.
type jsonNull struct{}

func (jsonNull) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

func TestVerifyLeeway(t *testing.T) {
	tok := hs256(t, secretA, claims(map[string]any{"exp": time.Now().Add(-5 * time.Second).Unix()}))
	if _, err := newVerifier(t, auth.Config{Secrets: [][]byte{secretA}}).Verify(tok); err != nil {
		t.Errorf("default leeway (%v): %v", auth.DefaultLeeway, err)
	}
	strict := newVerifier(t, auth.Config{Secrets: [][]byte{secretA}, Leeway: -1})
	checkRefused(t, strict, tok, refusal{auth.ErrTokenExpired, []string{"token expired at"}})
	// Without leeway, Expires is exp itself.
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	g, err := strict.Verify(hs256(t, secretA, claims(map[string]any{"exp": exp.Unix()})))
	if err != nil || !g.Expires.Equal(exp) {
		t.Errorf("grant %+v, %v; want Expires %v", g, err, exp)
	}
}

func TestVerifyAudienceIssuer(t *testing.T) {
	v := newVerifier(t, auth.Config{Secrets: [][]byte{secretA}, Audience: "pushmap", Issuer: "https://app.example"})
	tok := func(c map[string]any) string { return hs256(t, secretA, claims(c)) }
	for name, c := range map[string]map[string]any{
		"aud string":    {"aud": "pushmap", "iss": "https://app.example"},
		"aud in a list": {"aud": []string{"other", "pushmap"}, "iss": "https://app.example"},
	} {
		if _, err := v.Verify(tok(c)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, tt := range []struct {
		name  string
		token string
		want  string
	}{
		{"no aud", tok(map[string]any{"iss": "https://app.example"}), "audience (aud) is not this server's"},
		{"other aud", tok(map[string]any{"aud": "other", "iss": "https://app.example"}), "audience (aud) is not this server's"},
		{"no iss", tok(map[string]any{"aud": "pushmap"}), "issuer (iss) is not one this server trusts"},
		{"other iss", tok(map[string]any{"aud": "pushmap", "iss": "https://evil.example"}), "issuer (iss) is not one this server trusts"},
	} {
		t.Run(tt.name, func(t *testing.T) { checkRefused(t, v, tt.token, refusal{auth.ErrTokenInvalid, []string{tt.want}}) })
	}
}

func TestVerifyMalformed(t *testing.T) {
	v := newVerifier(t, auth.Config{Secrets: [][]byte{secretA}})
	good := hs256(t, secretA, claims(nil))
	parts := strings.Split(good, ".")
	for _, tt := range []struct {
		name  string
		token string
		refusal
	}{
		{"empty", "", refusal{auth.ErrNoToken, []string{"no token"}}},
		{"too long", strings.Repeat("a", auth.MaxTokenLen+1), refusal{auth.ErrTokenInvalid, []string{"8193 bytes, at most 8192"}}},
		{"not a JWT", "hello", refusal{auth.ErrTokenInvalid, []string{"not a JWT"}}},
		{"four parts", good + ".x", refusal{auth.ErrTokenInvalid, []string{"not a JWT"}}},
		{"header not base64", "!!!." + parts[1] + "." + parts[2], refusal{auth.ErrTokenInvalid, []string{"malformed"}}},
		{"header not JSON", b64([]byte("{")) + "." + parts[1] + "." + parts[2], refusal{auth.ErrTokenInvalid, []string{"malformed"}}},
		{"claims not JSON", parts[0] + "." + b64([]byte("[1]")) + "." + parts[2], refusal{auth.ErrTokenInvalid, []string{"malformed"}}},
		{"signature not base64", parts[0] + "." + parts[1] + ".***", refusal{auth.ErrTokenInvalid, []string{"malformed"}}},
		{"claims changed", parts[0] + "." + b64(must(json.Marshal(claims(map[string]any{"sub": "mallory"})))) + "." + parts[2],
			refusal{auth.ErrTokenInvalid, []string{"signature invalid"}}},
		{"no signature", parts[0] + "." + parts[1] + ".", refusal{auth.ErrTokenInvalid, []string{"signature invalid"}}},
	} {
		t.Run(tt.name, func(t *testing.T) { checkRefused(t, v, tt.token, tt.refusal) })
	}
}

// TestErrorsRevealNoSecret checks that no refusal quotes a secret, a key,
// or the token itself.
func TestErrorsRevealNoSecret(t *testing.T) {
	jwks := jwksFile(t)
	v := newVerifier(t, auth.Config{Secrets: [][]byte{secretA, secretB}, JWKSFile: jwks, StaticTokens: []string{"dev-token-1"}})
	n := b64(rsaKey().N.Bytes())
	forbidden := []string{string(secretA), string(secretB), "dev-token-1", n[:16], b64(ecPrivate())}
	tokens := []string{
		hs256(t, secretC, claims(nil)),
		hs256(t, secretA, claims(map[string]any{"exp": 1})),
		sign(t, jwt.SigningMethodRS256, rsaKey2(), "rsa-1", claims(nil)),
		sign(t, jwt.SigningMethodES256, ecKey(), "nope", claims(nil)),
		"dev-token-2", "dev-token-1x", "x.y.z",
	}
	for _, tok := range tokens {
		_, err := v.Verify(tok)
		if err == nil {
			t.Fatalf("token %.30s… accepted", tok)
		}
		for _, s := range append(forbidden, tok) {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q reveals %.20q", err, s)
			}
		}
	}
}

func TestStaticTokens(t *testing.T) {
	v := newVerifier(t, auth.Config{StaticTokens: []string{"dev-one", "dev-two", "dev-three"}})
	for i, tok := range []string{"dev-one", "dev-two", "dev-three"} {
		g, err := v.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		want := auth.Grant{Subject: fmt.Sprintf("static-token-%d", i+1)}
		if !reflect.DeepEqual(g, want) {
			t.Errorf("%s: grant %+v, want %+v (everything, never expiring)", tok, g, want)
		}
	}
	for _, tok := range []string{"dev", "dev-one ", "DEV-ONE", "dev-onedev-two", hs256(t, secretA, claims(nil))} {
		checkRefused(t, v, tok, refusal{auth.ErrTokenInvalid, []string{"not one this server accepts"}})
	}
	checkRefused(t, v, "", refusal{auth.ErrNoToken, []string{"no token"}})

	// Beside JWTs: both work.
	both := newVerifier(t, auth.Config{StaticTokens: []string{"dev-one"}, Secrets: [][]byte{secretA}})
	if _, err := both.Verify("dev-one"); err != nil {
		t.Error(err)
	}
	if g, err := both.Verify(hs256(t, secretA, claims(nil))); err != nil || g.Subject != "alice" {
		t.Errorf("JWT beside static tokens: %+v, %v", g, err)
	}
	checkRefused(t, both, "dev-two", refusal{auth.ErrTokenInvalid, []string{"neither a static token of this server nor a JWT"}})
}

func TestNewVerifierErrors(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := dir + "/" + name
		writeFile(t, p, content)
		return p
	}
	small := must(rsa.GenerateKey(rand.Reader, 1024))
	badPoint := jwkOf("ec-bad", ecKey(), nil)
	badPoint["y"] = badPoint["x"]
	shortX := jwkOf("ec-short", ecKey(), nil)
	shortX["x"] = b64([]byte{1, 2, 3})
	evenE := jwkOf("rsa-even", rsaKey(), map[string]any{"e": b64([]byte{2})})
	notB64 := jwkOf("rsa-b64", rsaKey(), map[string]any{"n": "***"})
	jwks := func(keys ...map[string]any) string { return string(must(json.Marshal(map[string]any{"keys": keys}))) }
	tests := []struct {
		name string
		c    auth.Config
		want []string
	}{
		{"nothing", auth.Config{}, []string{"no HS256 secret, JWKS file or static token"}},
		{"empty secret", auth.Config{Secrets: [][]byte{secretA, {}}}, []string{"HS256 secret 2 of 2 is empty"}},
		{"short secret", auth.Config{Secrets: [][]byte{[]byte("0123456789abcdef0123456789abcde")}},
			[]string{"HS256 secret 1 of 1 is 31 bytes, at least 32 required"}},
		{"empty static token", auth.Config{StaticTokens: []string{""}}, []string{"static token 1 of 1 is empty"}},
		{"no JWKS file", auth.Config{JWKSFile: dir + "/missing.json"}, []string{"JWKS file", "missing.json", "no such file"}},
		{"JWKS not JSON", auth.Config{JWKSFile: file("a", "not json")}, []string{"not a JSON Web Key Set"}},
		{"JWKS without keys", auth.Config{JWKSFile: file("b", `{"kty":"RSA"}`)}, []string{`no "keys" array`}},
		{"JWKS of no usable key", auth.Config{JWKSFile: file("c", jwks(
			map[string]any{"kty": "oct", "kid": "h", "k": b64(secretA)},
			jwkOf("enc", rsaKey(), map[string]any{"use": "enc"}),
			jwkOf("ps", rsaKey(), map[string]any{"alg": "PS256"}),
			jwkOf("p384", ecKey(), map[string]any{"crv": "P-384"}),
		))}, []string{"no RS256 or ES256 signing key among its 4 keys"}},
		{"RSA key of 1024 bits", auth.Config{JWKSFile: file("d", jwks(jwkOf("small", small, nil)))},
			[]string{`kid "small"`, "RSA modulus of 1024 bits, at least 2048"}},
		{"RSA even exponent", auth.Config{JWKSFile: file("e", jwks(evenE))}, []string{`"rsa-even"`, "exponent"}},
		{"RSA n not base64", auth.Config{JWKSFile: file("f", jwks(notB64))}, []string{`"rsa-b64"`, "n is not base64url"}},
		{"EC point not on P-256", auth.Config{JWKSFile: file("g", jwks(badPoint))}, []string{`"ec-bad"`, "not a point of P-256"}},
		{"EC coordinate short", auth.Config{JWKSFile: file("h", jwks(shortX))}, []string{`"ec-short"`, "32 bytes each, not 3 and 32"}},
		{"no kid", auth.Config{JWKSFile: file("i", jwks(jwkOf("", ecKey(), nil)))}, []string{"key 1", "no kid"}},
		{"duplicate kid", auth.Config{JWKSFile: file("j", jwks(jwkOf("k", ecKey(), nil), jwkOf("k", rsaKey(), nil)))},
			[]string{`key 2 (kid "k")`, "kid used by an earlier key"}},
		{"huge JWKS", auth.Config{JWKSFile: file("k", strings.Repeat(" ", 1<<20+1))}, []string{"over 1048576 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := auth.NewVerifier(tt.c)
			if err == nil {
				v.Close()
				t.Fatal("no error")
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			for _, secret := range [][]byte{secretA, []byte(b64(secretA)), []byte(b64(rsaKey().N.Bytes())[:16])} {
				if strings.Contains(err.Error(), string(secret)) {
					t.Errorf("error %q reveals key material", err)
				}
			}
		})
	}
}

// TestJWKSKeysSkipped checks that keys pushmap cannot use (encryption keys,
// other algorithms) are skipped, with a warning, beside usable ones.
func TestJWKSKeysSkipped(t *testing.T) {
	path := t.TempDir() + "/jwks.json"
	writeJWKS(t, path,
		map[string]any{"kty": "oct", "kid": "h", "k": b64(secretA)},
		jwkOf("enc", rsaKey(), map[string]any{"use": "enc"}),
		jwkOf("ps", rsaKey(), map[string]any{"alg": "PS256"}),
		jwkOf("rsa-1", rsaKey(), map[string]any{"alg": "RS256", "use": "sig"}),
		jwkOf("ec-1", ecKey(), map[string]any{"alg": "ES256", "d": b64(ecPrivate())}),
	)
	var log logBuffer
	v := newVerifier(t, auth.Config{JWKSFile: path, Logger: log.logger()})
	for _, tt := range []struct {
		kid    string
		method jwt.SigningMethod
		key    any
		ok     bool
	}{
		{"rsa-1", jwt.SigningMethodRS256, rsaKey(), true},
		{"ec-1", jwt.SigningMethodES256, ecKey(), true},
		{"enc", jwt.SigningMethodRS256, rsaKey(), false},
		{"ps", jwt.SigningMethodRS256, rsaKey(), false},
		{"h", jwt.SigningMethodHS256, secretA, false},
	} {
		_, err := v.Verify(sign(t, tt.method, tt.key, tt.kid, claims(nil)))
		if (err == nil) != tt.ok {
			t.Errorf("kid %s: error %v, want accepted %v", tt.kid, err, tt.ok)
		}
	}
	if n := log.count("JWKS key skipped"); n != 4 {
		t.Errorf("%d keys skipped in the log, want 4 (oct, enc, PS256, private):\n%s", n, log.String())
	}
	if strings.Contains(log.String(), b64(ecPrivate())) || strings.Contains(log.String(), b64(secretA)) {
		t.Error("the log reveals key material")
	}
}

func TestCloseTwice(t *testing.T) {
	v := newVerifier(t, auth.Config{JWKSFile: jwksFile(t)})
	v.Close()
	v.Close()
	if _, err := v.Verify(sign(t, jwt.SigningMethodES256, ecKey(), "ec-1", claims(nil))); err != nil {
		t.Errorf("a closed Verifier still verifies with its keys: %v", err)
	}
	if err := newVerifier(t, auth.Config{Secrets: [][]byte{secretA}}).Close(); err != nil {
		t.Error(err)
	}
}
