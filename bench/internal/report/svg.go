package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
)

// The plots are SVG written here: line and bar charts, linear or
// logarithmic, whose text is SVG <text> that the browser sets in its own
// sans-serif font, so no font ships with the benchmark (docs/design.md says
// why not a plotting library).

// Chart size in SVG user units (pixels at 100%).
const (
	chartWidth  = 960
	chartHeight = 540
)

// palette holds distinct colours for series, in order.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"}

const (
	inkColor  = "#222"
	gridColor = "#e4e4e4"
	tickColor = "#666"
)

// A series is one line of a lineChart: points (x[i], y[i]).
type series struct {
	name   string
	x, y   []float64
	dashed bool
	bound  bool // a reference line (a limit), drawn without dots
	color  int  // index in palette
}

// A lineChart is a line chart with a legend on its right.
type lineChart struct {
	title, xLabel, yLabel string
	logX, logY            bool
	series                []series
}

// A barChart is a bar chart: one bar per label, its value above it.
type barChart struct {
	title, yLabel string
	labels        []string
	values        []float64
	logY          bool
}

// svgWriter accumulates an SVG document.
type svgWriter struct{ b bytes.Buffer }

func newSVG(title string) *svgWriter {
	w := &svgWriter{}
	w.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="14">`+"\n",
		chartWidth, chartHeight, chartWidth, chartHeight)
	w.f("<title>%s</title>\n", esc(title))
	w.f(`<rect width="100%%" height="100%%" fill="#fff"/>` + "\n")
	w.text(chartWidth/2, 30, "middle", inkColor, `font-size="20" font-weight="bold"`, title)
	return w
}

func (w *svgWriter) f(format string, args ...any) { fmt.Fprintf(&w.b, format, args...) }

// text writes s at (x, y) (its baseline), anchored start, middle or end.
func (w *svgWriter) text(x, y float64, anchor, fill, attrs, s string) {
	if attrs != "" {
		attrs = " " + attrs
	}
	w.f(`<text x="%s" y="%s" text-anchor="%s" fill="%s"%s>%s</text>`+"\n", n1(x), n1(y), anchor, fill, attrs, esc(s))
}

func (w *svgWriter) line(x0, y0, x1, y1 float64, stroke string, width float64) {
	w.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="%s"/>`+"\n", n1(x0), n1(y0), n1(x1), n1(y1), stroke, n1(width))
}

// yAxis draws the horizontal grid, the tick labels and the label of a
// vertical axis, and the two axis lines of the plot area.
func (w *svgWriter) yAxis(a axis, label string, left, top, right, bottom float64) {
	for _, t := range a.ticks {
		y := a.pos(t)
		w.line(left, y, right, y, gridColor, 1)
		w.text(left-8, y+5, "end", tickColor, "", shortNumber(t))
	}
	w.line(left, bottom, right, bottom, inkColor, 2)
	w.line(left, top, left, bottom, inkColor, 2)
	if label != "" {
		x, y := 24.0, (top+bottom)/2
		w.f(`<text x="%s" y="%s" text-anchor="middle" fill="%s" transform="rotate(-90 %s %s)">%s</text>`+"\n",
			n1(x), n1(y), inkColor, n1(x), n1(y), esc(label))
	}
}

func (w *svgWriter) end() []byte {
	w.f("</svg>\n")
	return w.b.Bytes()
}

// SVG draws the chart.
func (l *lineChart) SVG() ([]byte, error) {
	w := newSVG(l.title)
	left, top, right, bottom := 90.0, 56.0, float64(chartWidth-230), float64(chartHeight-76)
	var xs, ys []float64
	for _, s := range l.series {
		if len(s.x) != len(s.y) {
			return nil, fmt.Errorf("series %q: %d x values for %d y values", s.name, len(s.x), len(s.y))
		}
		xs = append(xs, s.x...)
		ys = append(ys, s.y...)
	}
	ax := newAxis(xs, l.logX, left, right, false)
	ay := newAxis(ys, l.logY, bottom, top, true)
	for _, t := range ax.ticks {
		x := ax.pos(t)
		w.line(x, top, x, bottom, gridColor, 1)
		w.text(x, bottom+22, "middle", tickColor, "", shortNumber(t))
	}
	w.yAxis(ay, l.yLabel, left, top, right, bottom)
	if l.xLabel != "" {
		w.text((left+right)/2, bottom+52, "middle", inkColor, "", l.xLabel)
	}
	for i, s := range l.series {
		color := palette[s.color%len(palette)]
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="8 5"`
		}
		var points bytes.Buffer
		var dots []string
		for k := range s.x {
			if l.logY && s.y[k] <= 0 || l.logX && s.x[k] <= 0 {
				continue
			}
			x, y := n1(ax.pos(s.x[k])), n1(ay.pos(s.y[k]))
			fmt.Fprintf(&points, "%s,%s ", x, y)
			if s.bound {
				continue
			}
			dots = append(dots, fmt.Sprintf(`<circle cx="%s" cy="%s" r="4" fill="%s"/>`, x, y, color))
		}
		w.f(`<g><title>%s</title>`+"\n", esc(s.name))
		w.f(`<polyline points="%s" fill="none" stroke="%s" stroke-width="2.5"%s/>`+"\n", bytes.TrimSpace(points.Bytes()), color, dash)
		for _, d := range dots {
			w.f("%s\n", d)
		}
		w.f("</g>\n")
		ly := top + 12 + float64(i)*28
		w.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2.5"%s/>`+"\n",
			n1(right+20), n1(ly), n1(right+56), n1(ly), color, dash)
		w.text(right+64, ly+5, "start", inkColor, "", s.name)
	}
	return w.end(), nil
}

// SVG draws the chart.
func (b *barChart) SVG() ([]byte, error) {
	if len(b.labels) != len(b.values) {
		return nil, fmt.Errorf("%d labels for %d values", len(b.labels), len(b.values))
	}
	w := newSVG(b.title)
	left, top, right, bottom := 90.0, 70.0, float64(chartWidth-30), float64(chartHeight-60)
	ay := newAxis(b.values, b.logY, bottom, top, true)
	w.yAxis(ay, b.yLabel, left, top, right, bottom)
	slot := (right - left) / float64(max(len(b.values), 1))
	for i, v := range b.values {
		x0, x1 := left+float64(i)*slot+slot*0.2, left+float64(i+1)*slot-slot*0.2
		y := ay.pos(v)
		if b.logY && v <= 0 {
			y = bottom
		}
		w.f(`<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s: %s</title></rect>`+"\n",
			n1(x0), n1(y), n1(x1-x0), n1(bottom-y), palette[i%len(palette)], esc(b.labels[i]), esc(shortNumber(v)))
		w.text((x0+x1)/2, y-8, "middle", inkColor, "", shortNumber(v))
		w.text((x0+x1)/2, bottom+24, "middle", inkColor, "", b.labels[i])
	}
	return w.end(), nil
}

// An axis maps data values to positions.
type axis struct {
	log    bool
	lo, hi float64 // data range (in log10 when log)
	p0, p1 float64 // positions of lo and hi
	ticks  []float64
}

// newAxis returns an axis over vals from position p0 to p1, with round
// ticks (powers of ten on a log axis); a linear axis includes 0 when zero.
func newAxis(vals []float64, log bool, p0, p1 float64, zero bool) axis {
	a := axis{log: log, p0: p0, p1: p1}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if log && v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1, 10
	}
	if log {
		lo, hi = math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
		if hi == lo {
			hi++
		}
		a.lo, a.hi = lo, hi
		for e := lo; e <= hi; e++ {
			a.ticks = append(a.ticks, math.Pow(10, e))
		}
		return a
	}
	if zero {
		lo = math.Min(lo, 0)
	}
	if hi == lo {
		hi = lo + 1
	}
	step := niceStep((hi - lo) / 5)
	lo, hi = math.Floor(lo/step)*step, math.Ceil(hi/step)*step
	a.lo, a.hi = lo, hi
	for v := lo; v <= hi+step/2; v += step {
		a.ticks = append(a.ticks, v)
	}
	return a
}

// niceStep returns the smallest of 1, 2, 5 or 10 times a power of ten that
// is at least raw.
func niceStep(raw float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func (a axis) pos(v float64) float64 {
	if a.log {
		if v <= 0 {
			return a.p0
		}
		v = math.Log10(v)
	}
	return a.p0 + (v-a.lo)/(a.hi-a.lo)*(a.p1-a.p0)
}

// shortNumber formats v shortly: 1.5k, 20k, 1.2M, 0.25.
func shortNumber(v float64) string {
	av := math.Abs(v)
	switch {
	case av >= 1e9:
		return trim(v/1e9) + "G"
	case av >= 1e6:
		return trim(v/1e6) + "M"
	case av >= 1e3:
		return trim(v/1e3) + "k"
	}
	return trim(v)
}

// trim formats v with at most two decimals, without trailing zeros.
func trim(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

// n1 formats a coordinate with one decimal, without a trailing ".0".
func n1(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// esc escapes s for SVG text and attribute values.
func esc(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
