package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

// pageAll pages through q and returns every marker by id, failing on a
// marker returned twice.
func pageAll(t *testing.T, srv *server.Server, q server.MarkersQuery) map[string]wire.Marker {
	t.Helper()
	got := map[string]wire.Marker{}
	for pages := 0; ; pages++ {
		p, err := srv.MarkersPage(q)
		if err != nil {
			t.Fatal(err)
		}
		if q.Limit > 0 && len(p.Markers) > q.Limit {
			t.Fatalf("page of %d markers, limit %d", len(p.Markers), q.Limit)
		}
		for _, m := range p.Markers {
			if _, dup := got[m.ID]; dup {
				t.Fatalf("marker %s returned twice", m.ID)
			}
			got[m.ID] = m
		}
		if p.Next == "" {
			return got
		}
		if pages > 100000 {
			t.Fatal("paging does not end")
		}
		q.Cursor = p.Next
	}
}

// TestMarkersPageHoldsBounded: paging through 20,000 markers, MarkersPage
// looks at no more than about one page of markers per hold of the server
// lock, and the lock is free between holds, so a feed never waits behind a
// large read for more than one such step; every marker is returned once,
// while a feed keeps writing elsewhere.
func TestMarkersPageHoldsBounded(t *testing.T) {
	srv, err := server.New(&server.Options{Logger: servertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rng := rand.New(rand.NewPCG(seed(t), 1))
	const n, limit = 20000, 500
	ms := make([]wire.Marker, n)
	for i := range ms {
		ms[i] = wire.Marker{ID: fmt.Sprint("m", i), Layer: []string{"a", "b"}[i%2],
			Pos: geo.Pt(-10+rng.Float64()*40, 35+rng.Float64()*25)}
	}
	if err := srv.Apply(server.Upserts(ms...)); err != nil {
		t.Fatal(err)
	}
	var holds, maxVisited int
	srv.OnPageHold(func(visited int) {
		holds++
		maxVisited = max(maxVisited, visited)
		// A feed gets in between two steps (with the lock still held, this
		// would never return).
		if err := srv.Upsert(wire.Marker{ID: "between", Pos: geo.Pt(-100, 0)}); err != nil {
			t.Error(err)
		}
	})
	// A feed writing far away all along: the race detector checks the
	// read path against it.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			srv.Upsert(wire.Marker{ID: "elsewhere", Layer: "a", Pos: geo.Pt(100+float64(i%10), 0)})
		}
	})
	got := pageAll(t, srv, server.MarkersQuery{Box: geo.BBox(-20, 30, 40, 70), Limit: limit})
	close(stop)
	wg.Wait()
	if len(got) != n {
		t.Fatalf("paged %d markers, want %d", len(got), n)
	}
	// A hold stops once it looked at limit markers; a tile read whole
	// holds at most limit more.
	if maxVisited > 2*limit {
		t.Fatalf("a lock hold looked at %d markers, want at most %d", maxVisited, 2*limit)
	}
	if holds < n/limit {
		t.Fatalf("%d lock holds for %d markers in pages of %d", holds, n, limit)
	}
	t.Logf("%d holds, at most %d markers looked at in one", holds, maxVisited)
}

// TestMarkersPageGrant: a page holds only the layers of both the query and
// the grant, inside the grant's box (across the antimeridian too), and
// paging with small pages returns the same as one large page.
func TestMarkersPageGrant(t *testing.T) {
	srv, err := server.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	put := func(id, layer string, lon, lat float64) {
		if err := srv.Upsert(wire.Marker{ID: id, Layer: layer, Pos: geo.Pt(lon, lat)}); err != nil {
			t.Fatal(err)
		}
	}
	put("pub-paris", "public", 2.35, 48.85)
	put("priv-paris", "private", 2.36, 48.85)
	put("pub-fiji", "public", 179.5, -17)
	put("pub-samoa", "public", -171.7, -13.8)
	put("pub-lyon", "public", 4.83, 45.76)
	put("pole", "public", 10, 89.9) // beyond Web Mercator's latitudes
	pacific := geo.BBox(170, -20, -170, 0)
	for _, tc := range []struct {
		name  string
		q     server.MarkersQuery
		want  []string
		limit int
	}{
		{"everything", server.MarkersQuery{Box: geo.World}, []string{"pole", "priv-paris", "pub-fiji", "pub-lyon", "pub-paris", "pub-samoa"}, 0},
		{"grant of a layer", server.MarkersQuery{Box: geo.World, Grant: auth.Grant{Layers: []string{"public"}}},
			[]string{"pole", "pub-fiji", "pub-lyon", "pub-paris", "pub-samoa"}, 0},
		{"layers asked outside the grant", server.MarkersQuery{Box: geo.World, Layers: []string{"private"}, Grant: auth.Grant{Layers: []string{"public"}}}, nil, 0},
		{"grant of no layer", server.MarkersQuery{Box: geo.World, Grant: auth.Grant{Layers: []string{}}}, nil, 0},
		{"grant of a box", server.MarkersQuery{Box: geo.World, Grant: auth.Grant{Box: &pacific}}, []string{"pub-fiji", "pub-samoa"}, 0},
		{"box and grant across the antimeridian", server.MarkersQuery{Box: geo.BBox(175, -90, -170, 90), Grant: auth.Grant{Box: &pacific}},
			[]string{"pub-fiji", "pub-samoa"}, 1},
		{"box outside the grant's box", server.MarkersQuery{Box: geo.BBox(0, 40, 10, 50), Grant: auth.Grant{Box: &pacific}}, nil, 0},
		{"small pages", server.MarkersQuery{Box: geo.World}, []string{"pole", "priv-paris", "pub-fiji", "pub-lyon", "pub-paris", "pub-samoa"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Limit = tc.limit
			got := servertest.IDs(pageAll(t, srv, tc.q))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	for _, q := range []server.MarkersQuery{
		{Box: geo.World, Cursor: "not a cursor"},
		{Box: geo.World, Cursor: "AA"},
		{Box: geo.World, Limit: server.MaxMarkersPage + 1},
		{Box: geo.BBox(0, 10, 1, 5)},
	} {
		if _, err := srv.MarkersPage(q); err == nil {
			t.Errorf("%+v accepted", q)
		}
	}
	if _, err := srv.MarkersPage(server.MarkersQuery{Box: geo.World, Cursor: "!"}); !errors.Is(err, server.ErrBadCursor) {
		t.Errorf("bad cursor: %v, want ErrBadCursor", err)
	}
}

// painted returns the number of painted pixels of a density tile.
func painted(t *testing.T, b []byte) int {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for y := range 256 {
		for x := range 256 {
			if _, _, _, a := img.At(x, y).RGBA(); a > 0 {
				n++
			}
		}
	}
	return n
}

// TestDensityGrant: with client authorization on, a density tile needs a
// credential (header or access_token) and shows only the grant's layers,
// inside its box; zooms past the cluster zoom are refused.
func TestDensityGrant(t *testing.T) {
	paris := geo.BBox(2.2, 48.8, 2.5, 48.95)
	grants := map[string]auth.Grant{
		"all":     {},
		"public":  {Layers: []string{"public"}},
		"paris":   {Box: &paris},
		"expired": {Expires: time.Unix(1, 0)},
	}
	srv, err := server.New(&server.Options{Logger: servertest.Logger(t), Authorize: func(_ *http.Request, token string) (auth.Grant, error) {
		g, ok := grants[token]
		if !ok {
			return auth.Grant{}, errors.New("unknown token")
		}
		return g, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	secret := geo.Pt(2.3376, 48.8606) // in Paris
	lyon := geo.Pt(4.8357, 45.764)
	for _, m := range []wire.Marker{{ID: "secret", Layer: "private", Pos: secret}, {ID: "lyon", Layer: "public", Pos: lyon}} {
		if err := srv.Upsert(m); err != nil {
			t.Fatal(err)
		}
	}
	hs := httptest.NewServer(http.StripPrefix("/tiles/density/", srv.DensityHandler()))
	defer hs.Close()
	get := func(path, bearer string) (int, []byte, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", hs.URL+"/tiles/density/"+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b, res.Header
	}
	// Zoom 9: both markers in one tile, one cell each.
	tile := geo.TileOf(secret, 9)
	if geo.TileOf(lyon, 9) == tile {
		t.Fatal("the test wants the markers in different tiles")
	}
	path := tile.String() + ".png"
	for _, tc := range []struct {
		name, path, bearer string
		status, pixels     int
	}{
		{"no credential", path, "", 401, -1},
		{"unknown token", path, "nope", 403, -1},
		{"expired token", path, "expired", 403, -1},
		{"all", path, "all", 200, 64},
		{"all, as a query parameter", path + "?access_token=all", "", 200, 64},
		{"another layer", path, "public", 200, 0},
		{"inside the grant's box", path, "paris", 200, 64},
		{"a coarser tile, whose cell straddles the box", geo.TileOf(secret, 3).String() + ".png", "paris", 200, 0},
		{"past the cluster zoom", geo.TileOf(secret, 24).String() + ".png", "all", 404, -1},
	} {
		status, body, h := get(tc.path, tc.bearer)
		if status != tc.status {
			t.Fatalf("%s: %d %s, want %d", tc.name, status, body, tc.status)
		}
		if status == 401 && h.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
		}
		if tc.pixels >= 0 {
			if got := painted(t, body); got != tc.pixels {
				t.Errorf("%s: %d pixels painted, want %d", tc.name, got, tc.pixels)
			}
			if cc := h.Get("Cache-Control"); cc != "private, no-cache" {
				t.Errorf("%s: Cache-Control %q", tc.name, cc)
			}
		}
	}
	// The Lyon marker is in the public layer, outside Paris.
	lyonTile := geo.TileOf(lyon, 9).String() + ".png"
	for token, want := range map[string]int{"all": 64, "public": 64, "paris": 0} {
		if _, body, _ := get(lyonTile, token); painted(t, body) != want {
			t.Errorf("lyon's tile for %s: %d pixels painted, want %d", token, painted(t, body), want)
		}
	}
}

// TestInterestOutsideLock: Interest copies the views' boxes under the
// server lock and covers them with tiles after; an answer over
// MaxInterestTiles is refused with ErrTooManyTiles.
func TestInterestOutsideLock(t *testing.T) {
	srv, url := servertest.StartServer(t, nil)
	ctx := context.Background()
	for i := range 4 {
		c := dialRecorder(t, url, fmt.Sprint("world", i))
		if err := c.SetView(ctx, 0, geo.World, 2); err != nil {
			t.Fatal(err)
		}
	}
	servertest.Eventually(t, 5*time.Second, func() string {
		if st := srv.Stats(); st.Views != 4 {
			return fmt.Sprintf("%d views", st.Views)
		}
		return ""
	})
	copied := 0
	srv.OnInterestCopied(func() {
		copied++
		if !srv.Unlocked() {
			t.Error("the server lock is held while the tiles are counted")
		}
	})
	if _, err := srv.Interest(10, ""); !errors.Is(err, server.ErrTooManyTiles) {
		t.Fatalf("four world views at zoom 10: %v, want ErrTooManyTiles", err)
	}
	got, err := srv.Interest(6, "")
	if err != nil || len(got) != 1<<12 || got[0].Viewers != 4 {
		t.Fatalf("world views at zoom 6: %d tiles, err %v", len(got), err)
	}
	if copied != 2 {
		t.Fatalf("boxes copied %d times", copied)
	}
	if got, err := srv.InterestIn(6, []string{}); err != nil || len(got) != 0 {
		t.Fatalf("interest of no layer: %v %v", got, err)
	}
}
