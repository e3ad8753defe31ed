package auth_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/server/servertest"
)

// TestJWKSReload replaces the keys of a JWKS file under a Verifier that
// reloads it by hand, and checks which tokens verify after each change.
func TestJWKSReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKS(t, path, jwkOf("rsa-1", rsaKey(), nil))
	var log logBuffer
	// A poll of an hour: only the test's Reload calls reload.
	v := newVerifier(t, auth.Config{JWKSFile: path, JWKSPoll: time.Hour, Logger: log.logger()})
	rsaTok := sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims(nil))
	ecTok := sign(t, jwt.SigningMethodES256, ecKey2(), "ec-2", claims(nil))
	verifies := func(tok string) bool { _, err := v.Verify(tok); return err == nil }

	if !verifies(rsaTok) || verifies(ecTok) {
		t.Fatal("before the change")
	}
	// Unchanged: nothing happens, nothing is logged.
	if err := v.Reload(); err != nil || log.count("JWKS reloaded") != 0 {
		t.Fatalf("reload of an unchanged file: %v\n%s", err, log.String())
	}

	// Rotation: the new key is published beside the old one, then alone.
	writeJWKS(t, path, jwkOf("rsa-1", rsaKey(), nil), jwkOf("ec-2", ecKey2(), nil))
	if err := v.Reload(); err != nil {
		t.Fatal(err)
	}
	if !verifies(rsaTok) || !verifies(ecTok) {
		t.Fatal("with both keys published, both tokens must verify")
	}
	writeJWKS(t, path, jwkOf("ec-2", ecKey2(), nil))
	if err := v.Reload(); err != nil {
		t.Fatal(err)
	}
	if verifies(rsaTok) || !verifies(ecTok) {
		t.Fatal("after the old key is withdrawn, only the new one verifies")
	}
	if _, err := v.Verify(rsaTok); err == nil || !strings.Contains(err.Error(), `unknown kid "rsa-1"`) {
		t.Errorf("withdrawn key: %v", err)
	}

	// A bad file keeps the keys, and is logged once however often it is read.
	for _, bad := range []struct{ name, content, want string }{
		{"half written", `{"keys": [{"kty": "EC", "kid": "ec-3"`, "not a JSON Web Key Set"},
		{"no usable key", `{"keys": []}`, "no RS256 or ES256 signing key"},
	} {
		writeFile(t, path, bad.content)
		for range 3 {
			if err := v.Reload(); err == nil || !strings.Contains(err.Error(), bad.want) {
				t.Fatalf("%s: reload error %v, want %q", bad.name, err, bad.want)
			}
		}
		if !verifies(ecTok) {
			t.Fatalf("%s: the keys loaded before were dropped", bad.name)
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := v.Reload(); !errors.Is(err, os.ErrNotExist) || !verifies(ecTok) {
		t.Fatalf("file removed: reload error %v; the keys must stay", err)
	}
	if n := log.count("JWKS reload failed; keeping the keys loaded before"); n != 3 {
		t.Errorf("%d failures logged, want 3 (one per distinct failure):\n%s", n, log.String())
	}

	// Restored, the file is loaded again, even with the content it had.
	writeJWKS(t, path, jwkOf("ec-2", ecKey2(), nil))
	if err := v.Reload(); err != nil || !verifies(ecTok) {
		t.Fatalf("restored: %v", err)
	}
	if n := log.count("JWKS reloaded"); n != 3 {
		t.Errorf("%d reloads logged, want 3:\n%s", n, log.String())
	}
}

// TestJWKSReloadSameSizeAndTime checks that a change is seen even when the
// file keeps its size and modification time, which a check of mtime and
// size alone would miss: the watcher compares a hash of the content.
func TestJWKSReloadSameSizeAndTime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKS(t, path, jwkOf("ec-a", ecKey(), nil))
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, auth.Config{JWKSFile: path, JWKSPoll: time.Hour})
	writeJWKS(t, path, jwkOf("ec-b", ecKey2(), nil))
	if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if st2, _ := os.Stat(path); st2.Size() != st.Size() || !st2.ModTime().Equal(st.ModTime()) {
		t.Fatalf("size or mtime differ: %d %v, %d %v", st.Size(), st.ModTime(), st2.Size(), st2.ModTime())
	}
	if err := v.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(sign(t, jwt.SigningMethodES256, ecKey2(), "ec-b", claims(nil))); err != nil {
		t.Fatalf("the new key is not loaded: %v", err)
	}
}

// TestJWKSWatcher checks that the Verifier's own watcher picks up a new key
// and survives a bad file.
func TestJWKSWatcher(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKS(t, path, jwkOf("ec-1", ecKey(), nil))
	var log logBuffer
	v := newVerifier(t, auth.Config{JWKSFile: path, JWKSPoll: 10 * time.Millisecond, Logger: log.logger()})
	oldTok := sign(t, jwt.SigningMethodES256, ecKey(), "ec-1", claims(nil))
	newTok := sign(t, jwt.SigningMethodES256, ecKey2(), "ec-2", claims(nil))

	writeFile(t, path, "{")
	servertest.Eventually(t, 10*time.Second, func() string {
		if log.count("JWKS reload failed") == 0 {
			return "the bad file was not logged"
		}
		return ""
	})
	if _, err := v.Verify(oldTok); err != nil {
		t.Fatalf("after a bad file: %v", err)
	}
	writeJWKS(t, path, jwkOf("ec-2", ecKey2(), nil))
	servertest.Eventually(t, 10*time.Second, func() string {
		if _, err := v.Verify(newTok); err != nil {
			return "new key not loaded: " + err.Error()
		}
		return ""
	})
	if _, err := v.Verify(oldTok); err == nil {
		t.Error("the withdrawn key still verifies")
	}
	if n := log.count("JWKS reload failed"); n != 1 {
		t.Errorf("the bad file was logged %d times, want once:\n%s", n, log.String())
	}
}
