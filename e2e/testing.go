//go:build !js

package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// SkipIfNoBrowser skips tb when FindChromium finds no Chromium binary, with
// a message saying how to provide one. When the environment variable
// PUSHMAP_REQUIRE_BROWSER is "1" it fails tb instead, so that CI never
// passes by skipping. Any other error of FindChromium, such as a
// PUSHMAP_CHROMIUM that names no executable, fails tb.
func SkipIfNoBrowser(tb testing.TB) {
	tb.Helper()
	_, err := FindChromium()
	switch {
	case err == nil:
	case errors.Is(err, ErrNoBrowser) && os.Getenv("PUSHMAP_REQUIRE_BROWSER") != "1":
		tb.Skipf("skipping browser test: %v (PUSHMAP_REQUIRE_BROWSER=1 makes this a failure)", err)
	default:
		tb.Fatalf("browser test: %v", err)
	}
}

// ArtifactPath returns where a test should write a file it wants to keep,
// such as a screenshot: $PUSHMAP_ARTIFACTS/<test name>/name when that
// environment variable is set, so that the files outlive the test (a subtest's
// name makes nested directories), else name in tb.TempDir(), removed with the
// test. It creates the file's directory, and fails tb if it cannot.
func ArtifactPath(tb testing.TB, name string) string {
	tb.Helper()
	var path string
	if root := os.Getenv("PUSHMAP_ARTIFACTS"); root != "" {
		path = filepath.Join(root, filepath.FromSlash(tb.Name()), name)
	} else {
		path = filepath.Join(tb.TempDir(), name)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatalf("artifact directory: %v", err)
	}
	return path
}
