package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// svgDoc is what the tests read back from an SVG: its text, shapes and
// the points of its polylines.
type svgDoc struct {
	width, height string
	texts         []string
	rects         [][4]float64 // x, y, width, height
	polylines     [][][2]float64
	circles       int
}

// parseSVG parses b as XML, failing the test when it is not well formed
// or its root is not an svg element.
func parseSVG(t *testing.T, b []byte) svgDoc {
	t.Helper()
	var d svgDoc
	dec := xml.NewDecoder(bytes.NewReader(b))
	var inText bool
	var text strings.Builder
	for depth := 0; ; {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, b)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			attr := func(name string) string {
				for _, a := range e.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			num := func(name string) float64 {
				f, err := strconv.ParseFloat(attr(name), 64)
				if err != nil {
					t.Fatalf("<%s %s=%q>: %v", e.Name.Local, name, attr(name), err)
				}
				return f
			}
			if depth == 0 {
				if e.Name.Local != "svg" || e.Name.Space != "http://www.w3.org/2000/svg" {
					t.Fatalf("root element %v, want svg in the SVG namespace", e.Name)
				}
				d.width, d.height = attr("width"), attr("height")
			}
			depth++
			switch e.Name.Local {
			case "text":
				inText = true
				text.Reset()
			case "rect":
				if attr("x") != "" {
					d.rects = append(d.rects, [4]float64{num("x"), num("y"), num("width"), num("height")})
				}
			case "circle":
				d.circles++
			case "polyline":
				var pts [][2]float64
				for _, p := range strings.Fields(attr("points")) {
					x, y, _ := strings.Cut(p, ",")
					fx, err1 := strconv.ParseFloat(x, 64)
					fy, err2 := strconv.ParseFloat(y, 64)
					if err1 != nil || err2 != nil {
						t.Fatalf("polyline point %q", p)
					}
					pts = append(pts, [2]float64{fx, fy})
				}
				d.polylines = append(d.polylines, pts)
			}
		case xml.CharData:
			if inText {
				text.Write(e)
			}
		case xml.EndElement:
			depth--
			if e.Name.Local == "text" {
				inText = false
				d.texts = append(d.texts, text.String())
			}
		}
	}
	return d
}

// TestLineChartSVG: a line chart is well-formed SVG whose title, axis
// labels, tick labels and legend are text elements, and whose lines go up
// and right as the data do, inside the chart.
func TestLineChartSVG(t *testing.T) {
	l := &lineChart{title: "Latency <as> clients & grow", xLabel: "clients", yLabel: "p99 latency (ms)", logX: true, logY: true,
		series: []series{
			{name: "pushmap p99", x: []float64{500, 1000, 2000, 4000}, y: []float64{2, 3, 5, 40}},
			{name: "tiles p99", x: []float64{500, 1000, 2000, 4000}, y: []float64{3, 4, 9, 120}, color: 1},
			{name: "pushmap p50", x: []float64{500, 1000, 2000, 4000}, y: []float64{1, 1.2, 1.5, 3}, dashed: true},
		}}
	b, err := l.SVG()
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("CHART_DIR"); dir != "" { // set to look at the chart
		os.WriteFile(filepath.Join(dir, "line.svg"), b, 0o644)
	}
	d := parseSVG(t, b)
	if d.width != "960" || d.height != "540" {
		t.Errorf("size %s × %s, want 960 × 540", d.width, d.height)
	}
	for _, want := range []string{"Latency <as> clients & grow", "clients", "p99 latency (ms)", "pushmap p99", "tiles p99", "pushmap p50",
		"100", "1k", "10k", "1", "10"} {
		if !slices.Contains(d.texts, want) {
			t.Errorf("no text %q among %q", want, d.texts)
		}
	}
	if len(d.polylines) != 3 || d.circles != 12 {
		t.Fatalf("%d polylines and %d points, want 3 and 12", len(d.polylines), d.circles)
	}
	for i, pts := range d.polylines {
		for k, p := range pts {
			if p[0] < 0 || p[0] > chartWidth || p[1] < 0 || p[1] > chartHeight {
				t.Errorf("series %d point %d at %v: outside the chart", i, k, p)
			}
			if k > 0 && (p[0] <= pts[k-1][0] || p[1] >= pts[k-1][1]) {
				t.Errorf("series %d point %d at %v after %v: the data go right and up", i, k, p, pts[k-1])
			}
		}
	}
	// The same x, a higher y: tiles' p99 is drawn above pushmap's.
	if d.polylines[1][3][1] >= d.polylines[0][3][1] {
		t.Errorf("tiles' 120 ms at y=%v, pushmap's 40 ms at y=%v", d.polylines[1][3][1], d.polylines[0][3][1])
	}
	if _, err := (&lineChart{series: []series{{x: []float64{1}}}}).SVG(); err == nil {
		t.Error("a series with an x and no y drew")
	}
}

// TestBarChartSVG: one bar per value, heights ordered as the values on a
// log axis, each with its label and value as text.
func TestBarChartSVG(t *testing.T) {
	c := &barChart{title: "Bytes per client per second", yLabel: "bytes/s", logY: true,
		labels: []string{"pushmap", "tiles", "broadcast", "poll 1s"}, values: []float64{2500, 7000, 360000, 12000}}
	b, err := c.SVG()
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("CHART_DIR"); dir != "" {
		os.WriteFile(filepath.Join(dir, "bars.svg"), b, 0o644)
	}
	d := parseSVG(t, b)
	if len(d.rects) != 4 {
		t.Fatalf("%d bars, want 4", len(d.rects))
	}
	for _, want := range []string{"pushmap", "tiles", "broadcast", "poll 1s", "2.5k", "7k", "360k", "12k", "bytes/s"} {
		if !slices.Contains(d.texts, want) {
			t.Errorf("no text %q among %q", want, d.texts)
		}
	}
	for i, r := range d.rects {
		if r[2] <= 0 || r[3] <= 0 || r[1]+r[3] > chartHeight {
			t.Errorf("bar %d %v: not inside the chart", i, r)
		}
	}
	// On a log axis, a bar's height grows with the log of its value.
	h := func(i int) float64 { return d.rects[i][3] }
	if !(h(0) < h(1) && h(1) < h(3) && h(3) < h(2)) {
		t.Errorf("bar heights %v %v %v %v do not follow the values", h(0), h(1), h(2), h(3))
	}
	step := (h(2) - h(0)) / (math.Log10(360000) - math.Log10(2500))
	if got := (h(1) - h(0)) / (math.Log10(7000) - math.Log10(2500)); math.Abs(got-step) > 0.5 {
		t.Errorf("%v units per decade between pushmap and tiles, %v between pushmap and broadcast", got, step)
	}
	if _, err := (&barChart{labels: []string{"a"}}).SVG(); err == nil {
		t.Error("a label without a value drew")
	}
	if d := parseSVG(t, must(t)((&barChart{title: "empty"}).SVG())); len(d.rects) != 0 {
		t.Errorf("an empty chart has %d bars", len(d.rects))
	}
}

func must(t *testing.T) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

func TestShortNumber(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 0.25: "0.25", 12: "12", 1500: "1.5k", 20000: "20k", 1.25e6: "1.25M", 3e9: "3G"} {
		if got := shortNumber(v); got != want {
			t.Errorf("shortNumber(%v) = %q, want %q", v, got, want)
		}
	}
}
