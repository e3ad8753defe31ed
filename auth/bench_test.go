package auth_test

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pushmap/pushmap/auth"
)

// BenchmarkVerify measures what a hello or an HTTP read costs in token
// checking, per algorithm, for a token with sub, exp, iat, layers and box.
func BenchmarkVerify(b *testing.B) {
	v := newVerifier(b, auth.Config{Secrets: [][]byte{secretA}, JWKSFile: jwksFile(b), StaticTokens: []string{"dev-token"}})
	// During a rotation, a token of the old secret is tried against the
	// new one first.
	rotating := newVerifier(b, auth.Config{Secrets: [][]byte{secretB, secretA}})
	c := claims(map[string]any{"layers": []string{"flights", "vehicles"}, "box": []float64{-11, 35, 30, 61}})
	for _, bm := range []struct {
		name  string
		v     *auth.Verifier
		token string
	}{
		{"HS256", v, hs256(b, secretA, c)},
		{"HS256_second_secret", rotating, hs256(b, secretA, c)},
		{"ES256", v, sign(b, jwt.SigningMethodES256, ecKey(), "ec-1", c)},
		{"RS256", v, sign(b, jwt.SigningMethodRS256, rsaKey(), "rsa-1", c)},
		{"static", v, "dev-token"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			if _, err := bm.v.Verify(bm.token); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bm.v.Verify(bm.token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
