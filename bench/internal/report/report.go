// Package report turns the results of pushmap-bench into what people
// read: markdown tables and SVG plots, written into docs/benchmarks.md
// between the markers <!-- bench:begin --> and <!-- bench:end -->. Every
// figure comes from a Results value, itself read back from results.json,
// so the page can be re-rendered (`pushmap-bench -plot results.json`)
// without running anything.
package report

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/pushmap/pushmap/bench/internal/loadgen"
	"github.com/pushmap/pushmap/geo"
)

// Results is everything one pushmap-bench measured.
type Results struct {
	Version  string    `json:"version"`
	Command  string    `json:"command"`
	Quick    bool      `json:"quick"`
	Machine  Machine   `json:"machine"`
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Workload Workload  `json:"workload"`
	Notes    []string  `json:"notes,omitempty"`

	Fleet []*loadgen.Report `json:"fleet,omitempty"` // one per approach, one stage each
	// Heavy: the fleet at issue 13's heavier rate (HeavyMarkers), pushmap
	// and the floor in turns, one per approach (the part "heavy").
	Heavy []*loadgen.Report `json:"heavy,omitempty"`
	Sweep []*loadgen.Report `json:"sweep,omitempty"` // one per approach, a stage per client count
	// Ladder: one per client count and approach (pushmap's, then the
	// floor's for each client count: -ladder-approaches), a stage per
	// marker count; results written before the floor climbed it hold
	// pushmap's only.
	Ladder []*loadgen.Report `json:"ladder,omitempty"`
	// Stream: a cluster on one Redis, a stage per marker count (the
	// part "stream").
	Stream []*loadgen.Report   `json:"stream,omitempty"`
	Idle   *loadgen.IdleResult `json:"idle,omitempty"`
}

// Machine describes where the benchmark ran.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPU       string `json:"cpu"`
	MemoryGiB int    `json:"memoryGiB"`
	OS        string `json:"os"`
	Go        string `json:"go"`
	FileLimit uint64 `json:"fileLimit"`
}

// Workload is the fleet workload's parameters.
type Workload struct {
	Markers              int        `json:"markers"`
	Clients              int        `json:"clients"`
	Region               geo.Box    `json:"region"`
	View                 [2]float64 `json:"view"`
	Zoom                 float64    `json:"zoom"`
	SpeedMps             float64    `json:"speedMps"`
	Period               string     `json:"period"`
	Tick                 string     `json:"tick"`
	Pan                  string     `json:"pan"`
	TileZoom             int        `json:"tileZoom"`
	Warmup               string     `json:"warmup"`
	Window               string     `json:"window"`
	MaxP99               string     `json:"maxP99"`
	MaxClientsPerProcess int        `json:"maxClientsPerProcess"`
}

// ThisMachine describes the machine this runs on; fileLimit is the
// open-file limit a process gets.
func ThisMachine(fileLimit uint64) Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version(), FileLimit: fileLimit}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m.MemoryGiB = int((kb + 1<<19) >> 20)
		}
	}
	return m
}

// Markers around the generated part of docs/benchmarks.md.
const (
	BeginMarker = "<!-- bench:begin -->"
	EndMarker   = "<!-- bench:end -->"
)

// WriteDocs replaces what lies between BeginMarker and EndMarker in the
// file at path with md.
func WriteDocs(path, md string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := Splice(b, md)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, out, 0o644)
}

// Splice returns doc with what lies between its markers replaced by md.
func Splice(doc []byte, md string) ([]byte, error) {
	i := bytes.Index(doc, []byte(BeginMarker))
	j := bytes.Index(doc, []byte(EndMarker))
	if i < 0 || j < i {
		return nil, errors.New("no " + BeginMarker + " ... " + EndMarker + " section")
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(BeginMarker)])
	out.WriteString("\n")
	out.WriteString(strings.TrimSpace(md))
	out.WriteString("\n")
	out.Write(doc[j:])
	return out.Bytes(), nil
}
