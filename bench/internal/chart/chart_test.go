package chart

import (
	"bytes"
	"github.com/pushmap/pushmap/internal/leakcheck"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func TestLineAndBars(t *testing.T) {
	charts := map[string]interface{ PNG() ([]byte, error) }{
		"line.png": &Line{Title: "Latency as clients grow", XLabel: "clients", YLabel: "p99 latency (ms)", LogX: true, LogY: true,
			Series: []Series{
				{Name: "pushmap p99", X: []float64{500, 1000, 2000, 4000}, Y: []float64{2, 3, 5, 40}},
				{Name: "tiles p99", X: []float64{500, 1000, 2000, 4000}, Y: []float64{3, 4, 9, 120}, Color: 1},
				{Name: "pushmap p50", X: []float64{500, 1000, 2000, 4000}, Y: []float64{1, 1.2, 1.5, 3}, Dashed: true},
			}},
		"bars.png": &Bars{Title: "Bytes per client per second", YLabel: "bytes/s", LogY: true,
			Labels: []string{"pushmap", "tiles", "broadcast", "poll 1s"}, Values: []float64{2500, 7000, 360000, 12000}},
		"linear.png": &Line{Title: "linear", Series: []Series{{Name: "a", X: []float64{0, 1, 2}, Y: []float64{0, 0.5, 0.25}}}},
		"empty.png":  &Bars{Title: "empty"},
	}
	dir := os.Getenv("CHART_DIR") // set to look at the images
	for name, ch := range charts {
		b, err := ch.PNG()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: not a PNG: %v", name, err)
		}
		if img.Bounds().Dx() != 960 || img.Bounds().Dy() != 540 {
			t.Errorf("%s: %v, want 960×540", name, img.Bounds())
		}
		if dir != "" {
			os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
	}
	if _, err := (&Bars{Labels: []string{"a"}}).PNG(); err == nil {
		t.Error("a label without a value drew")
	}
}

func TestGlyphs(t *testing.T) {
	for r, g := range glyphs {
		for _, row := range g {
			if len(row) != 5 {
				t.Errorf("glyph %q has a row %q of %d pixels", r, row, len(row))
			}
		}
	}
	for r := rune(' '); r <= '~'; r++ {
		if _, ok := glyphs[r]; !ok && !bytes.ContainsRune([]byte("\"$&@\\^`{|}~"), r) {
			t.Errorf("no glyph for %q", r)
		}
	}
}

func TestNumber(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 0.25: "0.25", 12: "12", 1500: "1.5k", 20000: "20k", 1.25e6: "1.25M", 3e9: "3G"} {
		if got := Number(v); got != want {
			t.Errorf("Number(%v) = %q, want %q", v, got, want)
		}
	}
}
