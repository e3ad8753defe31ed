// Package chart draws the simple charts of pushmap's benchmark page — line
// charts and bar charts, linear or logarithmic — as PNG images, with the
// standard library only (image, image/png and a built-in 5×7 pixel font).
package chart

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"strconv"
)

// Palette holds distinct colours for series, in order.
var Palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, // blue
	{0xd6, 0x27, 0x28, 0xff}, // red
	{0x2c, 0xa0, 0x2c, 0xff}, // green
	{0xff, 0x7f, 0x0e, 0xff}, // orange
	{0x94, 0x67, 0xbd, 0xff}, // purple
	{0x8c, 0x56, 0x4b, 0xff}, // brown
	{0x17, 0xbe, 0xcf, 0xff}, // cyan
}

var (
	white = color.RGBA{0xff, 0xff, 0xff, 0xff}
	black = color.RGBA{0x22, 0x22, 0x22, 0xff}
	grid  = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
	gray  = color.RGBA{0x77, 0x77, 0x77, 0xff}
)

// A Series is one line of a Line chart: points (X[i], Y[i]).
type Series struct {
	Name   string
	X, Y   []float64
	Dashed bool
	Color  int // index in Palette
}

// A Line is a line chart.
type Line struct {
	Title, XLabel, YLabel string
	LogX, LogY            bool
	Series                []Series
	Width, Height         int // pixels; default 960 × 540
}

// A Bars is a bar chart: one bar per label.
type Bars struct {
	Title, YLabel string
	Labels        []string
	Values        []float64
	Notes         []string // printed above each bar instead of its value when not empty
	LogY          bool
	Width, Height int
}

// canvas is an RGBA image with drawing helpers.
type canvas struct{ *image.RGBA }

func newCanvas(w, h int) canvas {
	c := canvas{image.NewRGBA(image.Rect(0, 0, w, h))}
	c.fill(0, 0, w, h, white)
	return c
}

func (c canvas) fill(x0, y0, x1, y1 int, col color.RGBA) {
	for y := max(y0, 0); y < min(y1, c.Rect.Dy()); y++ {
		for x := max(x0, 0); x < min(x1, c.Rect.Dx()); x++ {
			c.SetRGBA(x, y, col)
		}
	}
}

// line draws a line of width w from (x0, y0) to (x1, y1); dashed lines
// alternate 8 pixels on and 5 off.
func (c canvas) line(x0, y0, x1, y1 float64, w int, col color.RGBA, dashed bool) {
	n := int(math.Max(math.Abs(x1-x0), math.Abs(y1-y0))) + 1
	for i := 0; i <= n; i++ {
		if dashed && i%13 >= 8 {
			continue
		}
		t := float64(i) / float64(n)
		x, y := int(math.Round(x0+t*(x1-x0))), int(math.Round(y0+t*(y1-y0)))
		c.fill(x-w/2, y-w/2, x-w/2+w, y-w/2+w, col)
	}
}

// text draws s with its top left at (x, y), each font pixel scale pixels.
func (c canvas) text(x, y int, s string, scale int, col color.RGBA) {
	eachPixel(s, func(i, row, colm int) {
		px, py := x+(6*i+colm)*scale, y+row*scale
		c.fill(px, py, px+scale, py+scale, col)
	})
}

// vtext draws s upwards, its baseline at x, its start at y.
func (c canvas) vtext(x, y int, s string, scale int, col color.RGBA) {
	eachPixel(s, func(i, row, colm int) {
		px, py := x+row*scale, y-(6*i+colm+1)*scale
		c.fill(px, py, px+scale, py+scale, col)
	})
}

// eachPixel calls lit for every lit pixel of s in the font: the rune's
// index in s, and the pixel's row and column in the rune's glyph.
func eachPixel(s string, lit func(i, row, col int)) {
	i := 0
	for _, r := range s {
		g, ok := glyphs[r]
		if !ok {
			g = glyphs['?']
		}
		for row, bits := range g {
			for col, b := range bits {
				if b == '#' {
					lit(i, row, col)
				}
			}
		}
		i++
	}
}

func textWidth(s string, scale int) int { return len([]rune(s)) * 6 * scale }

func (c canvas) png() ([]byte, error) {
	var b bytes.Buffer
	err := png.Encode(&b, c.RGBA)
	return b.Bytes(), err
}

// An axis maps data values to pixels.
type axis struct {
	log    bool
	lo, hi float64 // data range (in log10 when log)
	p0, p1 float64 // pixels of lo and hi
	ticks  []float64
}

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

// Number formats v shortly: 1.5k, 20k, 1.2M, 0.25.
func Number(v float64) string {
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

// frame draws the title, labels and the grid of a plot area.
func (c canvas) frame(title, xlabel, ylabel string, left, top, right, bottom int) {
	w := c.Rect.Dx()
	c.text((w-textWidth(title, 3))/2, 14, title, 3, black)
	if xlabel != "" {
		c.text(left+(right-left-textWidth(xlabel, 2))/2, bottom+44, xlabel, 2, black)
	}
	if ylabel != "" {
		c.vtext(14, top+(bottom-top+textWidth(ylabel, 2))/2, ylabel, 2, black)
	}
}

// PNG draws the chart.
func (l *Line) PNG() ([]byte, error) {
	w, h := l.Width, l.Height
	if w == 0 {
		w, h = 960, 540
	}
	c := newCanvas(w, h)
	left, top, right, bottom := 100, 56, w-230, h-76
	var xs, ys []float64
	for _, s := range l.Series {
		xs = append(xs, s.X...)
		ys = append(ys, s.Y...)
	}
	ax := newAxis(xs, l.LogX, float64(left), float64(right), false)
	ay := newAxis(ys, l.LogY, float64(bottom), float64(top), true)
	for _, t := range ay.ticks {
		y := int(ay.pos(t))
		c.fill(left, y, right, y+1, grid)
		s := Number(t)
		c.text(left-8-textWidth(s, 2), y-7, s, 2, gray)
	}
	for _, t := range ax.ticks {
		x := int(ax.pos(t))
		c.fill(x, top, x+1, bottom, grid)
		s := Number(t)
		c.text(x-textWidth(s, 2)/2, bottom+10, s, 2, gray)
	}
	c.fill(left, bottom, right, bottom+2, black)
	c.fill(left-2, top, left, bottom+2, black)
	c.frame(l.Title, l.XLabel, l.YLabel, left, top, right, bottom)
	for i, s := range l.Series {
		col := Palette[s.Color%len(Palette)]
		var px, py float64
		first := true
		for k := range s.X {
			if k >= len(s.Y) || l.LogY && s.Y[k] <= 0 || l.LogX && s.X[k] <= 0 {
				continue
			}
			x, y := ax.pos(s.X[k]), ay.pos(s.Y[k])
			if !first {
				c.line(px, py, x, y, 3, col, s.Dashed)
			}
			c.fill(int(x)-4, int(y)-4, int(x)+5, int(y)+5, col)
			px, py, first = x, y, false
		}
		ly := top + 10 + i*30
		c.line(float64(right+20), float64(ly+7), float64(right+60), float64(ly+7), 3, col, s.Dashed)
		c.text(right+68, ly, s.Name, 2, black)
	}
	return c.png()
}

// PNG draws the chart.
func (b *Bars) PNG() ([]byte, error) {
	w, h := b.Width, b.Height
	if w == 0 {
		w, h = 960, 540
	}
	if len(b.Labels) != len(b.Values) {
		return nil, fmt.Errorf("chart: %d labels for %d values", len(b.Labels), len(b.Values))
	}
	c := newCanvas(w, h)
	left, top, right, bottom := 100, 70, w-30, h-76
	ay := newAxis(b.Values, b.LogY, float64(bottom), float64(top), true)
	for _, t := range ay.ticks {
		y := int(ay.pos(t))
		c.fill(left, y, right, y+1, grid)
		s := Number(t)
		c.text(left-8-textWidth(s, 2), y-7, s, 2, gray)
	}
	c.fill(left, bottom, right, bottom+2, black)
	c.fill(left-2, top, left, bottom+2, black)
	c.frame(b.Title, "", b.YLabel, left, top, right, bottom)
	n := len(b.Values)
	if n == 0 {
		return c.png()
	}
	slot := float64(right-left) / float64(n)
	for i, v := range b.Values {
		col := Palette[i%len(Palette)]
		x0 := left + int(float64(i)*slot+slot*0.2)
		x1 := left + int(float64(i+1)*slot-slot*0.2)
		y := int(ay.pos(v))
		if b.LogY && v <= 0 {
			y = bottom
		}
		c.fill(x0, y, x1, bottom, col)
		label := Number(v)
		if i < len(b.Notes) && b.Notes[i] != "" {
			label = b.Notes[i]
		}
		c.text((x0+x1-textWidth(label, 2))/2, y-20, label, 2, black)
		c.text((x0+x1-textWidth(b.Labels[i], 2))/2, bottom+12, b.Labels[i], 2, black)
	}
	return c.png()
}
