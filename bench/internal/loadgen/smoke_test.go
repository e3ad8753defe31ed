package loadgen

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/bench/internal/target"
	"github.com/pushmap/pushmap/internal/leakcheck"
)

// childEnv, when set in the environment, makes the test binary run a
// benchmark target instead of the tests: the smoke tests run the server in
// a process of its own, as pushmap-bench does.
const childEnv = "PUSHMAP_LOADGEN_TARGET"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(target.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	leakcheck.Main(m)
}

// testEnv returns an Env whose targets are this test binary re-executed.
func testEnv(t *testing.T) *Env {
	return &Env{
		Target: func(kind string, args ...string) *exec.Cmd {
			cmd := exec.Command(os.Args[0], append([]string{"-kind", kind}, args...)...)
			cmd.Env = append(os.Environ(), childEnv+"=1")
			return cmd
		},
		Log: testLog{t},
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// smoke is a small scenario: a few hundred markers, a few dozen clients
// panning often, two seconds measured.
func smoke(a Approach) *Scenario {
	return &Scenario{Name: "smoke/" + string(a), Approach: a, PollEvery: 250 * time.Millisecond,
		Stages: []Stage{{Markers: 300, Clients: 30}}, Pan: time.Second, Seed: 7,
		Warmup: 500 * time.Millisecond, Window: 1500 * time.Millisecond, Grace: 300 * time.Millisecond,
		StaleClients: 30, MaxP99: time.Hour}
}

// TestSmokePushmap checks, on a small run against a real pushmap server
// in its own process, that pushmap delivers every in-view update and
// nothing else (recall and precision 100%), with the positions published.
// It checks correctness, not speed.
func TestSmokePushmap(t *testing.T) {
	rep := runSmoke(t, smoke(Pushmap))
	st := rep.Stages[0]
	checkExact(t, st)
}

// TestSmokeFloor checks that the floor (baseline.Floor), which the
// bench's pushmap clients talk to as to pushmap, delivers every in-view
// update and nothing else too: its figures are a floor under pushmap's
// only if it does the same job.
func TestSmokeFloor(t *testing.T) {
	rep := runSmoke(t, smoke(Floor))
	st := rep.Stages[0]
	checkExact(t, st)
	if st.FramesPerClientBatch > 1.01 {
		t.Errorf("%.2f frames per client per batch, want at most 1", st.FramesPerClientBatch)
	}
}

// TestSmokePushmapMargin checks that clients widening their views as the
// browser client does (margin 0.25) still get every in-view update, and
// that the audit judges them against the view they show: what the margin
// brings is not in view, so precision falls below 100%.
func TestSmokePushmapMargin(t *testing.T) {
	sc := smoke(Pushmap)
	sc.Margin = 0.25
	rep := runSmoke(t, sc)
	st := rep.Stages[0]
	if st.Recall != 1 || st.Missed != 0 {
		t.Errorf("recall %.4f: %d of %d in-view updates missed", st.Recall, st.Missed, st.InViewUpdates)
	}
	// The widened view is 2.25 times the view: about 1/2.25 of what comes
	// is in view.
	if st.Precision < 0.2 || st.Precision > 0.8 {
		t.Errorf("precision %.4f, want about 0.44", st.Precision)
	}
}

// TestSmokeBaselines checks that the tile-channel and polling baselines
// deliver every in-view update too, less precisely: the audit judges them
// by the same rule.
func TestSmokeBaselines(t *testing.T) {
	for _, a := range []Approach{Tiles, Poll, PollSince} {
		t.Run(string(a), func(t *testing.T) {
			rep := runSmoke(t, smoke(a))
			st := rep.Stages[0]
			if a == Tiles && st.Recall != 1 {
				t.Errorf("tile channels: recall %.4f, %d of %d missed", st.Recall, st.Missed, st.InViewUpdates)
			}
			if st.Precision >= 1 || st.Precision <= 0 {
				t.Errorf("%s: precision %.4f, want between 0 and 1: they deliver more than the view", a, st.Precision)
			}
		})
	}
}

// checkExact fails t unless st delivered every in-view update and
// nothing else: recall and precision 100%.
func checkExact(t *testing.T, st StageResult) {
	t.Helper()
	if st.Recall != 1 || st.Missed != 0 {
		t.Errorf("recall %.4f: %d of %d in-view updates missed", st.Recall, st.Missed, st.InViewUpdates)
	}
	if st.Precision != 1 {
		t.Errorf("precision %.4f, want 1", st.Precision)
	}
}

func runSmoke(t *testing.T, sc *Scenario) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Run(ctx, testEnv(t), sc)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Stages) != 1 {
		t.Fatalf("%d stages", len(rep.Stages))
	}
	st := rep.Stages[0]
	t.Log(st.line())
	if st.InViewUpdates < 100 || st.DeliveredPerSec <= 0 {
		t.Errorf("only %d in-view updates, %.0f deliveries/s: the run did not exercise much", st.InViewUpdates, st.DeliveredPerSec)
	}
	for _, c := range []struct {
		n    int64
		what string
	}{{st.PositionErrors, "wrong positions"}, {st.Errors, "errors"}, {st.Resets, "resets"}, {st.Disconnects, "disconnects"}} {
		if c.n != 0 {
			t.Errorf("%d %s", c.n, c.what)
		}
	}
	if fmt.Sprint(st.Latency.N) == "0" {
		t.Error("no latency measured")
	}
	if st.FramesPerClientBatch <= 0 || st.BatchesPerSec <= 0 {
		t.Errorf("%.2f frames per client per batch, %.1f batches/s: not counted", st.FramesPerClientBatch, st.BatchesPerSec)
	}
	return rep
}

// TestSmokeCluster checks, on a small run against three pushmap nodes in
// --redis-mode cluster on a real redis-server, all in processes of their
// own, that clients on every node get every in-view update and nothing
// else, and that Redis's CPU and the latencies per node are measured.
func TestSmokeCluster(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("PUSHMAP_REQUIRE_REDIS") == "1" {
			t.Fatal("redis-server is not installed and PUSHMAP_REQUIRE_REDIS=1")
		}
		t.Skip("redis-server is not installed (apt-get install -y redis-server)")
	}
	sc := smoke(Pushmap)
	sc.Nodes = 3
	rep := runSmoke(t, sc)
	st := rep.Stages[0]
	checkExact(t, st)
	// Redis's RSS shows its /proc entry was read; its CPU may round to 0
	// in a smoke run's short window (clock ticks of 10 ms, little work).
	if len(st.NodeCPU) != 3 || st.RedisCPU < 0 || st.RedisRSS <= 0 {
		t.Errorf("nodes' CPU %v, Redis CPU %.3f cores and RSS %d: want three nodes and Redis measured", st.NodeCPU, st.RedisCPU, st.RedisRSS)
	}
	if st.LatencyFeedNode == nil || st.LatencyOtherNodes == nil || st.LatencyFeedNode.N == 0 || st.LatencyOtherNodes.N == 0 {
		t.Errorf("latency on the fed node %+v, on the others %+v: want both measured", st.LatencyFeedNode, st.LatencyOtherNodes)
	}
	if st.FeedLatency.N == 0 {
		t.Error("no feed request timed")
	}
}

// TestStopOnFailRunsThrough: a run stopping at its first failing stage
// goes on to the stage of RunThrough markers first, and stops after it.
func TestStopOnFailRunsThrough(t *testing.T) {
	sc := smoke(Pushmap)
	sc.Stages = []Stage{{Markers: 100, Clients: 20}, {Markers: 200, Clients: 20}, {Markers: 300, Clients: 20}}
	sc.Window = time.Second
	sc.MaxP99 = time.Nanosecond // every stage fails
	sc.StopOnFail, sc.RunThrough = true, 200
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, testEnv(t), sc)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, st := range rep.Stages {
		if st.Pass {
			t.Errorf("M = %d passed with p99 %.1f ms under 1 ns", st.Markers, st.Latency.P99)
		}
		got = append(got, st.Markers)
	}
	if !slices.Equal(got, []int{100, 200}) {
		t.Errorf("stages run: %v, want 100 and 200: on through the failure at 100, stopping at the failure at 200", got)
	}
}
