package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushmap/pushmap/bench/internal/micro"
	"github.com/pushmap/pushmap/bench/internal/report"
	"github.com/pushmap/pushmap/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func testCLI() (*cli, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	return &cli{stdout: &stdout, stderr: &stderr}, &stdout, &stderr
}

// TestPlotCommittedResults renders the committed docs/bench/results.json
// and micro-benchmark outputs (docs/bench/micro) with -plot -write-docs
// -micro into a copy of the benchmarks page, running nothing: the page's
// generated parts and its SVG plots come back, and the page is the
// committed one (make bench-plot keeps it so).
func TestPlotCommittedResults(t *testing.T) {
	docs := filepath.Join("..", "..", "..", "docs")
	committed, err := os.ReadFile(filepath.Join(docs, "benchmarks.md"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "benchmarks.md")
	stale := strings.Replace(string(committed), report.BeginMarker, report.BeginMarker+"\nstale line", 1)
	stale = strings.Replace(stale, micro.Begin("encode"), micro.Begin("encode")+"\nstale line", 1)
	if err := os.WriteFile(page, []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	x, stdout, stderr := testCLI()
	code := x.run(context.Background(), []string{"-plot", filepath.Join(docs, "bench", "results.json"),
		"-out", filepath.Join(dir, "out"), "-write-docs", "-docs", page, "-micro", filepath.Join(docs, "bench", "micro")})
	if code != 0 {
		t.Fatalf("exit status %d: %s", code, stderr)
	}
	got, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(committed) {
		t.Errorf("docs/benchmarks.md differs from what -plot renders from docs/bench/results.json: run make bench-plot")
	}
	for _, name := range []string{report.PlotBytes, report.PlotLatency, report.PlotLadder} {
		for _, d := range []string{filepath.Join(dir, "out"), filepath.Join(dir, "bench")} {
			b, err := os.ReadFile(filepath.Join(d, name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte("<svg ")) || !bytes.Contains(b, []byte("<text ")) {
				t.Errorf("%s/%s is not an SVG with text", d, name)
			}
		}
		if !strings.Contains(string(got), "(bench/"+name+")") {
			t.Errorf("the page does not link bench/%s", name)
		}
	}
	if !strings.Contains(stdout.String(), "results in") {
		t.Errorf("stdout: %q", stdout)
	}
}

func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"-help"}, 0, "Usage: pushmap-bench [flags]", ""},
		{[]string{"extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"-nope"}, 2, "", "flag provided but not defined: -nope"},
		{[]string{"-plot", "no-such-file.json"}, 1, "", "no-such-file.json"},
		{[]string{roleTarget, "-kind", "nope"}, 2, "", `unknown -kind "nope"`},
		{[]string{"-only", "stream", "-stream-nodes", "0", "-out", dir}, 1, "", "-stream-nodes 0: want 1 to 16 nodes"},
		{[]string{"-only", "fleet", "-approaches", "pushmap-cluster0", "-out", dir}, 1, "", `"pushmap-cluster0": want pushmap-cluster and a number of nodes`},
		{[]string{roleDial, "-region", "nowhere"}, 1, "", `-region "nowhere"`},
	} {
		x, stdout, stderr := testCLI()
		if code := x.run(context.Background(), tt.args); code != tt.code {
			t.Errorf("%q: exit status %d, want %d (stderr %q)", tt.args, code, tt.code, stderr)
		}
		if !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("%q: stdout %q, stderr %q; want %q and %q", tt.args, stdout, stderr, tt.stdout, tt.stderr)
		}
	}
}
