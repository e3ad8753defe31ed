package auth_test

import (
	"fmt"
	"log"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/server"
)

// Example mints a client token the way the token endpoint of an app would,
// with github.com/golang-jwt/jwt/v5, and verifies it as a pushmap server
// does. The secret is shared by the app and the server (--jwt-secrets);
// in production it comes from the environment, never from the source.
func Example() {
	secret := []byte("an example secret of at least 32 bytes, never this one")

	// The app, for a signed-in user allowed to see two layers in Europe:
	exp := time.Now().Add(15 * time.Minute)
	claims := jwt.MapClaims{
		"sub":    "user-42",
		"exp":    exp.Unix(), // required
		"iat":    time.Now().Unix(),
		"layers": []string{"flights", "vehicles"}, // absent: every layer
		"box":    []float64{-11, 35, 30, 61},      // west, south, east, north
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		log.Fatal(err)
	}

	// The pushmap server:
	v, err := auth.NewVerifier(auth.Config{Secrets: [][]byte{secret}})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	g, err := v.Verify(token)
	if err != nil {
		log.Fatal(err)
	}
	// Expires is exp plus the leeway allowed for clock skew.
	fmt.Println(g.Subject, g.Layers, *g.Box, g.Expires.Sub(exp.Truncate(time.Second)))

	// A token without exp is refused, as one signed with another secret.
	delete(claims, "exp")
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	_, err = v.Verify(noExp)
	fmt.Println(err)
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("a guess, however long it may be...."))
	_, err = v.Verify(forged)
	fmt.Println(err)
	// Output:
	// user-42 [flights vehicles] [-11, 35, 30, 61] 30s
	// token has no exp claim
	// signature invalid
}

// ExampleNewVerifier configures a server to accept tokens from two HS256
// secrets (the current one and the one being retired) and from the
// public keys of a JWKS file, which it reloads when the file changes.
func ExampleNewVerifier() {
	v, err := auth.NewVerifier(auth.Config{
		Secrets: [][]byte{
			[]byte(os.Getenv("PUSHMAP_JWT_SECRET")),     // signs new tokens
			[]byte(os.Getenv("PUSHMAP_JWT_OLD_SECRET")), // still verifies tokens signed before
		},
		JWKSFile: "/etc/pushmap/jwks.json",
		Audience: "pushmap",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	srv, err := server.New(&server.Options{Authorize: v.Authorize})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
}
