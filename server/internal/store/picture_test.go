package store

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

var picturePath = flag.String("picture", "", "write TestClusterPicture's SVG to this file (make cluster-picture: docs/clusters-vs-supercluster.svg)")

// A pictureView is one row of the picture: a box at a zoom.
type pictureView struct {
	title string
	box   geo.Box
	zoom  int
}

// pictureMark is a cluster (or a single point) drawn in a panel.
type pictureMark struct {
	at    geo.Point
	count uint64
}

// TestClusterPicture draws pushmap's merged clusters beside supercluster's
// for the same points and views (docs/clusters-vs-supercluster.svg, with
// `make cluster-picture`): cities, uniform points, and a blob on a zoom-6
// tile corner next to Paris, the case where the tile lattice used to cut a
// city in four. Every cluster of either side inside the view is drawn,
// and the picture is checked to be well-formed SVG with one circle per
// cluster and the same number of points accounted for on both sides.
func TestClusterPicture(t *testing.T) {
	corner := geo.Tile{Z: 6, X: 33, Y: 22}.Bounds()
	pts := pointSet(7, 30000, []blob{
		{"paris", geo.Pt(2.35, 48.85), 0.15, 3000},
		{"corner", geo.Pt(corner.West, corner.North), 0.1, 1500},
		{"berlin", geo.Pt(13.4, 52.5), 0.2, 2000},
		{"madrid", geo.Pt(-3.7, 40.4), 0.3, 1500},
		{"milan", geo.Pt(9.2, 45.5), 0.2, 1000},
		{"london", geo.Pt(-0.1, 51.5), 0.25, 2500},
	})
	st := New(14)
	for i, p := range pts {
		if _, _, err := st.Upsert(&wire.Marker{ID: fmt.Sprint(i), Pos: p}, false, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	views := []pictureView{
		{"Europe, zoom 4", geo.BBox(-12, 35, 30, 60), 4},
		{"Paris and the tile-corner blob, zoom 7", geo.BBox(0.5, 47.6, 7, 50.2), 7},
	}
	var svg bytes.Buffer
	const panelW, gap, top = 480.0, 20.0, 40.0
	y := 0.0
	var body bytes.Buffer
	circles := 0
	for _, v := range views {
		var ours []pictureMark
		var oursPoints uint64
		for _, c := range st.MergedClusters(v.box, v.zoom, nil, nil) {
			if inProbe(v.box, c.At) {
				ours = append(ours, pictureMark{c.At, c.Count})
				oursPoints += c.Count
			}
		}
		r := runSupercluster(t, pts, map[string]any{"zooms": []int{v.zoom}, "box": [4]float64{v.box.West, v.box.South, v.box.East, v.box.North}})
		var theirs []pictureMark
		var theirPoints uint64
		for _, c := range r[0].Clusters {
			theirs = append(theirs, pictureMark{geo.Pt(c[0], c[1]), uint64(c[2])})
			theirPoints += uint64(c[2])
		}
		if len(ours) == 0 || len(theirs) == 0 {
			t.Fatalf("%s: %d clusters of pushmap, %d of supercluster: nothing to draw", v.title, len(ours), len(theirs))
		}
		// The two sides account for the points of the view alike (clusters
		// near the edge hold points just outside: a few percent).
		if d := math.Abs(float64(oursPoints)-float64(theirPoints)) / float64(theirPoints); d > 0.1 {
			t.Errorf("%s: pushmap's clusters hold %d points, supercluster's %d", v.title, oursPoints, theirPoints)
		}
		h := panelW * (geo.MercatorY(v.box.South) - geo.MercatorY(v.box.North)) / ((v.box.East - v.box.West) / 360)
		panel := func(x0 float64, name string, marks []pictureMark) {
			px := func(p geo.Point) (float64, float64) {
				return x0 + (p.Lon-v.box.West)/(v.box.East-v.box.West)*panelW,
					y + top + (geo.MercatorY(p.Lat)-geo.MercatorY(v.box.North))/(geo.MercatorY(v.box.South)-geo.MercatorY(v.box.North))*h
			}
			fmt.Fprintf(&body, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"14\">%s, %s: %d clusters</text>\n", x0, y+top-8, name, v.title, len(marks))
			fmt.Fprintf(&body, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"#f4f1ea\" stroke=\"#999\"/>\n", x0, y+top, panelW, h)
			body.WriteString("<path fill=\"#999\" d=\"") // a third of the points, as a faint background
			for i, p := range pts {
				if i%3 == 0 && inProbe(v.box, p) {
					x, yy := px(p)
					fmt.Fprintf(&body, "M%.0f %.0fh1v1h-1z", x, yy)
				}
			}
			body.WriteString("\"/>\n")
			for _, m := range marks {
				x, yy := px(m.at)
				rad := 2 + 1.5*math.Log2(float64(m.count))
				fmt.Fprintf(&body, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"#d9480f\" fill-opacity=\"0.55\" stroke=\"#7a2906\"/>\n", x, yy, rad)
				circles++
				if m.count >= 100 {
					fmt.Fprintf(&body, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"middle\" dominant-baseline=\"middle\">%d</text>\n", x, yy, m.count)
				}
			}
		}
		panel(gap, "pushmap", ours)
		panel(2*gap+panelW, "supercluster", theirs)
		y += top + h + gap
	}
	fmt.Fprintf(&svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\">\n", 3*gap+2*panelW, y)
	fmt.Fprintf(&svg, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n")
	svg.Write(body.Bytes())
	svg.WriteString("</svg>\n")

	// Well-formed, one circle per cluster drawn.
	n := 0
	d := xml.NewDecoder(bytes.NewReader(svg.Bytes()))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG does not parse: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "circle" {
			n++
		}
	}
	if n != circles {
		t.Fatalf("the SVG has %d circles, %d clusters were drawn", n, circles)
	}
	out := *picturePath
	if out == "" {
		out = filepath.Join(t.TempDir(), "clusters-vs-supercluster.svg")
	}
	if err := os.WriteFile(out, svg.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, os.TempDir()) {
		t.Logf("wrote %s", out)
	}
}
