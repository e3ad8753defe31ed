package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Operator endpoints. /stats and /metrics reveal data — how many markers
// each layer holds, how many clients watch — so:
//
//   - with --ops-keys, they need "Authorization: Bearer <ops key>";
//   - without, when clients need a credential (client tokens, JWT), they
//     are refused with 403 naming --ops-keys: a deployment that protects
//     its map does not leak its numbers by default;
//   - without either, they are public, as for development.
//
// /healthz and /readyz stay public and say only ok, or why not ready in a
// few words. docs/operations.md has the rule.

// opsAuth guards the operator endpoints.
type opsAuth struct {
	keys       [][sha256.Size]byte // SHA-256 of each ops key; none: no key
	clientAuth bool                // clients need a credential
}

// newOpsAuth returns the guard for ops keys keys, with client auth on or
// off. It returns an error for an empty key.
func newOpsAuth(keys []string, clientAuth bool) (*opsAuth, error) {
	a := &opsAuth{clientAuth: clientAuth}
	for i, k := range keys {
		if k == "" {
			return nil, fmt.Errorf("ops key %d is empty", i+1)
		}
		a.keys = append(a.keys, sha256.Sum256([]byte(k)))
	}
	return a, nil
}

// guard returns h behind the rule above.
func (a *opsAuth) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := a.check(r); err != nil {
			var pe opsProblem
			errors.As(err, &pe)
			if pe.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="pushmap ops"`)
			}
			w.Header().Set("Content-Type", "application/problem+json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(pe.status)
			json.NewEncoder(w).Encode(map[string]any{
				"title": http.StatusText(pe.status), "status": pe.status, "detail": pe.detail})
			return
		}
		h(w, r)
	}
}

// An opsProblem is why a request to an operator endpoint was refused.
type opsProblem struct {
	status int
	detail string
}

func (p opsProblem) Error() string { return p.detail }

// check returns nil when r may read the operator endpoints, else an
// opsProblem.
func (a *opsAuth) check(r *http.Request) error {
	if len(a.keys) == 0 {
		if a.clientAuth {
			return opsProblem{http.StatusForbidden, r.URL.Path + " reveals data and clients need a credential: " +
				"start the server with --ops-keys (or PUSHMAP_OPS_KEYS) and send one as \"Authorization: Bearer <key>\""}
		}
		return nil
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return opsProblem{http.StatusUnauthorized, r.URL.Path + " needs an ops key: send \"Authorization: Bearer <key>\" with a key of --ops-keys"}
	}
	sum := sha256.Sum256([]byte(token))
	match := 0
	for i := range a.keys {
		match |= subtle.ConstantTimeCompare(sum[:], a.keys[i][:])
	}
	if match != 1 {
		return opsProblem{http.StatusForbidden, "the key is not one of --ops-keys"}
	}
	return nil
}
