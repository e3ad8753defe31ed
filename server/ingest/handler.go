package ingest

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
)

// A Feed is what the Handler feeds: a *server.Server. Its methods must be
// safe for concurrent use.
type Feed interface {
	Apply([]server.Update) error
	InvalidateTiles(layer string, tiles ...geo.Tile) error
	InvalidateBox(layer string, box geo.Box) error
	Interest(z int, layer string) ([]server.Watched, error)
	MarkersIn(box geo.Box, layers []string) []wire.Marker
}

var _ Feed = (*server.Server)(nil)

// DefaultMaxBatch is the most items one request may carry unless
// Options.MaxBatch says otherwise.
const DefaultMaxBatch = 10000

// Options configures a Handler. Keys is required; zero values elsewhere
// mean the defaults documented on each field.
type Options struct {
	// Keys are the feed keys: every route but GET /markers needs
	// "Authorization: Bearer <key>" with one of them. New fails when Keys
	// is empty (a feed endpoint is never open) or holds an empty key. Feed
	// keys must not be the credentials map clients use.
	Keys []string
	// ReadKeys, when not empty, are the keys GET /markers also accepts
	// (besides feed keys); when empty, GET /markers is public, like the
	// map itself.
	ReadKeys []string
	// MaxBodyBytes caps a request body; a larger one gets 413
	// body-too-large. Default 8 MiB.
	MaxBodyBytes int64
	// MaxBatch caps the items (markers, ids or tiles) of one request; more
	// get 413 batch-too-large. Default DefaultMaxBatch.
	MaxBatch int
	// Logger receives the handler's logs: refused requests at debug level,
	// failed applies at error level. Default: slog.Default().
	Logger *slog.Logger
}

// A Handler is the HTTP feed endpoint; see the package documentation for
// its routes. It is safe for concurrent use.
type Handler struct {
	feed     Feed
	keys     [][sha256.Size]byte
	readKeys [][sha256.Size]byte
	maxBody  int64
	maxBatch int
	log      *slog.Logger
	bufs     sync.Pool // *bytes.Buffer for request bodies
}

// New returns a Handler that feeds f, configured by opts. It returns an
// error when f is nil, opts has no feed key, or an option is invalid.
func New(f Feed, opts *Options) (*Handler, error) {
	if f == nil {
		return nil, errors.New("ingest: the Feed is nil")
	}
	if opts == nil || len(opts.Keys) == 0 {
		return nil, errors.New("ingest: no feed key: set Options.Keys (the feed endpoint is never open)")
	}
	h := &Handler{feed: f, maxBody: opts.MaxBodyBytes, maxBatch: opts.MaxBatch, log: opts.Logger}
	for i, k := range opts.Keys {
		if k == "" {
			return nil, fmt.Errorf("ingest: feed key %d is empty", i)
		}
		h.keys = append(h.keys, sha256.Sum256([]byte(k)))
	}
	for i, k := range opts.ReadKeys {
		if k == "" {
			return nil, fmt.Errorf("ingest: read key %d is empty", i)
		}
		h.readKeys = append(h.readKeys, sha256.Sum256([]byte(k)))
	}
	switch {
	case h.maxBody < 0:
		return nil, fmt.Errorf("ingest: option MaxBodyBytes is %d, must not be negative", h.maxBody)
	case h.maxBody == 0:
		h.maxBody = 8 << 20
	}
	switch {
	case h.maxBatch < 0:
		return nil, fmt.Errorf("ingest: option MaxBatch is %d, must not be negative", h.maxBatch)
	case h.maxBatch == 0:
		h.maxBatch = DefaultMaxBatch
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

// ServeHTTP routes the request; see the package documentation.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	switch {
	case path == "/markers":
		switch r.Method {
		case http.MethodPost:
			h.feedOnly(w, r, h.postMarkers)
		case http.MethodGet:
			h.getMarkers(w, r)
		default:
			h.notAllowed(w, r, "GET, POST")
		}
	case path == "/markers/remove" && r.Method == http.MethodPost:
		h.feedOnly(w, r, h.postRemove)
	case strings.HasPrefix(path, "/markers/") && !strings.Contains(path[len("/markers/"):], "/"):
		if r.Method != http.MethodDelete {
			allow := "DELETE"
			if path == "/markers/remove" {
				allow = "DELETE, POST"
			}
			h.notAllowed(w, r, allow)
			return
		}
		id, err := url.PathUnescape(path[len("/markers/"):])
		if err != nil || id == "" {
			h.writeProblem(w, r, newProblem("not-found", "%q is not a marker path: /markers/{id}, the id path-escaped", path))
			return
		}
		h.feedOnly(w, r, func(w http.ResponseWriter, r *http.Request) { h.deleteMarker(w, r, id) })
	case path == "/tiles/invalidate":
		if r.Method != http.MethodPost {
			h.notAllowed(w, r, "POST")
			return
		}
		h.feedOnly(w, r, h.postInvalidate)
	case path == "/interest":
		if r.Method != http.MethodGet {
			h.notAllowed(w, r, "GET")
			return
		}
		h.feedOnly(w, r, h.getInterest)
	default:
		h.writeProblem(w, r, newProblem("not-found", "no route %s %s; see the routes in docs/feeds.md", r.Method, path))
	}
}

func (h *Handler) notAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	h.writeProblem(w, r, newProblem("method-not-allowed", "%s %s is not allowed; use %s", r.Method, r.URL.EscapedPath(), allow))
}

// feedOnly runs next if the request carries a feed key.
func (h *Handler) feedOnly(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	if h.authorize(w, r, h.keys) {
		next(w, r)
	}
}

// authorize checks the request's bearer key against the hashes of keys,
// all of them, in constant time. It writes the problem and returns false
// when the key is missing or wrong.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, keys ...[][sha256.Size]byte) bool {
	auth := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="pushmap"`)
		what := "no Authorization header"
		if auth != "" {
			what = "the Authorization header is not \"Bearer <key>\""
		}
		h.writeProblem(w, r, newProblem("unauthorized", "%s; send \"Authorization: Bearer <key>\"", what))
		return false
	}
	sum := sha256.Sum256([]byte(token))
	match := 0
	for _, set := range keys {
		for i := range set {
			match |= subtle.ConstantTimeCompare(sum[:], set[i][:])
		}
	}
	if match != 1 {
		h.writeProblem(w, r, newProblem("forbidden", "the key is not one this endpoint accepts"))
		return false
	}
	return true
}

// A format is a decoder of request bodies.
type format func(body []byte, maxItems int) ([]server.Update, error)

// readBody reads the request body within the size limit into a pooled
// buffer, which the caller must put back with h.bufs.Put. On failure it
// writes the problem and returns nil.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) *bytes.Buffer {
	if r.ContentLength > h.maxBody {
		h.writeProblem(w, r, newProblem("body-too-large", "the body is %d bytes, at most %d allowed", r.ContentLength, h.maxBody))
		return nil
	}
	buf, _ := h.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		h.putBuf(buf)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.writeProblem(w, r, newProblem("body-too-large", "the body is over %d bytes", h.maxBody))
		} else {
			h.writeProblem(w, r, newProblem("malformed-body", "reading the body: %v", err))
		}
		return nil
	}
	return buf
}

func (h *Handler) putBuf(buf *bytes.Buffer) {
	if buf.Cap() <= 1<<20 {
		h.bufs.Put(buf)
	}
}

// mediaType returns the request's media type, lower case, without
// parameters.
func mediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(ct))
	}
	return mt
}

// requireJSON writes a 415 problem and returns false unless the request
// body is JSON.
func (h *Handler) requireJSON(w http.ResponseWriter, r *http.Request) bool {
	if mt := mediaType(r); mt != "application/json" {
		w.Header().Set("Accept-Post", "application/json")
		h.writeProblem(w, r, newProblem("unsupported-media-type", "content type %q; send application/json", mt))
		return false
	}
	return true
}

// apply applies a validated batch and answers {"applied": n}.
func (h *Handler) apply(w http.ResponseWriter, r *http.Request, updates []server.Update) {
	if err := h.feed.Apply(updates); err != nil {
		h.log.Error("ingest: apply failed", "path", r.URL.Path, "items", len(updates), "err", err)
		h.writeProblem(w, r, newProblem("apply-failed", "%v", err))
		return
	}
	writeApplied(w, len(updates))
}

func writeApplied(w http.ResponseWriter, n int) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"applied\":%d}\n", n)
}
