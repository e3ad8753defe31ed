// Package doctest checks that the guides in docs/ show what pushmap's tests
// run: an example file verbatim, and the command that runs it.
package doctest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Example returns the path of docs/examples/name after checking that
// docs/feeds.md shows the file verbatim in a fenced block, so the guide
// never drifts from what the tests run.
func Example(t testing.TB, name string) string {
	t.Helper()
	docs := filepath.Join(repoRoot(t), "docs")
	path := filepath.Join(docs, "examples", name)
	example, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	guide, err := os.ReadFile(filepath.Join(docs, "feeds.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(guide), "\n"+string(example)+"```\n") {
		t.Fatalf("docs/feeds.md does not show docs/examples/%s verbatim in a fenced block; paste it again", name)
	}
	return path
}

// Command returns the command that docs/feeds.md shows, in a fenced
// block, for running docs/examples/name — "VAR=value ... /usr/bin/python3
// docs/examples/name" — without the variable assignments and with the
// example's path made absolute: what the test must run, so that the guide
// never shows a command that fails.
func Command(t testing.TB, name string) []string {
	t.Helper()
	guide, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "feeds.md"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(guide), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[len(fields)-1] != "docs/examples/"+name {
			continue
		}
		for len(fields) > 0 && strings.Contains(fields[0], "=") {
			fields = fields[1:]
		}
		if len(fields) < 2 {
			break
		}
		fields[len(fields)-1] = filepath.Join(repoRoot(t), "docs", "examples", name)
		return fields
	}
	t.Fatalf("docs/feeds.md shows no command line ending in docs/examples/%s", name)
	return nil
}

// repoRoot finds the directory holding go.mod above the test's directory.
func repoRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal(fmt.Errorf("no go.mod above the test's directory"))
		}
		dir = parent
	}
}
