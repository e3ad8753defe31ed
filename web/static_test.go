package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/fstest"
	"time"
)

var (
	t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	t1 = t0.Add(time.Minute)
)

// Files named by their content's hash, as build.mjs names them.
const (
	hashedJS   = "app.f4c5cf9bb78e.js"
	hashedWasm = "pushmap.df33fa3bd00c.wasm"
)

func testFS() fstest.MapFS {
	file := func(data string, mod time.Time) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(data), ModTime: mod}
	}
	return fstest.MapFS{
		"index.html":             file("<!doctype html>index", t0),
		"pushmap.wasm":           file("\x00asm wasm", t0),
		"pushmap.wasm.br":        file("BR wasm", t0),
		"pushmap.wasm.gz":        file("GZ wasm", t0),
		"pushmap.js":             file("export {}", t0),
		"pushmap.js.gz":          file("GZ js", t0),
		"basemap.json":           file(`{"type":"FeatureCollection"}`, t1),
		"basemap.json.br":        file("stale BR json", t0), // older than basemap.json
		"vendor/maplibre-gl.mjs": file("export {}", t0),
		"vendor/maplibre-gl.css": file("body{}", t0),
		"adapters/maplibre.js":   file("export {}", t0),
		"docs/index.html":        file("docs index", t0),
		"unknown.zzz9":           file("??", t0),
		// Named by their content's SHA-256 (sha256("export {}") starts
		// f4c5cf9bb78e, sha256("\x00asm wasm") df33fa3bd00c), and not.
		hashedJS:                      file("export {}", t0),
		hashedWasm:                    file("\x00asm wasm", t0),
		hashedWasm + ".br":            file("BR wasm", t0),
		"vendor/lib.0123456789ab.mjs": file("export {}", t0), // looks hashed, is not
		"app.F4C5CF9BB78E.js":         file("export {}", t0), // upper case: not a hash of ours
		"short.f4c5cf9bb.js":          file("export {}", t0), // 9 digits: too short
	}
}

func get(t *testing.T, h http.Handler, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandlerEncodingNegotiation(t *testing.T) {
	h := Handler(testFS())
	tests := []struct {
		name, path, accept string
		wantEncoding       string
		wantBody           string
	}{
		{"br preferred", "/pushmap.wasm", "gzip, deflate, br, zstd", "br", "BR wasm"},
		{"br only", "/pushmap.wasm", "br", "br", "BR wasm"},
		{"gzip fallback", "/pushmap.wasm", "gzip, deflate", "gzip", "GZ wasm"},
		{"br refused by q=0", "/pushmap.wasm", "br;q=0, gzip;q=0.8", "gzip", "GZ wasm"},
		{"uppercase and spaces", "/pushmap.wasm", " GZIP ; q=0.5", "gzip", "GZ wasm"},
		{"star", "/pushmap.wasm", "*", "br", "BR wasm"},
		{"star but br refused", "/pushmap.wasm", "*, br;q=0", "gzip", "GZ wasm"},
		{"identity: no header", "/pushmap.wasm", "", "", "\x00asm wasm"},
		{"identity: neither accepted", "/pushmap.wasm", "deflate, identity", "", "\x00asm wasm"},
		{"identity: all refused", "/pushmap.wasm", "br;q=0, gzip;q=0.000", "", "\x00asm wasm"},
		{"only gz variant exists", "/pushmap.js", "br, gzip", "gzip", "GZ js"},
		{"no variant exists", "/adapters/maplibre.js", "br, gzip", "", "export {}"},
		{"stale variant ignored", "/basemap.json", "br", "", `{"type":"FeatureCollection"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, h, tt.path, map[string]string{"Accept-Encoding": tt.accept})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Encoding"); got != tt.wantEncoding {
				t.Errorf("Content-Encoding %q, want %q", got, tt.wantEncoding)
			}
			if got := body(t, resp); got != tt.wantBody {
				t.Errorf("body %q, want %q", got, tt.wantBody)
			}
			if got := resp.Header.Get("Vary"); got != "Accept-Encoding" {
				t.Errorf("Vary %q, want Accept-Encoding", got)
			}
		})
	}
}

func TestHandlerHeaders(t *testing.T) {
	h := Handler(testFS())
	tests := []struct {
		path, accept, wantType, wantCache string
	}{
		{"/", "", "text/html; charset=utf-8", "no-cache"},
		{"/index.html", "", "text/html; charset=utf-8", "no-cache"},
		{"/pushmap.wasm", "br", "application/wasm", "no-cache"},
		{"/pushmap.wasm", "gzip", "application/wasm", "no-cache"},
		{"/pushmap.js", "gzip", "text/javascript; charset=utf-8", "no-cache"},
		{"/vendor/maplibre-gl.mjs", "", "text/javascript; charset=utf-8", "no-cache"},
		{"/vendor/maplibre-gl.css", "", "text/css; charset=utf-8", "no-cache"},
		{"/" + hashedJS, "", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"},
		{"/" + hashedWasm, "", "application/wasm", "public, max-age=31536000, immutable"},
		{"/" + hashedWasm, "br", "application/wasm", "public, max-age=31536000, immutable"},
		{"/vendor/lib.0123456789ab.mjs", "", "text/javascript; charset=utf-8", "no-cache"},
		{"/app.F4C5CF9BB78E.js", "", "text/javascript; charset=utf-8", "no-cache"},
		{"/short.f4c5cf9bb.js", "", "text/javascript; charset=utf-8", "no-cache"},
		{"/basemap.json", "", "application/json", "no-cache"},
		{"/unknown.zzz9", "", "application/octet-stream", "no-cache"},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.accept, func(t *testing.T) {
			resp := get(t, h, tt.path, map[string]string{"Accept-Encoding": tt.accept})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type %q, want %q", got, tt.wantType)
			}
			if got := resp.Header.Get("Cache-Control"); got != tt.wantCache {
				t.Errorf("Cache-Control %q, want %q", got, tt.wantCache)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
		})
	}
}

func TestHandlerIndexAndNotFound(t *testing.T) {
	h := Handler(testFS())
	tests := []struct {
		name, path   string
		wantStatus   int
		wantBody     string
		wantLocation string
	}{
		{"root serves index.html", "/", 200, "<!doctype html>index", ""},
		{"directory with index", "/docs/", 200, "docs index", ""},
		{"directory without slash redirects", "/docs", 301, "", "docs/"},
		{"redirect keeps the query", "/docs?x=1", 301, "", "docs/?x=1"},
		{"directory without index: no listing", "/vendor/", 404, "", ""},
		{"missing file", "/nope.js", 404, "", ""},
		{"missing variant only", "/pushmap.wasm.zst", 404, "", ""},
		{"dot-dot cleaned", "/vendor/../pushmap.js", 200, "export {}", ""},
		{"escape attempt stays inside", "/../../etc/passwd", 404, "", ""},
		{"variant requested directly", "/pushmap.wasm.br", 200, "BR wasm", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, h, tt.path, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			b := body(t, resp)
			if tt.wantBody != "" && b != tt.wantBody {
				t.Errorf("body %q, want %q", b, tt.wantBody)
			}
			if got := resp.Header.Get("Location"); got != tt.wantLocation {
				t.Errorf("Location %q, want %q", got, tt.wantLocation)
			}
			if tt.wantStatus == 404 && resp.Header.Get("Content-Encoding") != "" {
				t.Errorf("404 with Content-Encoding %q", resp.Header.Get("Content-Encoding"))
			}
		})
	}
}

func TestHandlerETag(t *testing.T) {
	h := Handler(testFS())
	tags := map[string]string{}
	for _, accept := range []string{"br", "gzip", ""} {
		resp := get(t, h, "/pushmap.wasm", map[string]string{"Accept-Encoding": accept})
		tag := resp.Header.Get("ETag")
		if len(tag) < 3 || tag[0] != '"' || tag[len(tag)-1] != '"' {
			t.Fatalf("Accept-Encoding %q: ETag %q is not a strong entity tag", accept, tag)
		}
		if other, dup := tags[tag]; dup {
			t.Errorf("Accept-Encoding %q and %q share ETag %s", accept, other, tag)
		}
		tags[tag] = accept

		// Revalidation with the tag just received.
		resp = get(t, h, "/pushmap.wasm", map[string]string{"Accept-Encoding": accept, "If-None-Match": tag})
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("Accept-Encoding %q, If-None-Match %s: status %d, want 304", accept, tag, resp.StatusCode)
		}
		if b := body(t, resp); b != "" {
			t.Errorf("304 with body %q", b)
		}
		if got := resp.Header.Get("ETag"); got != tag {
			t.Errorf("304 ETag %q, want %q", got, tag)
		}
	}
	// The br variant's tag does not validate the gzip variant.
	var brTag string
	for tag, accept := range tags {
		if accept == "br" {
			brTag = tag
		}
	}
	resp := get(t, h, "/pushmap.wasm", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": brTag})
	if resp.StatusCode != http.StatusOK || body(t, resp) != "GZ wasm" {
		t.Errorf("gzip request with the br ETag: status %d, want 200 with the gzip variant", resp.StatusCode)
	}
}

func TestHandlerETagFollowsChanges(t *testing.T) {
	fsys := testFS()
	h := Handler(fsys)
	before := get(t, h, "/pushmap.js", nil).Header.Get("ETag")
	fsys["pushmap.js"] = &fstest.MapFile{Data: []byte("export const changed = 1"), ModTime: t1}
	after := get(t, h, "/pushmap.js", nil).Header.Get("ETag")
	if before == after {
		t.Errorf("ETag %s did not change with the file", before)
	}
}

func TestHandlerMethods(t *testing.T) {
	h := Handler(testFS())
	req := httptest.NewRequest(http.MethodHead, "/pushmap.wasm", nil)
	req.Header.Set("Accept-Encoding", "br")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Encoding") != "br" || rec.Header().Get("Content-Length") != "7" {
		t.Errorf("HEAD: status %d, body %d bytes, Content-Encoding %q, Content-Length %q; want 200, 0, br, 7",
			rec.Code, rec.Body.Len(), rec.Header().Get("Content-Encoding"), rec.Header().Get("Content-Length"))
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(m, "/index.html", nil))
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: status %d, Allow %q; want 405, GET, HEAD", m, rec.Code, rec.Header().Get("Allow"))
		}
	}
}

func TestHandlerContentLengthOfVariant(t *testing.T) {
	srv := httptest.NewServer(Handler(testFS()))
	defer srv.Close()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/pushmap.wasm", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "br")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != 7 || body(t, resp) != "BR wasm" {
		t.Errorf("br variant: Content-Length %d, want 7 with body %q", resp.ContentLength, "BR wasm")
	}
}

func TestHandlerRangeOnVariant(t *testing.T) {
	h := Handler(testFS())
	resp := get(t, h, "/pushmap.wasm", map[string]string{"Accept-Encoding": "br", "Range": "bytes=0-1"})
	if resp.StatusCode != http.StatusPartialContent || body(t, resp) != "BR" {
		t.Errorf("Range on br variant: status %d, want 206 with the variant's first 2 bytes", resp.StatusCode)
	}
}

func TestAcceptsEncoding(t *testing.T) {
	tests := []struct {
		header, enc string
		want        bool
	}{
		{"", "br", false},
		{"br", "br", true},
		{"gzip, br", "br", true},
		{"gzip;q=1.0, br;q=0.1", "br", true},
		{"br;q=0", "br", false},
		{"br; q=0.0", "br", false},
		{"br;q=bogus", "br", false},
		{"*", "gzip", true},
		{"*;q=0", "gzip", false},
		{"*, gzip;q=0", "gzip", false},
		{"gzip;q=0, *", "gzip", false},
		{"x-gzip", "gzip", false},
		{"BR", "br", true},
	}
	for _, tt := range tests {
		if got := acceptsEncoding(tt.header, tt.enc); got != tt.want {
			t.Errorf("acceptsEncoding(%q, %q) = %v, want %v", tt.header, tt.enc, got, tt.want)
		}
	}
}
