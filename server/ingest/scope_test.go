package ingest_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/ingest"
	"github.com/pushmap/pushmap/wire"
)

const busKey = "bus-secret" // a feed key of layer "buses" alone

// TestScopedFeedKeys: a feed key limited to some layers writes only those:
// an upsert into another layer, an upsert or removal of a marker stored in
// another layer, a tile invalidation of another layer are refused with 403
// layer-forbidden, and nothing of the batch is applied.
func TestScopedFeedKeys(t *testing.T) {
	f := start(t, &ingest.Options{Keys: []ingest.Key{{Secret: feedKey}, {Secret: busKey, Layers: []string{"buses"}}}})
	f.post(t, "application/json", []byte(`[{"id": "train-1", "layer": "trains", "lon": 2.35, "lat": 48.85}]`))
	post := func(path, body string) reply {
		t.Helper()
		return f.do(t, "POST", path, "application/json", busKey, []byte(body))
	}
	if r := post("/markers", `{"id": "bus-1", "layer": "buses", "lon": 2.3, "lat": 48.8}`); r.status != 200 {
		t.Fatalf("upsert into its layer: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		name, method, path, body string
		denied                   []int // indexes of the items named
	}{
		{"batch with one item in another layer", "POST", "/markers",
			`[{"id": "bus-2", "layer": "buses", "lon": 2.3, "lat": 48.8}, {"id": "x", "layer": "trains", "lon": 1, "lat": 1}]`, []int{1}},
		{"item without a layer (the layer \"\")", "POST", "/markers", `{"id": "bus-3", "lon": 2.3, "lat": 48.8}`, []int{0}},
		{"upsert moving another layer's marker into its own", "POST", "/markers",
			`{"id": "train-1", "layer": "buses", "lon": 2.3, "lat": 48.8}`, []int{0}},
		{"removal of another layer's marker", "POST", "/markers", `[{"id": "bus-1", "remove": true}, {"id": "train-1", "remove": true}]`, []int{1}},
		{"remove route", "POST", "/markers/remove", `["train-1"]`, []int{0}},
		{"delete route", "DELETE", "/markers/train-1", ``, []int{0}},
		{"tiles of another layer", "POST", "/tiles/invalidate", `{"layer": "traffic", "bbox": [2, 48, 3, 49]}`, nil},
	} {
		r := f.do(t, tc.method, tc.path, "application/json", busKey, []byte(tc.body))
		if r.status != http.StatusForbidden {
			t.Fatalf("%s: %d %s, want 403", tc.name, r.status, r.body)
		}
		p := r.problem(t)
		if p.Type != ingest.ProblemBase+"layer-forbidden" {
			t.Fatalf("%s: problem %+v", tc.name, p)
		}
		var idx []int
		for _, e := range p.Errors {
			idx = append(idx, e.Index)
			if strings.Contains(e.Reason, "trains") && tc.name != "batch with one item in another layer" {
				t.Errorf("%s: the reason %q names the stored marker's layer", tc.name, e.Reason)
			}
		}
		if tc.denied != nil && (len(idx) != len(tc.denied) || idx[0] != tc.denied[0]) {
			t.Fatalf("%s: items %v named, want %v: %s", tc.name, idx, tc.denied, r.body)
		}
	}
	got := f.snapshot()
	if _, ok := got["bus-2"]; ok {
		t.Fatal("a refused batch was applied in part")
	}
	if m, ok := got["train-1"]; !ok || m.Layer != "trains" {
		t.Fatalf("train-1 is %+v, %v: changed by a key of another layer", m, ok)
	}
	if _, ok := got["bus-1"]; !ok {
		t.Fatal("bus-1 was removed by a refused batch")
	}
	if r := post("/markers/remove", `["bus-1", "never-was"]`); r.status != 200 {
		t.Fatalf("removal in its layer: %d %s", r.status, r.body)
	}
	if r := post("/tiles/invalidate", `{"layer": "buses", "bbox": [2, 48, 3, 49]}`); r.status != 200 {
		t.Fatalf("tiles of its layer: %d %s", r.status, r.body)
	}
}

// TestScopedInterest: a feed key limited to some layers learns only where
// the clients of those layers look.
func TestScopedInterest(t *testing.T) {
	f := start(t, &ingest.Options{Keys: []ingest.Key{{Secret: feedKey}, {Secret: busKey, Layers: []string{"buses"}}}})
	watchWith(t, f, geo.BBox(2.2, 48.8, 2.5, 48.95), 12, []string{"buses"})
	newYork := geo.BBox(-74.1, 40.6, -73.9, 40.8)
	watchWith(t, f, newYork, 12, []string{"trains"})
	tiles := func(key, query string) string {
		t.Helper()
		r := f.do(t, "GET", "/interest?"+query, "", key, nil)
		if r.status != 200 {
			return r.problem(t).Type
		}
		var got []struct{ Z, X, Y, Viewers int }
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, w := range got {
			s = append(s, geo.Tile{Z: uint8(w.Z), X: uint32(w.X), Y: uint32(w.Y)}.String())
		}
		return strings.Join(s, " ")
	}
	covering := func(b geo.Box) string {
		var s []string
		for _, t := range geo.TilesCovering(b, 5) {
			s = append(s, t.String())
		}
		return strings.Join(s, " ")
	}
	paris := covering(geo.BBox(2.2, 48.8, 2.5, 48.95))
	for _, tc := range []struct{ key, query, want string }{
		{feedKey, "z=5", paris + " " + covering(newYork)},
		{busKey, "z=5", paris},
		{busKey, "z=5&layer=buses", paris},
		{busKey, "z=5&layer=trains", ingest.ProblemBase + "layer-forbidden"},
	} {
		if got := tiles(tc.key, tc.query); got != tc.want {
			t.Errorf("%s with %s: %q, want %q", tc.query, tc.key, got, tc.want)
		}
	}
}

// TestInterestTooManyTiles: four world views asked about at zoom 10 are
// refused at once with 400 too-many-tiles, not counted for seconds.
func TestInterestTooManyTiles(t *testing.T) {
	f := start(t, nil)
	for range 4 {
		watch(t, f, geo.World, 2)
	}
	r := f.do(t, "GET", "/interest?z=10", "", feedKey, nil)
	if r.status != 400 || r.problem(t).Type != ingest.ProblemBase+"too-many-tiles" {
		t.Fatalf("%d %s, want 400 too-many-tiles", r.status, r.body)
	}
}

// TestGetMarkersAuth: with client authorization on, GET /markers needs a
// credential — a client token (header or access_token), a read key or a
// feed key — and answers only the layers and area it allows.
func TestGetMarkersAuth(t *testing.T) {
	pacific := geo.BBox(170, -20, -170, 0)
	grants := map[string]auth.Grant{
		"tok-all":     {},
		"tok-public":  {Layers: []string{"public"}},
		"tok-pacific": {Box: &pacific},
		"tok-expired": {Expires: time.Unix(1, 0)},
	}
	authorize := func(_ *http.Request, token string) (auth.Grant, error) {
		if g, ok := grants[token]; ok {
			return g, nil
		}
		return auth.Grant{}, errors.New("unknown token")
	}
	f := start(t, &ingest.Options{Authorize: authorize,
		Keys:     []ingest.Key{{Secret: feedKey}, {Secret: busKey, Layers: []string{"buses"}}},
		ReadKeys: []ingest.Key{{Secret: readKey, Layers: []string{"public"}}}})
	for _, m := range []wire.Marker{
		{ID: "pub-paris", Layer: "public", Pos: inView},
		{ID: "priv-paris", Layer: "private", Pos: inView},
		{ID: "bus", Layer: "buses", Pos: inView},
		{ID: "pub-fiji", Layer: "public", Pos: geo.Pt(179.5, -17)},
	} {
		if err := f.srv.Upsert(m); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(r reply) string {
		var items []struct{ ID string }
		if err := json.Unmarshal(r.body, &items); err != nil {
			t.Fatalf("%s: %v", r.body, err)
		}
		var s []string
		for _, it := range items {
			s = append(s, it.ID)
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct {
		name, query, bearer string
		status              int
		want                string
	}{
		{"no credential", "", "", 401, ""},
		{"unknown token", "", "nope", 403, ""},
		{"expired token", "", "tok-expired", 403, ""},
		{"token of everything", "", "tok-all", 200, "bus priv-paris pub-fiji pub-paris"},
		{"token as a query parameter", "&access_token=tok-all", "", 200, "bus priv-paris pub-fiji pub-paris"},
		{"token of a layer", "", "tok-public", 200, "pub-fiji pub-paris"},
		{"token of a layer, asking for another", "&layers=private", "tok-public", 200, ""},
		{"token of an area", "", "tok-pacific", 200, "pub-fiji"},
		{"read key of a layer", "", readKey, 200, "pub-fiji pub-paris"},
		{"feed key of every layer", "", feedKey, 200, "bus priv-paris pub-fiji pub-paris"},
		{"feed key of a layer", "", busKey, 200, "bus"},
	} {
		r := f.do(t, "GET", "/markers?bbox=-180,-90,180,90"+tc.query, "", tc.bearer, nil)
		if r.status != tc.status {
			t.Fatalf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.status)
		}
		if r.status != 200 {
			if p := r.problem(t); r.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: 401 without WWW-Authenticate: %+v", tc.name, p)
			}
			continue
		}
		if got := sortedWords(ids(r)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func sortedWords(s string) string {
	w := strings.Fields(s)
	slices.Sort(w)
	return strings.Join(w, " ")
}

// TestGetMarkersPaging: GET /markers answers at most limit markers (1,000
// by default), with the next page in the Link and Pushmap-Next-Cursor
// headers; following them returns every marker once.
func TestGetMarkersPaging(t *testing.T) {
	f := start(t, nil)
	const n = 2500
	ms := make([]wire.Marker, n)
	for i := range ms {
		ms[i] = wire.Marker{ID: "m" + strconv.Itoa(i), Pos: geo.Pt(float64(i%360)-179.5, float64(i%170)-85)}
	}
	if err := f.srv.Apply(server.Upserts(ms...)); err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`^<\?([^>]*)>; rel="next"$`)
	seen := map[string]bool{}
	query := "bbox=-180,-90,180,90"
	pages := 0
	for {
		r := f.do(t, "GET", "/markers?"+query, "", "", nil)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", query, r.status, r.body)
		}
		var items []struct{ ID string }
		if err := json.Unmarshal(r.body, &items); err != nil {
			t.Fatal(err)
		}
		if len(items) > 1000 {
			t.Fatalf("a page of %d markers, default limit 1000", len(items))
		}
		for _, it := range items {
			if seen[it.ID] {
				t.Fatalf("%s returned twice", it.ID)
			}
			seen[it.ID] = true
		}
		pages++
		l := r.header.Get("Link")
		if l == "" {
			break
		}
		m := link.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("Link %q", l)
		}
		q, _ := url.ParseQuery(m[1])
		if q.Get("cursor") != r.header.Get("Pushmap-Next-Cursor") || q.Get("bbox") != "-180,-90,180,90" {
			t.Fatalf("Link %q, Pushmap-Next-Cursor %q", l, r.header.Get("Pushmap-Next-Cursor"))
		}
		query = m[1]
	}
	if len(seen) != n || pages != 3 {
		t.Fatalf("%d markers in %d pages, want %d in 3", len(seen), pages, n)
	}
	for _, q := range []string{"bbox=-180,-90,180,90&limit=0", "bbox=-180,-90,180,90&limit=10001", "bbox=-180,-90,180,90&cursor=zzz"} {
		if r := f.do(t, "GET", "/markers?"+q, "", "", nil); r.status != 400 || r.problem(t).Type != ingest.ProblemBase+"invalid-query" {
			t.Errorf("%s: %d %s, want 400 invalid-query", q, r.status, r.body)
		}
	}
	r := f.do(t, "GET", "/markers?bbox=-180,-90,180,90&limit=10000", "", "", nil)
	if r.status != 200 || r.header.Get("Link") != "" {
		t.Fatalf("limit 10000: %d, Link %q", r.status, r.header.Get("Link"))
	}
}
