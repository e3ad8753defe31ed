package baseline

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// pollAnswer is one answer of a Poll as a client sees it.
type pollAnswer struct {
	status   int
	cursor   string
	full     bool
	encoding string // Content-Encoding
	versions map[string]uint64
}

func poll(t *testing.T, url, box, since string, header map[string]string) pollAnswer {
	t.Helper()
	u := url + "?bbox=" + box
	if since != "" {
		u += "&since=" + since
	}
	req, _ := http.NewRequest("GET", u, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// A transport that does not ask for gzip itself, so that the test
	// sees what the server sends.
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := pollAnswer{status: resp.StatusCode, cursor: resp.Header.Get("Poll-Cursor"), full: resp.Header.Get("Poll-Full") == "1",
		encoding: resp.Header.Get("Content-Encoding"), versions: map[string]uint64{}}
	var body io.Reader = resp.Body
	if a.encoding == "gzip" {
		if body, err = gzip.NewReader(resp.Body); err != nil {
			t.Fatal(err)
		}
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		var items []struct {
			ID      string  `json:"id"`
			Lon     float64 `json:"lon"`
			Version uint64  `json:"version"`
		}
		if err := json.Unmarshal(b, &items); err != nil {
			t.Fatalf("%s: %v: %s", u, err, b)
		}
		for _, it := range items {
			a.versions[it.ID] = it.Version
		}
	}
	return a
}

func (a pollAnswer) ids() []string {
	var ids []string
	for id := range a.versions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func TestPoll(t *testing.T) {
	p := NewPoll(3)
	hs := httptest.NewServer(p)
	defer hs.Close()
	const box = "2.3,48.8,2.4,48.9"
	in, in2, out := geo.Pt(2.35, 48.85), geo.Pt(2.36, 48.86), geo.Pt(2.5, 48.85)
	p.Publish([]wire.Marker{marker("a", in, 1), marker("b", in, 1), marker("c", out, 1)})

	full := poll(t, hs.URL, box, "", nil)
	if full.status != 200 || !slices.Equal(full.ids(), []string{"a", "b"}) || full.cursor != "1" {
		t.Fatalf("whole box: %+v, want a and b at cursor 1", full)
	}
	// a moves inside, b leaves, c enters: all three are news for the box.
	p.Publish([]wire.Marker{marker("a", in2, 2), marker("b", out, 2), marker("c", in, 2)})
	// d moves far away: no news.
	p.Publish([]wire.Marker{marker("d", out, 1)})
	ch := poll(t, hs.URL, box, full.cursor, nil)
	if ch.status != 200 || !slices.Equal(ch.ids(), []string{"a", "b", "c"}) || ch.cursor != "3" || ch.full {
		t.Fatalf("changes since 1: %+v, want a, b (leaving) and c at cursor 3", ch)
	}
	if ch.versions["b"] != 2 {
		t.Errorf("b's leave came at version %d, want 2", ch.versions["b"])
	}
	// Nothing changed in the box: 304 for a conditional request, an empty
	// array otherwise.
	if a := poll(t, hs.URL, box, ch.cursor, map[string]string{"If-None-Match": `"3"`}); a.status != http.StatusNotModified {
		t.Errorf("a conditional poll with no change: status %d, want 304", a.status)
	}
	if a := poll(t, hs.URL, box, ch.cursor, nil); a.status != 200 || len(a.versions) != 0 {
		t.Errorf("a poll with no change: %+v, want an empty array", a)
	}
	// A cursor older than the changes kept gets the whole box.
	for v := range uint64(4) {
		p.Publish([]wire.Marker{marker("d", out, v+2)})
	}
	if a := poll(t, hs.URL, box, "1", nil); a.status != 200 || !a.full || !slices.Equal(a.ids(), []string{"a", "c"}) {
		t.Errorf("a poll since a forgotten cursor: %+v, want the whole box (a, c) with Poll-Full", a)
	}
	// Bad requests.
	for _, q := range [][2]string{{"1,2,3", ""}, {box, "x"}, {box, "99"}, {"-180,-85,180,85", ""}} {
		if a := poll(t, hs.URL, q[0], q[1], nil); a.status != http.StatusBadRequest {
			t.Errorf("bbox=%s since=%s: status %d, want 400", q[0], q[1], a.status)
		}
	}
}

func TestPollGzip(t *testing.T) {
	p := NewPoll(0)
	hs := httptest.NewServer(p)
	defer hs.Close()
	var ms []wire.Marker
	for i := range 100 {
		ms = append(ms, marker("m"+string(rune('A'+i/26))+string(rune('a'+i%26)), geo.Pt(2.3+float64(i)*1e-4, 48.85), 1))
	}
	p.Publish(ms)
	const box = "2.29,48.8,2.4,48.9"
	gz := poll(t, hs.URL, box, "", map[string]string{"Accept-Encoding": "gzip"})
	if gz.encoding != "gzip" || len(gz.versions) != 100 {
		t.Errorf("with Accept-Encoding gzip: encoding %q, %d markers; want gzip, 100", gz.encoding, len(gz.versions))
	}
	plain := poll(t, hs.URL, box, "", map[string]string{"Accept-Encoding": "gzip;q=0"})
	if plain.encoding != "" || len(plain.versions) != 100 {
		t.Errorf("with gzip;q=0: encoding %q, %d markers; want none, 100", plain.encoding, len(plain.versions))
	}
	// A small answer is not worth compressing.
	small := poll(t, hs.URL, "2.29,48.8,2.30005,48.9", "", map[string]string{"Accept-Encoding": "gzip"})
	if small.encoding != "" || len(small.versions) != 1 {
		t.Errorf("a one-marker answer: encoding %q, %d markers; want none, 1", small.encoding, len(small.versions))
	}
}
