package wasmclient

import (
	"testing"

	"github.com/pushmap/pushmap/geo"
)

func TestWiden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		box    geo.Box
		margin float64
		want   geo.Box
	}{
		{"no margin", geo.BBox(0, 0, 10, 10), 0, geo.BBox(0, 0, 10, 10)},
		{"quarter", geo.BBox(0, 0, 10, 10), 0.25, geo.BBox(-2.5, -2.5, 12.5, 12.5)},
		{"into the antimeridian", geo.BBox(170, 0, 178, 8), 0.5, geo.BBox(166, -4, -178, 12)},
		{"already across", geo.BBox(175, 0, -175, 10), 0.1, geo.BBox(174, -1, -174, 11)},
		{"whole world", geo.BBox(-170, -10, 170, 10), 0.1, geo.BBox(-180, -12, 180, 12)},
		{"poles clamp", geo.BBox(0, 80, 10, 89), 0.5, geo.BBox(-5, 75.5, 15, 90)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := widen(tc.box, tc.margin)
			if d := abs(got.West-tc.want.West) + abs(got.South-tc.want.South) + abs(got.East-tc.want.East) + abs(got.North-tc.want.North); d > 1e-9 {
				t.Fatalf("widen(%v, %v) = %v, want %v", tc.box, tc.margin, got, tc.want)
			}
			if err := got.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestBackoff(t *testing.T) {
	c := newClient("ws://x", nil)
	defer c.cancel()
	for n := range 30 {
		d := c.backoff(n)
		ceil := c.opts.MinBackoff << min(n, 20)
		if ceil > c.opts.MaxBackoff || ceil <= 0 {
			ceil = c.opts.MaxBackoff
		}
		if d <= 0 || d > ceil {
			t.Fatalf("backoff(%d) = %v, want in (0, %v]", n, d, ceil)
		}
	}
}
