package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Handler returns an http.Handler that serves the files of root, for GET and
// HEAD requests.
//
// A request for X is answered with X.br (Content-Encoding: br) when that file
// exists and Accept-Encoding allows br, else with X.gz (gzip) likewise, else
// with X itself. A variant older than X (by modification time, when the file
// system reports one) is ignored, so a stale X.br never hides a rebuilt X.
// Every file response carries Vary: Accept-Encoding, the Content-Type of X
// (application/wasm for .wasm, text/javascript for .js and .mjs, ...) and a
// strong ETag computed from the bytes of the variant served; If-None-Match
// gets 304 Not Modified, and Range requests work on the variant's bytes.
//
// Cache-Control is "public, max-age=31536000, immutable" for a file whose
// name carries its own content hash, base.<hex>.ext with hex the first 10 to
// 64 lowercase hex digits of the SHA-256 of X's bytes (as build.mjs names
// them): a new build makes a new name, so the browser never needs to ask
// again. The hash is checked against the content (once per file version), so
// a name that only looks hashed is not cached forever. Everything else gets
// "no-cache": HTML pages and unhashed files are revalidated on every load (a
// cheap 304 through the ETag), as they may change under the same name.
//
// "/" and other directories are served by their index.html; a directory
// without one, and anything missing, is 404 Not Found: nothing is listed.
//
// ETags are cached per file and recomputed when a file's size or
// modification time changes; root's files are otherwise taken as immutable.
// The handler is safe for concurrent use.
func Handler(root fs.FS) http.Handler {
	return &handler{root: root, etags: make(map[string]etagEntry)}
}

type handler struct {
	root fs.FS

	mu    sync.Mutex           // guards etags
	etags map[string]etagEntry // SHA-256 of files, by file name
}

type etagEntry struct {
	size int64
	mod  time.Time
	sum  [sha256.Size]byte // of the file's bytes
}

// Cache-Control values; see Handler.
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
	minHashDigits   = 10
	maxHashDigits   = 2 * sha256.Size
	lowerHexDigits  = "0123456789abcdef"
)

// encodings are the precompressed variants, in order of preference.
var encodings = []struct{ name, suffix string }{
	{"br", ".br"},
	{"gzip", ".gz"},
}

// contentTypes take precedence over the mime package, whose answers depend
// on the machine's mime.types.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".ts":   "text/plain; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".json": "application/json",
	".map":  "application/json",
	".wasm": "application/wasm",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".txt":  "text/plain; charset=utf-8",
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	upath := r.URL.Path
	if !strings.HasPrefix(upath, "/") {
		upath = "/" + upath
	}
	name := strings.TrimPrefix(path.Clean(upath), "/")
	if name == "" {
		name = "."
	}
	info, err := fs.Stat(h.root, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if info.IsDir() {
		if !strings.HasSuffix(upath, "/") {
			// Relative URLs in the index page need the trailing slash.
			// Relative, as http.FileServer does, so that it also works
			// behind http.StripPrefix.
			target := path.Base(upath) + "/"
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			w.Header().Set("Location", target)
			w.WriteHeader(http.StatusMovedPermanently)
			return
		}
		name = path.Join(name, "index.html")
		if info, err = fs.Stat(h.root, name); err != nil {
			http.NotFound(w, r)
			return
		}
	}
	if !info.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}

	hdr := w.Header()
	hdr.Set("Content-Type", contentType(name))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Add("Vary", "Accept-Encoding")
	cache := cacheRevalidate
	if h.contentHashed(name, info) {
		cache = cacheImmutable
	}
	hdr.Set("Cache-Control", cache)

	serve, serveInfo := name, info
	for _, enc := range encodings {
		if !acceptsEncoding(r.Header.Get("Accept-Encoding"), enc.name) {
			continue
		}
		vi, err := fs.Stat(h.root, name+enc.suffix)
		if err != nil || !vi.Mode().IsRegular() || isStale(vi, info) {
			continue
		}
		serve, serveInfo = name+enc.suffix, vi
		hdr.Set("Content-Encoding", enc.name)
		break
	}

	tag, err := h.etag(serve, serveInfo)
	if err != nil {
		serverError(w, serve, err)
		return
	}
	hdr.Set("ETag", tag)

	f, err := h.root.Open(serve)
	if err != nil {
		serverError(w, serve, err)
		return
	}
	defer f.Close()
	content, ok := f.(io.ReadSeeker)
	if !ok {
		data, err := io.ReadAll(f)
		if err != nil {
			serverError(w, serve, err)
			return
		}
		content = bytes.NewReader(data)
	}
	if hdr.Get("Content-Encoding") != "" && r.Header.Get("Range") == "" && r.Header.Get("If-Range") == "" &&
		r.Header.Get("If-Match") == "" && r.Header.Get("If-Unmodified-Since") == "" {
		// ServeContent leaves Content-Length out when Content-Encoding is
		// set (in case a middleware compresses on the fly); here the bytes
		// are the encoded ones, so the length is known. A 304 drops it.
		hdr.Set("Content-Length", strconv.FormatInt(serveInfo.Size(), 10))
	}
	http.ServeContent(w, r, serve, serveInfo.ModTime(), content)
}

// serverError answers 500 for a file that could not be read, without the
// headers meant for the file.
func serverError(w http.ResponseWriter, name string, err error) {
	for _, k := range []string{"Content-Encoding", "ETag", "Cache-Control"} {
		w.Header().Del(k)
	}
	http.Error(w, "500 reading "+name+": "+err.Error(), http.StatusInternalServerError)
}

// isStale reports whether the variant was modified before the original.
// File systems without modification times (embed.FS) have no stale variants.
func isStale(variant, orig fs.FileInfo) bool {
	vm, om := variant.ModTime(), orig.ModTime()
	return !vm.IsZero() && !om.IsZero() && vm.Before(om)
}

// contentHashed reports whether name is base.<hex>.ext with hex a prefix of
// the hex SHA-256 of the file's bytes. A file that cannot be read is not.
func (h *handler) contentHashed(name string, info fs.FileInfo) bool {
	want, ok := nameHash(name)
	if !ok {
		return false
	}
	sum, err := h.digest(name, info)
	if err != nil {
		return false
	}
	return strings.HasPrefix(hex.EncodeToString(sum[:]), want)
}

// nameHash returns the hex digits between the last two dots of name's base
// (base.<hex>.ext), if they look like a content hash.
func nameHash(name string) (string, bool) {
	stem := strings.TrimSuffix(path.Base(name), path.Ext(name))
	i := strings.LastIndexByte(stem, '.')
	if i < 0 {
		return "", false
	}
	digits := stem[i+1:]
	if len(digits) < minHashDigits || len(digits) > maxHashDigits {
		return "", false
	}
	for _, c := range digits {
		if !strings.ContainsRune(lowerHexDigits, c) {
			return "", false
		}
	}
	return digits, true
}

// etag returns the strong ETag of the file name: from its SHA-256.
func (h *handler) etag(name string, info fs.FileInfo) (string, error) {
	sum, err := h.digest(name, info)
	if err != nil {
		return "", err
	}
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`, nil
}

// digest returns the SHA-256 of the file name, hashing it unless a hash for
// the same size and modification time is cached.
func (h *handler) digest(name string, info fs.FileInfo) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	h.mu.Lock()
	e, ok := h.etags[name]
	h.mu.Unlock()
	if ok && e.size == info.Size() && e.mod.Equal(info.ModTime()) {
		return e.sum, nil
	}
	f, err := h.root.Open(name)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	hash := sha256.New()
	n, err := io.Copy(hash, f)
	if err != nil {
		return sum, err
	}
	if n != info.Size() {
		return sum, errors.New("file changed while it was read")
	}
	hash.Sum(sum[:0])
	h.mu.Lock()
	h.etags[name] = etagEntry{size: info.Size(), mod: info.ModTime(), sum: sum}
	h.mu.Unlock()
	return sum, nil
}

func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if ct, ok := contentTypes[ext]; ok {
		return ct
	}
	if ct := mime.TypeByExtension(ext); ct != "" {
		return ct
	}
	return "application/octet-stream"
}

// acceptsEncoding reports whether an Accept-Encoding header value allows the
// content coding enc: listed with a q-value above 0, or not listed while "*"
// is (RFC 9110, section 12.5.3).
func acceptsEncoding(header, enc string) bool {
	star := -1.0
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.TrimSpace(coding)
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					f = 0
				}
				q = f
			}
		}
		switch {
		case strings.EqualFold(coding, enc):
			return q > 0
		case coding == "*":
			star = q
		}
	}
	return star > 0
}
