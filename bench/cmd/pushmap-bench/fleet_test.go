package main

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/pushmap/pushmap/bench/internal/loadgen"
)

// fakeRuns records the order of the runs it is asked for and answers each
// with one window whose CPU per million is the run's number in that
// order; a run named in overload is overloaded, one named in fail fails,
// and the first runs of a name in disturb share the machine with others.
type fakeRuns struct {
	order    []string
	overload map[string]bool
	fail     string
	// disturb: how many of a name's runs, its first ones, other
	// processes disturb.
	disturb map[string]int
}

func (f *fakeRuns) run(_ context.Context, sc *loadgen.Scenario) (*loadgen.Report, error) {
	if len(sc.Stages) != 1 {
		return nil, errors.New("a window is a run of one stage")
	}
	f.order = append(f.order, sc.Name)
	st := loadgen.StageResult{Stage: sc.Stages[0], CPUPerMillion: float64(len(f.order)), Pass: true, Overloaded: f.overload[sc.Name]}
	if f.disturb[sc.Name] > 0 {
		f.disturb[sc.Name]--
		st.OtherCPU = loadgen.DisturbedCores
	}
	rep := &loadgen.Report{Scenario: *sc, Stages: []loadgen.StageResult{st}}
	if sc.Name == f.fail && len(f.order) > 3 {
		return rep, errors.New("target died")
	}
	return rep, nil
}

func plan(name string, windows int) fleetPlan {
	return fleetPlan{sc: loadgen.Scenario{Name: name, Stages: []loadgen.Stage{{Markers: 10, Clients: 2}}}, windows: windows}
}

// TestFleetInTurns: the fleet's windows run in rounds, one window of every
// approach per round in the order given; an approach with fewer windows,
// or whose window was overloaded, sits out the later rounds; each
// approach's windows come back merged, the median kept, every window
// listed in round order.
func TestFleetInTurns(t *testing.T) {
	f := &fakeRuns{overload: map[string]bool{"d": true}}
	var log strings.Builder
	reps, err := fleetInTurns(context.Background(), []fleetPlan{plan("a", 3), plan("b", 1), plan("c", 2), plan("d", 3)}, f.run, &log)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b", "c", "d", "a", "c", "a"}; !slices.Equal(f.order, want) {
		t.Errorf("runs in the order %q, want %q", f.order, want)
	}
	if !strings.Contains(log.String(), "round 2 of 3: c, window 2 of 2\n") {
		t.Errorf("the log does not name round 2's run of c:\n%s", &log)
	}
	want := map[string]struct {
		windows []float64 // CPU per million of each window, in round order: its place in the order
		median  float64
	}{"a": {[]float64{1, 5, 7}, 5}, "b": {nil, 2}, "c": {[]float64{3, 6}, 3}, "d": {nil, 4}}
	if len(reps) != 4 {
		t.Fatalf("%d reports, want 4", len(reps))
	}
	for i, name := range []string{"a", "b", "c", "d"} {
		r, w := reps[i], want[name]
		var got []float64
		for _, s := range r.Windows {
			got = append(got, s.CPUPerMillion)
		}
		if r.Scenario.Name != name || !r.InTurns || !slices.Equal(got, w.windows) || len(r.Stages) != 1 || r.Stages[0].CPUPerMillion != w.median ||
			len(r.Scenario.Stages) != max(len(w.windows), 1) {
			t.Errorf("report %d: %s, in turns %v, windows %v, median %+v, %d stages asked; want %s, windows %v, median %v",
				i, r.Scenario.Name, r.InTurns, got, r.Stages, len(r.Scenario.Stages), name, w.windows, w.median)
		}
	}
}

// TestFleetInTurnsFails: a run that fails ends the part with its error,
// naming the approach and the round, and the windows measured so far.
func TestFleetInTurnsFails(t *testing.T) {
	f := &fakeRuns{fail: "b"}
	reps, err := fleetInTurns(context.Background(), []fleetPlan{plan("a", 3), plan("b", 3)}, f.run, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "b (round 2): target died") {
		t.Fatalf("error %v, want b's in round 2", err)
	}
	if len(reps) != 2 || len(reps[0].Windows) != 2 || len(reps[1].Windows) != 2 {
		t.Fatalf("reports %+v, want a's and b's two windows each", reps)
	}
}

// TestFleetInTurnsRemeasures: a window during which other processes took
// loadgen.DisturbedCores is measured again at once, at most remeasures
// times, the last kept whatever it saw; the disturbed ones are kept apart
// in the report, in the order measured.
func TestFleetInTurnsRemeasures(t *testing.T) {
	f := &fakeRuns{disturb: map[string]int{"a": 1, "b": remeasures + 1}}
	var log strings.Builder
	reps, err := fleetInTurns(context.Background(), []fleetPlan{plan("a", 2), plan("b", 1)}, f.run, &log)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "a", "b"}
	for range remeasures {
		want = append(want, "b")
	}
	want = append(want, "a")
	if !slices.Equal(f.order, want) {
		t.Errorf("runs in the order %q, want %q", f.order, want)
	}
	if !strings.Contains(log.String(), "round 1 of 2: a, window 1 measured again (1 of 2): other processes took 0.25 cores\n") {
		t.Errorf("the log does not say a's first window was measured again:\n%s", &log)
	}
	cpus := func(ws []loadgen.StageResult) (got []float64) {
		for _, w := range ws {
			got = append(got, w.CPUPerMillion)
		}
		return got
	}
	if got := cpus(reps[0].Windows); !slices.Equal(got, []float64{2, 2 + float64(remeasures) + 2}) {
		t.Errorf("a's windows %v, want its second run and its last", got)
	}
	if got := cpus(reps[0].Disturbed); !slices.Equal(got, []float64{1}) {
		t.Errorf("a's disturbed windows %v, want its first run", got)
	}
	var bDisturbed []float64
	for k := range remeasures {
		bDisturbed = append(bDisturbed, float64(3+k))
	}
	if got := cpus(reps[1].Disturbed); !slices.Equal(got, bDisturbed) || len(reps[1].Stages) != 1 || !reps[1].WasDisturbed() {
		t.Errorf("b: disturbed windows %v, stages %+v; want %v, and the last run kept though disturbed", got, reps[1].Stages, bDisturbed)
	}
}
