package server_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

func TestDensityTiles(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{DensityLayer: "density"})
	louvre := geo.Pt(2.3376, 48.8606)
	for _, zoom := range []int{3, 9, 12} { // from counts, and (12, whose cells are at 17) from markers
		if err := srv.Upsert(wire.Marker{ID: "a", Pos: louvre}); err != nil {
			t.Fatal(err)
		}
		tile := geo.TileOf(louvre, zoom)
		b, err := srv.DensityTile(tile)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		painted := 0
		for y := range 256 {
			for x := range 256 {
				if _, _, _, a := img.At(x, y).RGBA(); a > 0 {
					painted++
				}
			}
		}
		if painted != 64 { // one cell of 8 × 8 pixels
			t.Fatalf("zoom %d: %d pixels painted, want one cell of 64", zoom, painted)
		}
		empty, _ := srv.DensityTile(geo.TileOf(geo.Pt(-40, -40), zoom))
		if img, _ := png.Decode(bytes.NewReader(empty)); img == nil {
			t.Fatal("empty tile is no PNG")
		}
	}

	hs := httptest.NewServer(http.StripPrefix("/tiles/density/", srv.DensityHandler()))
	defer hs.Close()
	for path, want := range map[string]int{
		"/tiles/density/10/518/352.png": 200, "/tiles/density/10/5180/352.png": 404,
		"/tiles/density/x/1/2.png": 404, "/tiles/density/1/1/1.jpg": 404, "/tiles/density/25/0/0.png": 404,
		"/tiles/density/15/16597/11272.png": 404, // past the cluster zoom, 14
	} {
		res, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != want || (want == 200 && res.Header.Get("Content-Type") != "image/png") {
			t.Fatalf("GET %s: %d %s, want %d", path, res.StatusCode, res.Header.Get("Content-Type"), want)
		}
	}

	// Moving the marker inside Paris: FlushDensity tells the view over
	// Paris about its tile at its zoom, and the view elsewhere nothing.
	ctx := context.Background()
	paris := dialRecorder(t, url, "paris")
	far := dialRecorder(t, url, "far")
	if err := paris.SetView(ctx, 0, geo.BBox(2.2, 48.8, 2.5, 48.9), 10.4); err != nil {
		t.Fatal(err)
	}
	if err := far.SetView(ctx, 0, geo.BBox(100, 0, 101, 1), 10); err != nil {
		t.Fatal(err)
	}
	// The setup's movement: flushed now, it may reach Paris as a change of
	// its own or coalesced with the next one of the same tile.
	srv.FlushDensity()
	if err := srv.Upsert(wire.Marker{ID: "a", Pos: geo.Pt(2.34, 48.861)}); err != nil {
		t.Fatal(err)
	}
	srv.FlushDensity()
	want := geo.TileOf(louvre, 10)
	servertest.Eventually(t, 5*time.Second, func() string {
		got := paris.tiles()
		for _, tc := range got {
			if tc.Layer != "density" || tc.Z != 10 || tc.X != want.X || tc.Y != want.Y {
				return fmt.Sprintf("paris got tiles %v, want density %v alone", got, want)
			}
		}
		if len(got) == 0 || got[len(got)-1].Version < 2 {
			return fmt.Sprintf("paris got tiles %v, want density %v from the second flush", got, want)
		}
		return ""
	})
	srv.Upsert(wire.Marker{ID: "~", Pos: geo.Pt(100.5, 0.5)})
	servertest.Eventually(t, 5*time.Second, func() string {
		if _, ok := far.Markers()["~"]; !ok {
			return "no sentinel"
		}
		return ""
	})
	if got := far.tiles(); len(got) != 0 {
		t.Fatalf("far got tiles %v", got)
	}
}
