package report

import (
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pushmap/pushmap/bench/internal/loadgen"
)

// Plot files written by WritePlots.
const (
	PlotBytes   = "bytes-per-client.svg"
	PlotLatency = "latency-vs-clients.svg"
	PlotLadder  = "throughput.svg"
)

// label names an approach as the tables do.
func label(sc *loadgen.Scenario) string {
	switch sc.Approach {
	case loadgen.Poll:
		return "polling " + sc.PollEvery.String() + ", whole box (naive)"
	case loadgen.PollSince:
		return "polling " + sc.PollEvery.String() + ", changes since a cursor, gzip"
	case loadgen.Tiles:
		return fmt.Sprintf("tile channels (z%d)", sc.TileZoom)
	case loadgen.Floor:
		return "floor (not shippable)"
	}
	if sc.DataDir {
		return "pushmap --data-dir (fsync always)"
	}
	if sc.Nodes > 0 {
		return fmt.Sprintf("pushmap, %d nodes on one Redis", sc.Nodes)
	}
	if sc.Margin > 0 {
		return fmt.Sprintf("pushmap, margin %g", sc.Margin)
	}
	return string(sc.Approach)
}

// shortLabel names an approach in a plot.
func shortLabel(sc *loadgen.Scenario) string {
	switch sc.Approach {
	case loadgen.Poll:
		return "poll " + sc.PollEvery.String()
	case loadgen.PollSince:
		return "poll since " + sc.PollEvery.String()
	case loadgen.Tiles:
		return fmt.Sprintf("tiles z%d", sc.TileZoom)
	}
	if sc.DataDir {
		return "pushmap durable"
	}
	if sc.Nodes > 0 {
		return fmt.Sprintf("pushmap %d nodes", sc.Nodes)
	}
	if sc.Margin > 0 {
		return fmt.Sprintf("pushmap m%g", sc.Margin)
	}
	return string(sc.Approach)
}

// plain reports whether sc is pushmap as measured against the others: in
// memory, views sent as shown.
func plain(sc *loadgen.Scenario) bool {
	return sc.Approach == loadgen.Pushmap && !sc.DataDir && sc.Margin == 0 && sc.Nodes == 0
}

// framesPerClientBatch returns how many frames (or poll answers) a client
// got per feed batch in st: from results.json's own figure, or, for
// results written before it was kept, from deliveries, ops per frame and
// the tick.
func framesPerClientBatch(st *loadgen.StageResult, w Workload) float64 {
	if st.FramesPerClientBatch > 0 {
		return st.FramesPerClientBatch
	}
	tick, err := time.ParseDuration(w.Tick)
	if err != nil || tick <= 0 || st.OpsPerFrame == 0 || st.Clients == 0 {
		return 0
	}
	return st.DeliveredPerSec / st.OpsPerFrame / float64(st.Clients) * tick.Seconds()
}

// WritePlots writes the SVG plots of res into dir.
func WritePlots(res *Results, dir string) error {
	var plots = map[string]interface{ SVG() ([]byte, error) }{}
	if len(res.Fleet) > 0 {
		b := &barChart{title: "Bytes received per client per second", yLabel: "bytes per second (log)", logY: true}
		for _, rep := range res.Fleet {
			if len(rep.Stages) == 0 {
				continue
			}
			b.labels = append(b.labels, shortLabel(&rep.Scenario))
			b.values = append(b.values, rep.Stages[0].BytesPerClientSec)
		}
		plots[PlotBytes] = b
	}
	if len(res.Sweep) > 0 {
		l := &lineChart{title: "Latency as clients grow", xLabel: fmt.Sprintf("clients (%s markers moving once a second)", shortNumber(float64(sweepMarkers(res)))),
			yLabel: "latency (ms, log)", logX: true, logY: true}
		for i, rep := range res.Sweep {
			var x, p50, p99 []float64
			for _, st := range rep.Stages {
				x = append(x, float64(st.Clients))
				p50 = append(p50, st.Latency.P50)
				p99 = append(p99, st.Latency.P99)
			}
			name := shortLabel(&rep.Scenario)
			l.series = append(l.series, series{name: name + " p99", x: x, y: p99, color: i},
				series{name: name + " p50", x: x, y: p50, color: i, dashed: true})
		}
		plots[PlotLatency] = l
	}
	if len(res.Ladder) > 0 {
		l := &lineChart{title: ladderTitle(res) + ": p99 latency as deliveries grow", xLabel: "in-view deliveries per second (log)",
			yLabel: "p99 latency (ms, log)", logX: true, logY: true}
		var counts []int // client counts in order: a colour each, the floor's line dashed in its count's colour
		for _, rep := range res.Ladder {
			var x, y []float64
			for _, st := range rep.Stages {
				x = append(x, st.InViewPerSec)
				y = append(y, st.Latency.P99)
			}
			clients := 0
			if len(rep.Stages) > 0 {
				clients = rep.Stages[0].Clients
			}
			color := slices.Index(counts, clients)
			if color < 0 {
				color, counts = len(counts), append(counts, clients)
			}
			name := shortNumber(float64(clients)) + " clients"
			if !plain(&rep.Scenario) {
				name = shortLabel(&rep.Scenario) + ", " + name
			}
			l.series = append(l.series, series{name: name, x: x, y: y, color: color, dashed: !plain(&rep.Scenario)})
		}
		if bound, err := time.ParseDuration(res.Workload.MaxP99); err == nil {
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, s := range l.series {
				for _, x := range s.x {
					if x > 0 {
						lo, hi = math.Min(lo, x), math.Max(hi, x)
					}
				}
			}
			if lo <= hi {
				b := float64(bound) / 1e6
				l.series = append(l.series, series{name: "p99 bound", x: []float64{lo, hi}, y: []float64{b, b}, dashed: true, bound: true, color: 5})
			}
		}
		plots[PlotLadder] = l
	}
	for name, p := range plots {
		b, err := p.SVG()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func sweepMarkers(res *Results) int {
	for _, rep := range res.Sweep {
		if len(rep.Stages) > 0 {
			return rep.Stages[0].Markers
		}
	}
	return 0
}

// Markdown returns the tables of res, with its plots linked from dir (a
// path relative to the page).
func Markdown(res *Results, dir string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := res.Machine
	p("<!-- Generated by pushmap-bench from the results.json of `%s`; do not edit by hand. -->\n\n", res.Command)
	what := "full run"
	if res.Quick {
		what = "quick run (`-quick`): small sizes, short windows"
	}
	p("Measured by `%s` on %s, in %s (%s). Machine: %d cores (%s), %d GiB, %s, %s; a process may open %s files.\n\n",
		res.Version, res.Started.Format("2006-01-02"), duration(res.Seconds), what, m.CPUs, m.CPU, m.MemoryGiB, m.OS, m.Go, num(float64(m.FileLimit)))
	w := res.Workload
	p("The load generator (the clients and the feed) and the server under test run on the same %d cores: what one uses the other cannot, "+
		"so each approach's generator CPU is shown beside its latency.\n\n", m.CPUs)
	p("Workload: %s markers in %s moving %g m every %s, published in feed batches every %s; views of %g° × %g° (zoom %g), "+
		"panning every %s on average (0.5–1.5×); tile channels at zoom %d. Each run warms up %s and measures %s (sweep and ladder stages: "+
		"at most 3 s and 5 s; ladder stages 2 s and 4 s).\n\n",
		num(float64(w.Markers)), boxString(w), w.SpeedMps, w.Period, w.Tick, w.View[0], w.View[1], w.Zoom, w.Pan, w.TileZoom, w.Warmup, w.Window)
	for _, n := range res.Notes {
		p("- Note: %s\n", n)
	}
	if len(res.Notes) > 0 {
		p("\n")
	}

	if len(res.Fleet) > 0 {
		fleetTables(&b, res, dir)
	}
	if len(res.Heavy) > 0 {
		heavyTable(&b, res)
	}
	if len(res.Sweep) > 0 {
		sweepTable(&b, res, dir)
	}
	if len(res.Ladder) > 0 {
		ladderTables(&b, res, dir)
	}
	if len(res.Stream) > 0 {
		streamTable(&b, res)
	}
	if res.Idle != nil {
		idleTable(&b, res.Idle)
	}
	goals(&b, res)
	return b.String()
}

func boxString(w Workload) string {
	r := w.Region
	return fmt.Sprintf("[%g, %g, %g, %g]", r.West, r.South, r.East, r.North)
}

func duration(sec float64) string {
	if sec >= 60 {
		return fmt.Sprintf("%.0f min %02.0f s", math.Floor(sec/60), math.Mod(sec, 60))
	}
	return fmt.Sprintf("%.0f s", sec)
}

// num formats n with thousands separators.
func num(n float64) string {
	s := fmt.Sprintf("%.0f", n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func pct(f float64) string {
	switch {
	case f >= 1:
		return "100%"
	case f >= 0.9999:
		return fmt.Sprintf("%.3f%%", 100*f)
	}
	return fmt.Sprintf("%.2f%%", 100*f)
}

// ms formats milliseconds: one decimal below 100 (so that 49.7 is not
// shown as 50), three significant digits below 1.
func ms(f float64) string {
	switch {
	case f == 0:
		return "0"
	case f < 1:
		return fmt.Sprintf("%.2g", f)
	case f < 100:
		return fmt.Sprintf("%.1f", f)
	}
	return num(f)
}

// bytesFmt formats a byte count with a decimal below 100.
func bytesFmt(f float64) string {
	if f < 100 {
		return fmt.Sprintf("%.1f", f)
	}
	return num(f)
}

func kb(bytes float64) string { return fmt.Sprintf("%.1f KB", bytes/1024) }

func mib(bytes int64) string { return fmt.Sprintf("%s MiB", num(float64(bytes)/(1<<20))) }

func verdict(st *loadgen.StageResult) string {
	if st.Pass {
		return "yes"
	}
	return "no: " + st.Why
}

func fleetTables(b *strings.Builder, res *Results, dir string) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w := res.Workload
	p("#### The fleet workload, every approach (M = %s, C = %s)\n\n", num(float64(w.Markers)), num(float64(w.Clients)))
	p("What the clients get:\n\n")
	p("| approach | in-view updates delivered/s | latency p50 / p99 / p99.9 (ms) | generator CPU (cores) | staleness mean / max (ms) | precision | recall | bytes per client per s | bytes per in-view update | requests per client per s |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, rep := range res.Fleet {
		if len(rep.Stages) == 0 {
			continue
		}
		st := &rep.Stages[0]
		req := "–"
		if rep.Scenario.Approach == loadgen.Poll || rep.Scenario.Approach == loadgen.PollSince {
			req = fmt.Sprintf("%.2f", st.RequestsPerClientSec)
		}
		p("| %s | %s | %s / %s / %s | %.2f | %s / %s | %s | %s | %s | %s | %s |\n", label(&rep.Scenario), num(st.InViewPerSec),
			ms(st.Latency.P50), ms(st.Latency.P99), ms(st.Latency.P999), st.GeneratorCPU, ms(st.StalenessMs), ms(st.StalenessMaxMs),
			pct(st.Precision), pct(st.Recall), num(st.BytesPerClientSec), bytesFmt(st.BytesPerInView), req)
	}
	p("\nWhat it costs the server (its own process) and the generator:\n\n")
	p("| approach | deliveries/s (all) | ops per frame | frames per client per batch | server CPU (cores) | server CPU-s per million in-view deliveries | server RSS | RSS per connection | generator CPU (cores) | other processes (cores) | every update on time, recall 100%%, p99 < %s |\n", w.MaxP99)
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, rep := range res.Fleet {
		if len(rep.Stages) == 0 {
			continue
		}
		st := &rep.Stages[0]
		p("| %s | %s | %.1f | %.2f | %.2f | %.2f | %s | %s | %.2f | %.2f | %s |\n", label(&rep.Scenario), num(st.DeliveredPerSec), st.OpsPerFrame,
			framesPerClientBatch(st, w), st.ServerCPU, st.CPUPerMillion, mib(st.ServerRSS), kb(st.RSSPerConn), st.GeneratorCPU, st.OtherCPU, verdict(st))
	}
	p("\n*Frames per client per batch*: the frames carrying marker ops (for polling, the answers carrying markers) a client got per feed batch: " +
		"1 when every client gets its share of every batch in one frame; a poll answer covers the batches since the one before.\n")
	windowsTable(b, res)
	p("\n![Bytes received per client per second, per approach](%s)\n\n", path.Join(dir, PlotBytes))
	// Ratios against pushmap, computed here so that no figure is typed.
	var pm *loadgen.StageResult
	var pmRep *loadgen.Report
	for _, rep := range res.Fleet {
		if plain(&rep.Scenario) && len(rep.Stages) > 0 {
			pm, pmRep = &rep.Stages[0], rep
		}
	}
	if pm == nil || pm.BytesPerClientSec == 0 {
		return
	}
	p("Against pushmap, per client")
	if pmRep.InTurns {
		p(" (every approach's windows ran in turns with pushmap's, round by round, so that no comparison is the machine's drift between an early and a late run)")
	}
	p(":\n\n")
	for _, rep := range res.Fleet {
		if plain(&rep.Scenario) || len(rep.Stages) == 0 {
			continue
		}
		st := &rep.Stages[0]
		if rep.Scenario.Nodes > 0 {
			clusterBullet(b, &rep.Scenario, st, pm)
			b.WriteString(perRound(rep, pmRep))
			continue
		}
		if rep.Scenario.Approach == loadgen.Floor {
			floorBullet(b, res, rep, st, pm)
			b.WriteString(perRound(rep, pmRep))
			continue
		}
		if rep.Scenario.DataDir {
			// Issue 12's bar: durable costs at most 10 ms of p99.
			p("- %s: p99 latency %s ms, %+.1f ms against in-memory pushmap's %s ms (the bar: at most +%g ms); "+
				"%.2f× the server CPU; recall %s.\n", label(&rep.Scenario), ms(st.Latency.P99),
				st.Latency.P99-pm.Latency.P99, ms(pm.Latency.P99), DurableMaxP99Above, ratio(st.ServerCPU, pm.ServerCPU), pct(st.Recall))
			b.WriteString(perRound(rep, pmRep))
			continue
		}
		p("- %s: %.1f× the bytes per client, %.1f× the bytes per in-view update, %.2f× the server CPU; %.2f frames per client per batch "+
			"(pushmap %.2f) of %.1f ops each (pushmap %.1f); p99 latency %s ms (pushmap %s), mean staleness %s ms (pushmap %s)",
			label(&rep.Scenario), st.BytesPerClientSec/pm.BytesPerClientSec,
			ratio(st.BytesPerInView, pm.BytesPerInView), ratio(st.ServerCPU, pm.ServerCPU),
			framesPerClientBatch(st, w), framesPerClientBatch(pm, w), st.OpsPerFrame, pm.OpsPerFrame,
			ms(st.Latency.P99), ms(pm.Latency.P99), ms(st.StalenessMs), ms(pm.StalenessMs))
		if !st.Pass {
			p("; below the bar: %s", st.Why)
		}
		p(".\n")
		if rep.Scenario.Approach == loadgen.Pushmap {
			b.WriteString(perRound(rep, pmRep))
		}
	}
	p("\n")
}

// windowsOf returns every window of rep: its Windows, or its one stage.
func windowsOf(rep *loadgen.Report) []loadgen.StageResult {
	if len(rep.Windows) > 0 {
		return rep.Windows
	}
	return rep.Stages
}

// perRound returns a sub-bullet comparing rep with in-memory pushmap's pm
// round by round, when both ran in turns over several rounds: in a round
// the two windows ran minutes apart at most, so the differences are the
// approaches', not the machine's drift over the run. "" otherwise.
func perRound(rep, pm *loadgen.Report) string {
	a, b := windowsOf(rep), windowsOf(pm)
	n := min(len(a), len(b))
	if !rep.InTurns || !pm.InTurns || n < 2 {
		return ""
	}
	var p99, cpu []string
	for i := range n {
		p99 = append(p99, fmt.Sprintf("%+.1f", a[i].Latency.P99-b[i].Latency.P99))
		cpu = append(cpu, fmt.Sprintf("%.2f×", ratio(a[i].ServerCPU, b[i].ServerCPU)))
	}
	return fmt.Sprintf("  - Round by round (windows in turns), against in-memory pushmap's window of the same round: p99 %s ms; server CPU %s.\n",
		strings.Join(p99, " · "), strings.Join(cpu, " · "))
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.Inf(1)
	}
	return a / b
}

func sweepTable(b *strings.Builder, res *Results, dir string) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("#### Latency as clients grow (M = %s)\n\n", num(float64(sweepMarkers(res))))
	p("Each approach in one server process; clients are added stage by stage; a run stops after a stage whose p99 reaches 1 s or that misses an update.\n\n")
	p("| approach | clients | in-view deliveries/s | p50 / p99 / p99.9 (ms) | server CPU (cores) | CPU-s per million | generator / others (cores) | bytes per client per s | recall | passed |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, rep := range res.Sweep {
		for i := range rep.Stages {
			st := &rep.Stages[i]
			p("| %s | %s | %s | %s / %s / %s | %.2f | %.2f | %.2f / %.2f | %s | %s | %s |\n", label(&rep.Scenario), num(float64(st.Clients)),
				num(st.InViewPerSec), ms(st.Latency.P50), ms(st.Latency.P99), ms(st.Latency.P999), st.ServerCPU, st.CPUPerMillion,
				st.GeneratorCPU, st.OtherCPU, num(st.BytesPerClientSec), pct(st.Recall), verdict(st))
		}
	}
	p("\n![Latency as clients grow](%s)\n\n", path.Join(dir, PlotLatency))
}

// ladderTitle names the approaches of the ladder for a heading:
// "pushmap", or "pushmap and the floor (not shippable)".
func ladderTitle(res *Results) string {
	var names []string
	for _, rep := range res.Ladder {
		name := label(&rep.Scenario)
		if rep.Scenario.Approach == loadgen.Floor {
			name = "the " + name
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// ladderFloors reports whether the floor climbed the ladder.
func ladderFloors(res *Results) bool {
	return slices.ContainsFunc(res.Ladder, func(r *loadgen.Report) bool { return r.Scenario.Approach == loadgen.Floor })
}

// frameUS returns the server's cost of a frame in st, in µs: µs per
// in-view delivery times deliveries per frame, the figure issue 13 bounds
// (≤ 8 µs at 10,000 clients).
func frameUS(st *loadgen.StageResult) float64 { return st.CPUPerMillion * st.OpsPerFrame }

// ladderBest returns the highest stage of rep that passed before the
// first that failed (nil if none) and that first failure (nil if none):
// a stage run past it (Scenario.RunThrough) does not raise the rate
// sustained.
func ladderBest(rep *loadgen.Report) (best, next *loadgen.StageResult) {
	for i := range rep.Stages {
		if !rep.Stages[i].Pass {
			return best, &rep.Stages[i]
		}
		best = &rep.Stages[i]
	}
	return best, nil
}

func ladderTables(b *strings.Builder, res *Results, dir string) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	verb := "sustains"
	if strings.Contains(ladderTitle(res), " and ") {
		verb = "sustain"
	}
	p("#### Throughput: the highest update rate %s %s\n\n", ladderTitle(res), verb)
	if ladderFloors(res) {
		p("For each client count, one server process per approach, the floor's after pushmap's, climbing the same stages: ")
	} else {
		p("One server process per client count; ")
	}
	p("markers are added stage by stage (each moving once a second) until a stage misses an update, "+
		"has p99 at or above %s, publishes a tick late or resets a client", res.Workload.MaxP99)
	var through []string
	for _, rep := range res.Ladder {
		if t := rep.Scenario.RunThrough; t > 0 && len(rep.Scenario.Stages) > 0 {
			s := fmt.Sprintf("%s updates/s at %s clients", num(float64(t)), num(float64(rep.Scenario.Stages[0].Clients)))
			if !slices.Contains(through, s) {
				through = append(through, s)
			}
		}
	}
	if len(through) > 0 {
		p("; but a run goes on past a failed stage up to %s, issue 13's goal, so that the goal's stage is measured "+
			"(the highest passing stage is still the one below the first failure)", strings.Join(through, ", "))
	}
	p(".\n\n")
	p("| approach | clients | highest passing: updates/s | in-view deliveries/s | p99 (ms) | server CPU (cores) | CPU-s per million | server µs per frame | next stage |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, rep := range res.Ladder {
		best, next := ladderBest(rep)
		clients := ""
		if len(rep.Stages) > 0 {
			clients = num(float64(rep.Stages[0].Clients))
			if rep.Asked > rep.Stages[0].Clients {
				clients += fmt.Sprintf(" (of %s asked)", num(float64(rep.Asked)))
			}
		}
		nextS := "–"
		if next != nil {
			nextS = fmt.Sprintf("%s updates/s: %s", num(next.UpdatesPerSec), next.Why)
		}
		if best == nil {
			p("| %s | %s | none passed | | | | | | %s |\n", label(&rep.Scenario), clients, nextS)
			continue
		}
		p("| %s | %s | %s | %s | %s | %.2f | %.2f | %.1f | %s |\n", label(&rep.Scenario), clients, num(best.UpdatesPerSec), num(best.InViewPerSec),
			ms(best.Latency.P99), best.ServerCPU, best.CPUPerMillion, frameUS(best), nextS)
	}
	p("\nEvery stage (the cost of a delivery as clients C and markers M grow):\n\n")
	p("| approach | C | M (updates/s) | in-view deliveries/s | per frame | p50 / p99 / p99.9 (ms) | server CPU (cores) | server CPU-s per million (= µs per delivery) | server µs per frame | generator / others (cores) | RSS per connection | recall | passed |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, rep := range res.Ladder {
		for i := range rep.Stages {
			st := &rep.Stages[i]
			p("| %s | %s | %s | %s | %.1f | %s / %s / %s | %.2f | %.2f | %.1f | %.2f / %.2f | %s | %s | %s |\n", label(&rep.Scenario),
				num(float64(st.Clients)), num(float64(st.Markers)), num(st.InViewPerSec), st.OpsPerFrame, ms(st.Latency.P50), ms(st.Latency.P99),
				ms(st.Latency.P999), st.ServerCPU, st.CPUPerMillion, frameUS(st), st.GeneratorCPU, st.OtherCPU, kb(st.RSSPerConn), pct(st.Recall), verdict(st))
		}
	}
	p("\n![%s: p99 latency as deliveries grow](%s)\n\n", ladderTitle(res), path.Join(dir, PlotLadder))
}

func idleTable(b *strings.Builder, r *loadgen.IdleResult) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("#### Idle connections\n\n")
	p("Clients greeted, each holding one view of an empty map, then silent.\n\n")
	p("| connections | server processes | connect time | RSS per connection | after a forced GC | Go heap per connection | stacks per connection | goroutines per connection |\n")
	p("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	p("| %s | %d | %.1f s | %s | %s | %s | %s | %.2f |\n\n", num(float64(r.Conns)), r.Servers, r.DialSec, kb(r.PerConn), kb(r.PerConnGC),
		kb(r.HeapPerConn), kb(r.StackPerConn), r.Goroutines)
}

// goals lists the goals with what was measured.
func goals(b *strings.Builder, res *Results) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("#### Goals\n\n")
	if res.Quick {
		p("A quick run uses small sizes: these rows are not the goals' workloads.\n\n")
	}
	p("| goal | measured | met |\n| --- | --- | --- |\n")
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	var pm *loadgen.StageResult
	for _, rep := range res.Fleet {
		if plain(&rep.Scenario) && len(rep.Stages) > 0 {
			pm = &rep.Stages[0]
		}
	}
	for _, rep := range res.Fleet {
		if rep.Scenario.DataDir && pm != nil && len(rep.Stages) > 0 {
			st := &rep.Stages[0]
			p("| %s at the fleet workload: p99 at most %g ms above in-memory pushmap's, same run | p99 %s ms against %s ms (%+.1f ms), recall %s | %s |\n",
				label(&rep.Scenario), DurableMaxP99Above, ms(st.Latency.P99), ms(pm.Latency.P99), st.Latency.P99-pm.Latency.P99, pct(st.Recall),
				yes(st.Recall >= 1 && st.Missed == 0 && st.Latency.P99-pm.Latency.P99 <= DurableMaxP99Above))
			continue
		}
		if rep.Scenario.Nodes > 0 && len(rep.Stages) > 0 {
			st := &rep.Stages[0]
			p("| %s at the fleet workload: recall 100%%, p99 ≤ %g ms; Redis CPU and the hop through Redis reported | recall %s, p99 %s ms, "+
				"Redis %.3f cores, feed answered in %s ms at p50 (bullet above) | %s |\n", label(&rep.Scenario), ClusterMaxP99, pct(st.Recall),
				ms(st.Latency.P99), st.RedisCPU, ms(st.FeedLatency.P50), yes(st.Recall >= 1 && st.Missed == 0 && st.Latency.P99 <= ClusterMaxP99))
			continue
		}
		if !plain(&rep.Scenario) || len(rep.Stages) == 0 {
			continue // the default fleet's goals are in-memory pushmap's
		}
		st := &rep.Stages[0]
		every := ""
		if n := len(rep.Windows); n > 1 {
			every = fmt.Sprintf(" (median window; every one of %d windows must pass)", n)
		}
		p("| default fleet sustained: every update on time, recall 100%%, p99 ≤ 50 ms | latest tick %s ms late, recall %s, p99 %s ms%s | %s |\n",
			ms(st.PublishLagMaxMs), pct(st.Recall), ms(st.Latency.P99), every, yes(rep.AllPass() && st.Latency.P99 <= 50))
		p("| at most 2 server CPU-s per million in-view deliveries | %.2f | %s |\n", st.CPUPerMillion, yes(st.CPUPerMillion <= 2))
		p("| precision 100%% | %s | %s |\n", pct(st.Precision), yes(st.Precision >= 1))
		if fl := floorOf(res); fl != nil && res.Workload.Markers == GoalMarkers && res.Workload.Clients == GoalClients {
			met := yes(st.Latency.P99 <= GoalP99)
			if st.Latency.P99 > GoalP99 && fl.Latency.P99 > GoalP99 {
				met += ": the floor's p99 is above it too, on this machine"
			}
			p("| issue 13: p99 ≤ %g ms at M = %s × C = %s | pushmap %s ms; the floor (not shippable) %s ms | %s |\n",
				GoalP99, num(GoalMarkers), num(GoalClients), ms(st.Latency.P99), ms(fl.Latency.P99), met)
		}
	}
	heavyGoal(b, res, yes)
	best, pushmapLadder := 0.0, false
	for _, rep := range res.Ladder {
		if !plain(&rep.Scenario) {
			continue // the goal is pushmap's, not the floor's
		}
		pushmapLadder = true
		if st, _ := ladderBest(rep); st != nil {
			best = math.Max(best, st.InViewPerSec)
		}
	}
	if pushmapLadder {
		p("| ≥ 1,000,000 marker deliveries/s with recall 100%% and p99 < 50 ms | %s | %s |\n", num(best), yes(best >= 1e6))
	}
	ladderGoals(b, res, yes)
	if r := res.Idle; r != nil {
		p("| 100,000 idle connections on one node | %s over %d process(es) | %s |\n", num(float64(r.Conns)), r.Servers, yes(r.Conns >= 100000 && r.Servers == 1))
		p("| issue 13: RSS per idle connection ≤ %g KB | %s | %s |\n", GoalIdleKB, kb(r.PerConn), yes(r.PerConn <= GoalIdleKB*1024))
	}
	p("\n")
}

// ladderAt returns the ladder run of plain pushmap and the floor's (nil
// when it did not run) at LadderGoalClients clients, run as asked (not
// capped by the open-file limit).
func ladderAt(res *Results) (pm, fl *loadgen.Report) {
	for _, rep := range res.Ladder {
		switch {
		case len(rep.Scenario.Stages) == 0 || rep.Scenario.Stages[0].Clients != LadderGoalClients:
		case plain(&rep.Scenario):
			pm = rep
		case rep.Scenario.Approach == loadgen.Floor:
			fl = rep
		}
	}
	return pm, fl
}

// ladderStage returns the stage of rep at markers, or nil with why it
// has none: the run stopped before it, at the stage that failed.
func ladderStage(rep *loadgen.Report, markers int) (*loadgen.StageResult, string) {
	for i := range rep.Stages {
		if rep.Stages[i].Markers == markers {
			return &rep.Stages[i], ""
		}
	}
	if n := len(rep.Stages); n > 0 && !rep.Stages[n-1].Pass {
		last := &rep.Stages[n-1]
		return nil, fmt.Sprintf("not reached: the run stopped after the stage of %s updates/s (%s)", num(float64(last.Markers)), last.Why)
	}
	return nil, fmt.Sprintf("%s updates/s not run", num(float64(markers)))
}

// ladderGoals writes the goals rows of issue 13 at C = LadderGoalClients,
// pushmap's figure beside the floor's of the same run, when the ladder
// ran pushmap at that client count: M = LadderGoalMarkers sustained (when
// asked for), and the server's cost of a frame at pushmap's highest
// passing stage (its first stage if none passed) against the floor's at
// the same stage. When pushmap misses a goal and the floor misses it too,
// the row says so: the goal is then below what any server doing this job
// reaches on this machine, the generator sharing its cores.
func ladderGoals(b *strings.Builder, res *Results, yes func(bool) string) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	pm, fl := ladderAt(res)
	if pm == nil || len(pm.Stages) == 0 {
		return
	}
	sustained := func(st *loadgen.StageResult) bool { return st != nil && st.Pass && st.Latency.P99 <= LadderGoalP99 }
	describe := func(st *loadgen.StageResult, why string) string {
		switch {
		case st == nil:
			return why
		case st.Pass:
			return fmt.Sprintf("p99 %s ms, passed", ms(st.Latency.P99))
		}
		return "failed: " + st.Why
	}
	if slices.ContainsFunc(pm.Scenario.Stages, func(s loadgen.Stage) bool { return s.Markers == LadderGoalMarkers }) {
		st, why := ladderStage(pm, LadderGoalMarkers)
		measured := "pushmap " + describe(st, why)
		met := yes(sustained(st))
		if fl != nil {
			fst, fwhy := ladderStage(fl, LadderGoalMarkers)
			measured += "; the floor (not shippable) " + describe(fst, fwhy)
			if !sustained(st) && !sustained(fst) {
				if fst != nil && fst.Latency.P99 > LadderGoalP99 {
					met += ": the floor's p99 is above it too, on this machine"
				} else {
					met += ": the floor does not sustain it either, on this machine"
				}
			}
		}
		p("| issue 13: C = %s × M = %s sustained, p99 ≤ %g ms | %s | %s |\n", num(LadderGoalClients), num(LadderGoalMarkers), LadderGoalP99, measured, met)
	}
	st, _ := ladderBest(pm)
	which := "its highest passing stage"
	if st == nil {
		st, which = &pm.Stages[0], "its first stage; none passed"
	}
	measured := fmt.Sprintf("pushmap %.1f µs at M = %s (%s)", frameUS(st), num(float64(st.Markers)), which)
	met := yes(frameUS(st) <= FrameGoalUS)
	if fl != nil {
		fst, fwhy := ladderStage(fl, st.Markers)
		if fst == nil {
			measured += "; the floor (not shippable): " + fwhy
		} else {
			measured += fmt.Sprintf("; the floor (not shippable) %.1f µs at the same stage", frameUS(fst))
			if frameUS(st) > FrameGoalUS && frameUS(fst) > FrameGoalUS {
				met += ": the floor's is above it too, on this machine"
			}
		}
	}
	p("| issue 13: server cost ≤ %g µs per frame at C = %s | %s | %s |\n", FrameGoalUS, num(LadderGoalClients), measured, met)
}

// windowsTable shows every window of the approaches measured more than
// once, so that the median in the tables above hides no bad window.
func windowsTable(b *strings.Builder, res *Results) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	header := false
	for _, rep := range res.Fleet {
		if len(rep.Windows) < 2 {
			continue
		}
		if !header {
			if rep.InTurns {
				p("\nEach approach was measured in %d windows of %s, in turns: round 1 ran one window of every approach in the order of the "+
					"tables, round 2 the next, and so on, each window in processes of its own, so that the machine's drift over the run "+
					"falls on every approach alike; the rows above are the window of median server CPU per million. Every window, "+
					"in round order:\n\n", len(rep.Windows), res.Workload.Window)
			} else {
				p("\nEach approach was measured in %d windows of %s, one after the other in the same processes; the rows above are the "+
					"window of median server CPU per million. Every window:\n\n", len(rep.Windows), res.Workload.Window)
			}
			p("| approach | server CPU-s per million | p99 (ms) | passed |\n| --- | ---: | ---: | --- |\n")
			header = true
		}
		var cpu, p99, pass []string
		for i := range rep.Windows {
			w := &rep.Windows[i]
			cpu = append(cpu, fmt.Sprintf("%.2f", w.CPUPerMillion))
			p99 = append(p99, ms(w.Latency.P99))
			pass = append(pass, yesNo(w.Pass))
		}
		p("| %s | %s | %s | %s |\n", label(&rep.Scenario), strings.Join(cpu, " · "), strings.Join(p99, " · "), strings.Join(pass, " · "))
	}
	disturbedNote(b, res.Fleet)
}

// disturbedNote lists the windows of reps measured again because other
// processes took loadgen.DisturbedCores or more during them, left out of
// the tables: what they measured was the machine's other work too.
func disturbedNote(b *strings.Builder, reps []*loadgen.Report) {
	var items []string
	for _, rep := range reps {
		for _, w := range rep.Disturbed {
			items = append(items, fmt.Sprintf("%s (others %.2f cores; p99 %s ms)", label(&rep.Scenario), w.OtherCPU, ms(w.Latency.P99)))
		}
	}
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(b, "\nMeasured again, at once, and left out of the tables: %d window(s) during which other processes, or the host (steal), "+
		"took %.2f cores or more: %s.\n", len(items), loadgen.DisturbedCores, strings.Join(items, "; "))
}

// Issue 13's goal at the fleet workload of GoalMarkers × GoalClients:
// p99 at most GoalP99 ms.
const (
	GoalMarkers = 10000
	GoalClients = 2000
	GoalP99     = 25.0
)

// GoalIdleKB is issue 13's bound on an idle connection's memory: no
// regression from the 17.1 KB measured once ServeHTTP returned at the
// upgrade (docs/design.md).
const GoalIdleKB = 17.0

// Issue 13's goals at LadderGoalClients clients, read in the ladder: the
// stage of LadderGoalMarkers updates/s sustained at p99 at most
// LadderGoalP99 ms, and the server's cost of a frame at most
// FrameGoalUS µs.
const (
	LadderGoalClients = 10000
	LadderGoalMarkers = 2000
	LadderGoalP99     = 50.0
	FrameGoalUS       = 8.0
)

// Issue 13's goal at the heavier load of HeavyMarkers × GoalClients: p99
// at most HeavyP99 ms, in every window.
const (
	HeavyMarkers = 30000
	HeavyP99     = 50.0
)

// heavyTable shows the part "heavy": the fleet at a higher update rate,
// pushmap and the floor in turns, every window's p99 beside the median
// window's figures.
func heavyTable(b *strings.Builder, res *Results) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	i := slices.IndexFunc(res.Heavy, func(r *loadgen.Report) bool { return len(r.Stages) > 0 })
	if i < 0 {
		return
	}
	first := &res.Heavy[i].Stages[0]
	p("#### A heavier load, pushmap and the floor in turns (M = %s, C = %s)\n\n", num(float64(first.Markers)), num(float64(first.Clients)))
	p("The fleet workload at %s updates/s, the rest alike; windows in turns as above, each in processes of its own.\n\n", num(float64(first.Markers)))
	p("| approach | latency p50 / p99 / p99.9 (ms) | p99 of every window (ms) | frames per client per batch | ops per frame | server CPU (cores) | server µs per frame | generator CPU (cores) | precision | recall | every update on time, recall 100%%, p99 < %s, every window |\n", res.Workload.MaxP99)
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	var pmRep *loadgen.Report
	for _, rep := range res.Heavy {
		if len(rep.Stages) == 0 {
			continue
		}
		if plain(&rep.Scenario) {
			pmRep = rep
		}
		st := &rep.Stages[0]
		p("| %s | %s / %s / %s | %s | %.2f | %.1f | %.2f | %.1f | %.2f | %s | %s | %s |\n", label(&rep.Scenario),
			ms(st.Latency.P50), ms(st.Latency.P99), ms(st.Latency.P999), windowP99s(rep), framesPerClientBatch(st, res.Workload), st.OpsPerFrame,
			st.ServerCPU, perFrame(st.ServerCPU, st), st.GeneratorCPU, pct(st.Precision), pct(st.Recall), yesNo(rep.AllPass()))
	}
	p("\n")
	if pmRep == nil {
		return
	}
	for _, rep := range res.Heavy {
		if rep != pmRep && len(rep.Stages) > 0 {
			p("- %s against pushmap: p99 %+.1f ms (median windows).\n", label(&rep.Scenario), rep.Stages[0].Latency.P99-pmRep.Stages[0].Latency.P99)
			b.WriteString(perRound(rep, pmRep))
		}
	}
	disturbedNote(b, res.Heavy)
	p("\n")
}

// heavyGoal writes the goals row of issue 13's heavier load, when the
// part "heavy" ran at it.
func heavyGoal(b *strings.Builder, res *Results, yes func(bool) string) {
	var pm, fl *loadgen.Report
	for _, rep := range res.Heavy {
		switch {
		case len(rep.Stages) == 0 || rep.Stages[0].Markers != HeavyMarkers || rep.Stages[0].Clients != GoalClients:
		case plain(&rep.Scenario):
			pm = rep
		case rep.Scenario.Approach == loadgen.Floor:
			fl = rep
		}
	}
	if pm == nil {
		return
	}
	floor := ""
	if fl != nil {
		floor = fmt.Sprintf("; the floor (not shippable) %s ms", windowP99s(fl))
	}
	fmt.Fprintf(b, "| issue 13: p99 ≤ %g ms at M = %s × C = %s, every window | pushmap %s ms%s | %s |\n", HeavyP99, num(HeavyMarkers), num(GoalClients),
		windowP99s(pm), floor, yes(pm.AllPass() && slices.IndexFunc(windowsOf(pm), func(w loadgen.StageResult) bool { return w.Latency.P99 > HeavyP99 }) < 0))
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// windowP99s lists the p99 of every window of rep, in round order.
func windowP99s(rep *loadgen.Report) string {
	var out []string
	for _, w := range windowsOf(rep) {
		out = append(out, ms(w.Latency.P99))
	}
	return strings.Join(out, " · ")
}

// floorOf returns the floor's fleet result, or nil.
func floorOf(res *Results) *loadgen.StageResult {
	for _, rep := range res.Fleet {
		if rep.Scenario.Approach == loadgen.Floor && len(rep.Stages) > 0 {
			return &rep.Stages[0]
		}
	}
	return nil
}

// perFrame returns cores (CPU-s per s) per frame of st, in µs.
func perFrame(cores float64, st *loadgen.StageResult) float64 {
	if st.FramesPerSec == 0 {
		return 0
	}
	return cores / st.FramesPerSec * 1e6
}

// floorBullet compares the floor (baseline.Floor, not shippable) with
// pushmap (pm) in the same run: latency, and the server's and the
// generator's CPU per frame, which on shared cores bound how soon a
// batch's last frame can be read; and, at issue 13's workload, says
// whether its p99 goal is below what even the floor reaches here.
func floorBullet(b *strings.Builder, res *Results, rep *loadgen.Report, st, pm *loadgen.StageResult) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w := res.Workload
	perBatch := func(s *loadgen.StageResult) float64 { // frames per batch × (server + generator) µs per frame, in ms
		if s.BatchesPerSec == 0 {
			return 0
		}
		return s.FramesPerSec / s.BatchesPerSec * (perFrame(s.ServerCPU, s) + perFrame(s.GeneratorCPU, s)) / 1e3
	}
	p("- %s, the leanest server for the same job (views in a plain slice, each tested against the batch's updates near it, one write per client per batch "+
		"from %d goroutines; no outbox, watchdog, limits, clusters or auth): p99 latency %s ms (pushmap %s), p50 %s ms (pushmap %s); "+
		"server CPU %.1f µs per frame (pushmap %.1f), generator CPU %.1f µs per frame (pushmap %.1f); a batch's %s frames cost "+
		"%.1f ms of CPU, server and generator (pushmap %.1f ms), at best %.1f ms on %d cores (pushmap %.1f ms); recall %s, precision %s",
		label(&rep.Scenario), res.Machine.CPUs, ms(st.Latency.P99), ms(pm.Latency.P99), ms(st.Latency.P50), ms(pm.Latency.P50),
		perFrame(st.ServerCPU, st), perFrame(pm.ServerCPU, pm), perFrame(st.GeneratorCPU, st), perFrame(pm.GeneratorCPU, pm),
		num(st.FramesPerSec/math.Max(st.BatchesPerSec, 1)), perBatch(st), perBatch(pm), perBatch(st)/float64(max(res.Machine.CPUs, 1)),
		res.Machine.CPUs, perBatch(pm)/float64(max(res.Machine.CPUs, 1)), pct(st.Recall), pct(st.Precision))
	if !st.Pass {
		p("; below the bar: %s", st.Why)
	}
	p(".\n")
	if w.Markers != GoalMarkers || w.Clients != GoalClients {
		return
	}
	if st.Latency.P99 > GoalP99 {
		p("  - Issue 13's goal, p99 ≤ %g ms at M = %s × C = %s, is below even the floor's p99 (%s ms) on this machine, where the generator "+
			"shares the %d cores with the server: no server doing this job reaches it here (pushmap's p99 minus the floor's: %+.1f ms).\n",
			GoalP99, num(GoalMarkers), num(GoalClients), ms(st.Latency.P99), res.Machine.CPUs, pm.Latency.P99-st.Latency.P99)
		return
	}
	p("  - Issue 13's goal, p99 ≤ %g ms at M = %s × C = %s, is within the floor's reach on this machine (floor p99 %s ms): "+
		"pushmap's p99 minus the floor's: %+.1f ms.\n", GoalP99, num(GoalMarkers), num(GoalClients), ms(st.Latency.P99), pm.Latency.P99-st.Latency.P99)
}

// DurableMaxP99Above is issue 12's bar for pushmap --data-dir (fsync
// always) at the fleet workload: p99 at most 10 ms above in-memory
// pushmap's in the same run.
const DurableMaxP99Above = 10.0

// ClusterMaxP99 is issue 12's bar for three nodes on one Redis at the
// fleet workload: p99 at most 100 ms.
const ClusterMaxP99 = 100.0

// clusterBullet describes a cluster's run against in-memory pushmap's
// (pm) in the same run: its p99 against the bar, Redis's CPU, and the
// latency the hop through Redis adds, measured two ways.
func clusterBullet(b *strings.Builder, sc *loadgen.Scenario, st, pm *loadgen.StageResult) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("- %s (server CPU and RSS above: the nodes' sum): p99 latency %s ms (the bar: at most %g ms; in-memory pushmap %s ms), recall %s, precision %s; "+
		"Redis used %.3f cores (%s µs per update) and %s; the nodes %s cores.",
		label(sc), ms(st.Latency.P99), ClusterMaxP99, ms(pm.Latency.P99), pct(st.Recall), pct(st.Precision),
		st.RedisCPU, usPerUpdate(st.RedisCPU, st.UpdatesPerSec), mib(st.RedisRSS), cores(st.NodeCPU))
	p(" The hop through Redis: the feed's request (answered once Redis has the entry and the fed node's own tail applied it) "+
		"takes %s / %s ms at p50 / p99 against %s / %s ms in memory (%+.1f ms at p50)",
		ms(st.FeedLatency.P50), ms(st.FeedLatency.P99), ms(pm.FeedLatency.P50), ms(pm.FeedLatency.P99), st.FeedLatency.P50-pm.FeedLatency.P50)
	if f, o := st.LatencyFeedNode, st.LatencyOtherNodes; f != nil && o != nil {
		p("; clients on the fed node get an update in %s / %s ms (p50 / p99), those on the other nodes in %s / %s ms (%+.1f ms at p50): "+
			"every node, the fed one too, applies what its own tail reads from Redis",
			ms(f.P50), ms(f.P99), ms(o.P50), ms(o.P99), o.P50-f.P50)
	}
	p("; end to end, %+.1f ms at p50 and %+.1f ms at p99 against in-memory pushmap.\n", st.Latency.P50-pm.Latency.P50, st.Latency.P99-pm.Latency.P99)
}

// usPerUpdate returns CPU cores per update/s as microseconds per update.
func usPerUpdate(cpu, updatesPerSec float64) string {
	if updatesPerSec == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", cpu/updatesPerSec*1e6)
}

// cores lists per-process CPU figures.
func cores(cs []float64) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = fmt.Sprintf("%.2f", c)
	}
	return strings.Join(s, " + ")
}

func streamTable(b *strings.Builder, res *Results) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	for _, rep := range res.Stream {
		if len(rep.Stages) == 0 {
			continue
		}
		sc := &rep.Scenario
		p("#### The cluster's stream path: the updates/s one Redis takes (%d nodes, %s clients)\n\n", sc.Nodes, num(float64(rep.Stages[0].Clients)))
		p("%d pushmap nodes in `--redis-mode cluster` on one redis-server (appendonly yes, appendfsync always), all on this machine's %d cores "+
			"with the generator; the feed into the first node over HTTP (a request of up to 10,000 updates is one XADD, answered once "+
			"the node's own tail applied it), every node tailing the whole stream (XREAD) and applying it; the clients spread over the nodes. "+
			"Markers are added stage by stage (each moving once a second) until a stage misses an update, has p99 at or above %s, "+
			"publishes a tick late or resets a client.\n\n", sc.Nodes, res.Machine.CPUs, res.Workload.MaxP99)
		p("| updates/s | feed answered p50 / p99 (ms) | clients p50 / p99 (ms) | Redis CPU (cores) | Redis µs per update | Redis RSS | nodes' CPU (cores) | generator / others (cores) | recall | passed |\n")
		p("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
		var best, next *loadgen.StageResult
		for i := range rep.Stages {
			st := &rep.Stages[i]
			if st.Pass {
				best = st
			} else if next == nil {
				next = st
			}
			p("| %s | %s / %s | %s / %s | %.3f | %s | %s | %s | %.2f / %.2f | %s | %s |\n", num(st.UpdatesPerSec),
				ms(st.FeedLatency.P50), ms(st.FeedLatency.P99), ms(st.Latency.P50), ms(st.Latency.P99), st.RedisCPU,
				usPerUpdate(st.RedisCPU, st.UpdatesPerSec), mib(st.RedisRSS), cores(st.NodeCPU), st.GeneratorCPU, st.OtherCPU, pct(st.Recall), verdict(st))
		}
		p("\n")
		if best == nil {
			p("No stage passed.\n\n")
			continue
		}
		nodes := 0.0
		for _, c := range best.NodeCPU {
			nodes += c
		}
		p("Highest passing: %s updates/s, with Redis at %.3f cores (%s µs per update: one Redis core at that cost would take about %s updates/s) "+
			"and the nodes at %.2f cores together", num(best.UpdatesPerSec), best.RedisCPU, usPerUpdate(best.RedisCPU, best.UpdatesPerSec),
			num(div(best.UpdatesPerSec, best.RedisCPU)), nodes)
		if next != nil {
			nn := 0.0
			for _, c := range next.NodeCPU {
				nn += c
			}
			p("; the next stage, %s updates/s, failed (%s) with Redis at %.3f cores, the nodes at %.2f, the generator at %.2f and others at %.2f "+
				"of the machine's %d", num(next.UpdatesPerSec), next.Why, next.RedisCPU, nn, next.GeneratorCPU, next.OtherCPU, res.Machine.CPUs)
		} else {
			p("; every stage asked for passed")
		}
		p(".\n\n")
	}
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
