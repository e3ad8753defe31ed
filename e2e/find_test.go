//go:build !js

package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hideChromium makes FindChromium find nothing for the rest of t.
func hideChromium(t *testing.T) {
	oldSystem, oldNames := systemChromium, chromiumNames
	t.Cleanup(func() { systemChromium, chromiumNames = oldSystem, oldNames })
	systemChromium = filepath.Join(t.TempDir(), "no-chromium")
	chromiumNames = []string{"pushmap-e2e-no-such-browser"}
	t.Setenv("PUSHMAP_CHROMIUM", "")
}

func TestFindChromium(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		hideChromium(t)
		_, err := FindChromium()
		if !errors.Is(err, ErrNoBrowser) || !strings.Contains(err.Error(), "PUSHMAP_CHROMIUM") {
			t.Errorf("err = %v, want ErrNoBrowser and a hint at PUSHMAP_CHROMIUM", err)
		}
	})
	t.Run("env", func(t *testing.T) {
		hideChromium(t)
		exe := filepath.Join(t.TempDir(), "my-chromium")
		if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PUSHMAP_CHROMIUM", exe)
		if got, err := FindChromium(); err != nil || got != exe {
			t.Errorf("FindChromium() = %q, %v; want %q", got, err, exe)
		}
	})
}

// recorder is a testing.TB that records Skipf and Fatalf instead of acting.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skipf(format string, args ...any)  { r.skipped = format }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = format }

func TestSkipIfNoBrowser(t *testing.T) {
	tests := []struct {
		name     string
		require  string
		wantSkip bool
		wantFail bool
	}{
		{"skips by default", "", true, false},
		{"fails when required", "1", false, true},
		{"skips unless exactly 1", "yes", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hideChromium(t)
			t.Setenv("PUSHMAP_REQUIRE_BROWSER", tt.require)
			r := &recorder{TB: t}
			SkipIfNoBrowser(r)
			if (r.skipped != "") != tt.wantSkip || (r.failed != "") != tt.wantFail {
				t.Errorf("skipped %q, failed %q; want skip %v, fail %v", r.skipped, r.failed, tt.wantSkip, tt.wantFail)
			}
		})
	}
}
