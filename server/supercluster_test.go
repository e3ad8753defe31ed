package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

// superclusterResult is what web/tools/supercluster-compare.mjs prints.
type superclusterResult struct {
	Clusters, Points, MaxCount int
	BuildMs, QueryMs           float64
}

// runSupercluster clusters pts with npm supercluster for bbox at zoom.
func runSupercluster(t testing.TB, pts [][2]float64, box geo.Box, zoom float64) superclusterResult {
	t.Helper()
	script := filepath.Join("..", "web", "tools", "supercluster-compare.mjs")
	if _, err := os.Stat(filepath.Join("..", "web", "node_modules", "supercluster")); err != nil {
		if os.Getenv("PUSHMAP_REQUIRE_BROWSER") == "1" {
			t.Fatal("npm supercluster missing in web/node_modules: run make web")
		}
		t.Skip("npm supercluster missing in web/node_modules: run make web")
	}
	in, _ := json.Marshal(map[string]any{"points": pts, "zoom": zoom, "bbox": []float64{box.West, box.South, box.East, box.North}})
	cmd := exec.Command("node", script)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("supercluster: %v", err)
	}
	var r superclusterResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("supercluster output %q: %v", out, err)
	}
	return r
}

// TestCompareSupercluster clusters the same 100k points with pushmap and
// with npm supercluster, the library map apps use in the browser: both must
// account for every point of a world view; the test logs how they differ
// (docs/design.md discusses the approaches).
func TestCompareSupercluster(t *testing.T) {
	srv, url := servertest.StartServer(t, nil)
	rng := rand.New(rand.NewPCG(seed(t), 3))
	const n = 100_000
	pts := make([][2]float64, n)
	ms := make([]wire.Marker, n)
	for i := range ms {
		// Half the points in a few dense "cities", half spread out.
		p := geo.Pt(rng.Float64()*360-180, rng.Float64()*170-85)
		if i%2 == 0 {
			c := [][2]float64{{2.35, 48.85}, {-74, 40.7}, {139.7, 35.7}, {151.2, -33.9}}[i%4]
			p = geo.Pt(c[0]+rng.NormFloat64(), c[1]+rng.NormFloat64()*0.7)
		}
		p = wire.Quantize(p)
		pts[i] = [2]float64{p.Lon, p.Lat}
		ms[i] = wire.Marker{ID: fmt.Sprint("p", i), Pos: p}
	}
	if err := srv.Apply(server.Upserts(ms...)); err != nil {
		t.Fatal(err)
	}
	c := dialRecorder(t, url, "c")
	world := geo.BBox(-180, -85.05, 180, 85.05)
	start := time.Now()
	if err := c.SetView(context.Background(), 0, world, 2); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	ours := c.Clusters()
	total, maxCount := uint64(0), uint64(0)
	for _, cl := range ours {
		total += cl.Count
		maxCount = max(maxCount, cl.Count)
	}
	// The view's zoom 2 (256-px tiles) is supercluster's zoom 1 (512-px tiles).
	theirs := runSupercluster(t, pts, world, 1)
	t.Logf("pushmap: %d merged clusters (radius 40 px), %d points, largest %d; view change answered in %v; kept up to date as markers move",
		len(ours), total, maxCount, took)
	t.Logf("supercluster: %d clusters (radius 40 px at its zoom 1), %d points, largest %d; index built in %.0f ms, rebuilt on any change; query %.1f ms",
		theirs.Clusters, theirs.Points, theirs.MaxCount, theirs.BuildMs, theirs.QueryMs)
	if total != n || theirs.Points != n {
		t.Fatalf("points accounted for: pushmap %d, supercluster %d, want %d", total, theirs.Points, n)
	}
}
