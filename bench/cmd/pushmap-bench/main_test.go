package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pushmap/pushmap/bench/internal/loadgen"
	"github.com/pushmap/pushmap/bench/internal/micro"
	"github.com/pushmap/pushmap/bench/internal/report"
	"github.com/pushmap/pushmap/internal/leakcheck"
)

// TestMain runs the test binary as a server under test when the run
// under test starts it as `pushmap-bench target` (os.Executable is the
// test binary), the tests otherwise.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == roleTarget {
		x := &cli{stdout: os.Stdout, stderr: os.Stderr}
		os.Exit(x.run(context.Background(), os.Args[1:]))
	}
	leakcheck.Main(m)
}

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
		// Checked before any ladder runs: pushmap's would take minutes.
		{[]string{"-only", "ladder", "-ladder-approaches", "pushmap,flor", "-out", dir}, 1, "", `-ladder-approaches: unknown approach "flor"`},
		{[]string{"-only", "heavy", "-heavy-approaches", "pushmap:x", "-out", dir}, 1, "", `-heavy-approaches: "pushmap:x": want a name`},
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

// TestLadderClimbsTheFloor runs the part "ladder" for real, small: for
// each client count pushmap's ladder, then the floor's, each in a server
// process of its own (this test binary as `pushmap-bench target`), both
// in results.json and in the tables of results.md. -quick climbs both.
func TestLadderClimbsTheFloor(t *testing.T) {
	dir := t.TempDir()
	// The run's log takes the targets' standard error too, copied by
	// os/exec's goroutines: one lock for every writer.
	stderr := &lockedBuffer{}
	x := &cli{stdout: io.Discard, stderr: stderr}
	code := x.run(context.Background(), []string{"-only", "ladder", "-ladder-clients", "30", "-ladder-markers", "200,400",
		"-warmup", "500ms", "-window", "1s", "-max-p99", "10s", "-sources", "2", "-quiet-wait", "0", "-out", dir})
	if code != 0 {
		t.Fatalf("exit status %d: %s", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res report.Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Ladder) != 2 {
		t.Fatalf("%d ladder runs, want pushmap's and the floor's", len(res.Ladder))
	}
	for i, want := range []loadgen.Approach{loadgen.Pushmap, loadgen.Floor} {
		rep := res.Ladder[i]
		if rep.Scenario.Approach != want || rep.Asked != 30 || len(rep.Stages) != 2 {
			t.Errorf("ladder run %d: %s, %d clients asked, %d stages; want %s, 30 and 2", i, rep.Scenario.Approach, rep.Asked, len(rep.Stages), want)
			continue
		}
		for _, st := range rep.Stages {
			if st.Clients != 30 || st.Recall != 1 || st.Precision != 1 || st.FramesPerSec <= 0 {
				t.Errorf("%s at M = %d: %d clients, recall %.4f, precision %.4f, %.0f frames/s: want 30 clients served exactly",
					want, st.Markers, st.Clients, st.Recall, st.Precision, st.FramesPerSec)
			}
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#### Throughput: the highest update rate pushmap and the floor (not shippable) sustain",
		"| pushmap | 30 | 400 |", "| floor (not shippable) | 30 | 400 |", "| floor (not shippable) | 30 | 200 |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q:\n%s", want, md)
		}
	}

	fs, c := benchFlags(io.Discard)
	if err := fs.Parse([]string{"-quick"}); err != nil {
		t.Fatal(err)
	}
	c.applyQuick()
	if !slices.Equal(c.ladderApproaches, list{"pushmap", "floor"}) {
		t.Errorf("-quick climbs the ladder with %q, want pushmap and the floor", c.ladderApproaches)
	}
}

// lockedBuffer is a bytes.Buffer safe for writers on several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
