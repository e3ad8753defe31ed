package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"slices"
	"time"
)

// Limits on a JWKS file.
const (
	maxJWKSBytes  = 1 << 20 // a JWKS file is a few KiB; more is a mistake
	minRSABits    = 2048    // RFC 7518 §3.3: 2048 bits or larger
	maxRSAPubExp  = 1<<31 - 1
	p256CoordSize = 32
)

// A keySet is the usable keys of a JWKS file, by kid.
type keySet struct {
	keys map[string]publicKey
}

// A publicKey is one key of a JWKS file and the one algorithm it verifies.
type publicKey struct {
	alg string // "RS256" or "ES256"
	pub any    // *rsa.PublicKey or *ecdsa.PublicKey
}

// jwk is one JSON Web Key (RFC 7517), with the members pushmap reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	// RSA
	N string `json:"n"`
	E string `json:"e"`
	// EC
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	// D is present only in private keys, which a verifier must not be given.
	D string `json:"d"`
}

// parseJWKS returns the RS256 and ES256 keys of a JWKS document and notes
// on the keys it skipped (another use, type or algorithm). It fails on a
// document that is not a JWKS, a key it should use that is broken, a
// duplicate kid, or when no key is left. Its errors name keys by kid and
// never quote key material.
func parseJWKS(data []byte) (*keySet, []string, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("not a JSON Web Key Set: %v", err)
	}
	if doc.Keys == nil {
		return nil, nil, errors.New(`not a JSON Web Key Set: no "keys" array`)
	}
	ks := &keySet{keys: make(map[string]publicKey, len(doc.Keys))}
	var skipped []string
	for i, raw := range doc.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, nil, fmt.Errorf("key %d: not a JSON Web Key: %v", i+1, err)
		}
		name := fmt.Sprintf("key %d (kid %.40q)", i+1, k.Kid)
		if k.Use != "" && k.Use != "sig" {
			skipped = append(skipped, fmt.Sprintf("%s: use %.10q, not sig", name, k.Use))
			continue
		}
		var pk publicKey
		var err error
		switch {
		case k.Kty == "RSA" && (k.Alg == "" || k.Alg == "RS256"):
			pk.alg = "RS256"
			pk.pub, err = rsaKey(&k)
		case k.Kty == "EC" && k.Crv == "P-256" && (k.Alg == "" || k.Alg == "ES256"):
			pk.alg = "ES256"
			pk.pub, err = p256Key(&k)
		default:
			skipped = append(skipped, fmt.Sprintf("%s: kty %.10q crv %.10q alg %.10q is not RS256 or ES256 (P-256)", name, k.Kty, k.Crv, k.Alg))
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %v", name, err)
		}
		if k.Kid == "" {
			return nil, nil, fmt.Errorf("%s: no kid; tokens choose their key by kid", name)
		}
		if k.D != "" {
			skipped = append(skipped, fmt.Sprintf("%s: holds a private key (d), of which only the public part is used; give the verifier public keys only", name))
		}
		if _, dup := ks.keys[k.Kid]; dup {
			return nil, nil, fmt.Errorf("%s: kid used by an earlier key", name)
		}
		ks.keys[k.Kid] = pk
	}
	if len(ks.keys) == 0 {
		return nil, skipped, fmt.Errorf("no RS256 or ES256 signing key among its %d keys", len(doc.Keys))
	}
	return ks, skipped, nil
}

// kids returns the kids of ks, sorted, for logs.
func (ks *keySet) kids() []string {
	kids := make([]string, 0, len(ks.keys))
	for kid := range ks.keys {
		kids = append(kids, kid)
	}
	slices.Sort(kids)
	return kids
}

// b64 decodes a base64url member of a JWK (RFC 7515: no padding, though
// padding is tolerated).
func b64(member, s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.URLEncoding.DecodeString(s)
	}
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%s is not base64url", member)
	}
	return b, nil
}

func rsaKey(k *jwk) (*rsa.PublicKey, error) {
	n, err := b64("n", k.N)
	if err != nil {
		return nil, err
	}
	e, err := b64("e", k.E)
	if err != nil {
		return nil, err
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n)}
	if bits := pub.N.BitLen(); bits < minRSABits {
		return nil, fmt.Errorf("RSA modulus of %d bits, at least %d required", bits, minRSABits)
	}
	eInt := new(big.Int).SetBytes(e)
	if !eInt.IsInt64() || eInt.Int64() < 3 || eInt.Int64() > maxRSAPubExp || eInt.Bit(0) == 0 {
		return nil, errors.New("RSA exponent e is not an odd number from 3 to 2^31-1")
	}
	pub.E = int(eInt.Int64())
	return pub, nil
}

func p256Key(k *jwk) (*ecdsa.PublicKey, error) {
	x, err := b64("x", k.X)
	if err != nil {
		return nil, err
	}
	y, err := b64("y", k.Y)
	if err != nil {
		return nil, err
	}
	if len(x) != p256CoordSize || len(y) != p256CoordSize {
		return nil, fmt.Errorf("P-256 coordinates must be %d bytes each, not %d and %d", p256CoordSize, len(x), len(y))
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), slices.Concat([]byte{4}, x, y))
	if err != nil {
		return nil, errors.New("x, y is not a point of P-256")
	}
	return pub, nil
}

// Reload reads the JWKS file now. When its content changed since the last
// load and is a usable JWKS, its keys replace the old ones; when it is
// unreadable or unusable, the old keys stay in force and the error is
// returned (and logged once per distinct failure). The watcher calls it
// every Config.JWKSPoll; a program may also call it, say on SIGHUP. It is
// a no-op returning nil for a Verifier without a JWKS file.
func (v *Verifier) Reload() error {
	if v.jwksFile == "" {
		return nil
	}
	v.reloadMu.Lock()
	defer v.reloadMu.Unlock()
	data, err := readLimited(v.jwksFile, maxJWKSBytes)
	if err != nil {
		return v.reloadFailed(fmt.Errorf("auth: JWKS file: %w", err))
	}
	sum := sha256.Sum256(data)
	if v.jwks.Load() != nil && sum == v.lastHash && v.lastErr == "" {
		return nil
	}
	ks, skipped, err := parseJWKS(data)
	if err != nil {
		return v.reloadFailed(fmt.Errorf("auth: JWKS file %s: %v", v.jwksFile, err))
	}
	first := v.jwks.Load() == nil
	v.jwks.Store(ks)
	v.lastHash, v.lastErr = sum, ""
	for _, s := range skipped {
		v.log.Warn("JWKS key skipped", "file", v.jwksFile, "key", s)
	}
	msg := "JWKS reloaded"
	if first {
		msg = "JWKS loaded"
	}
	v.log.Info(msg, "file", v.jwksFile, "kids", ks.kids())
	return nil
}

// reloadFailed logs err, unless it is the failure last logged, and
// returns it. v.reloadMu is held.
func (v *Verifier) reloadFailed(err error) error {
	if msg := err.Error(); msg != v.lastErr {
		v.lastErr = msg
		if v.jwks.Load() != nil {
			v.log.Error("JWKS reload failed; keeping the keys loaded before", "err", err)
		}
	}
	return err
}

// readLimited reads the file at path, refusing one over limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is over %d bytes: not a JWKS", path, limit)
	}
	return bytes.TrimSpace(data), nil
}

// watch reloads the JWKS file every poll until Close.
func (v *Verifier) watch(poll time.Duration) {
	defer close(v.done)
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-v.stop:
			return
		case <-t.C:
			v.Reload() // logs its failures
		}
	}
}
