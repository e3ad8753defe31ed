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
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
)

// A Feed is what the Handler feeds: a *server.Server. Its methods must be
// safe for concurrent use.
type Feed interface {
	Apply([]server.Update) error
	// ApplyLayers applies a batch only if it writes to layers alone;
	// otherwise it returns a *server.LayerError and applies nothing.
	ApplyLayers(layers []string, updates []server.Update) error
	InvalidateTiles(layer string, tiles ...geo.Tile) error
	InvalidateBox(layer string, box geo.Box) error
	InterestIn(z int, layers []string) ([]server.Watched, error)
	MarkersPage(q server.MarkersQuery) (server.Page, error)
}

var _ Feed = (*server.Server)(nil)

// DefaultMaxBatch is the most items one request may carry unless
// Options.MaxBatch says otherwise.
const DefaultMaxBatch = 10000

// A Key is a bearer key of the feed endpoint and the layers it may use.
type Key struct {
	// Secret is what the request sends: "Authorization: Bearer <Secret>".
	// The Handler keeps only its SHA-256 hash, and compares hashes in
	// constant time.
	Secret string
	// Layers lists the marker and tile layers the key may write (a feed
	// key) or read (a read key); nil means every layer, an empty non-nil
	// slice none.
	Layers []string
}

// ParseKey parses the command-line form of a key: "secret" for a key of
// every layer, or "secret:layer1+layer2" for a key of those layers alone
// ("secret:" is a key of the layer named "" alone). A secret therefore
// cannot hold ':' (nor ',', which separates keys in a flag); a layer name
// cannot hold '+'.
func ParseKey(s string) (Key, error) {
	secret, layers, scoped := strings.Cut(s, ":")
	if secret == "" {
		return Key{}, errors.New("a key is empty")
	}
	k := Key{Secret: secret}
	if scoped {
		k.Layers = strings.Split(layers, "+")
		for _, l := range k.Layers {
			if len(l) > wire.MaxLayerLen {
				return Key{}, fmt.Errorf("layer name %.20q… is %d bytes, at most %d allowed", l, len(l), wire.MaxLayerLen)
			}
		}
	}
	return k, nil
}

// Options configures a Handler. Keys is required; zero values elsewhere
// mean the defaults documented on each field.
type Options struct {
	// Keys are the feed keys: every route but GET /markers needs
	// "Authorization: Bearer <key>" with one of them, and a key limited to
	// some layers may touch only those (see the package documentation).
	// New fails when Keys is empty (a feed endpoint is never open) or
	// holds an empty key. Feed keys must not be the credentials map
	// clients use.
	Keys []Key
	// ReadKeys are more keys GET /markers accepts (besides feed keys), each
	// reading only its layers.
	ReadKeys []Key
	// Authorize, when set, is the server's client authorization
	// (server.Server.Authorizer): GET /markers then accepts a client's
	// credential too, as the WebSocket does, and answers only what its
	// auth.Grant allows. GET /markers is public when both ReadKeys and
	// Authorize are unset, like a map without client authentication;
	// otherwise it needs a read key, a feed key or a client credential.
	Authorize auth.Authorizer
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
	feed      Feed
	keys      []hashedKey
	readKeys  []hashedKey
	authorize auth.Authorizer
	maxBody   int64
	maxBatch  int
	log       *slog.Logger
	bufs      sync.Pool // *bytes.Buffer for request bodies
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
	h := &Handler{feed: f, authorize: opts.Authorize, maxBody: opts.MaxBodyBytes, maxBatch: opts.MaxBatch, log: opts.Logger}
	var err error
	if h.keys, err = hashKeys("feed", opts.Keys); err != nil {
		return nil, err
	}
	if h.readKeys, err = hashKeys("read", opts.ReadKeys); err != nil {
		return nil, err
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
		h.feedOnly(w, r, func(w http.ResponseWriter, r *http.Request, k *hashedKey) { h.deleteMarker(w, r, k, id) })
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

// A hashedKey is a Key as the Handler keeps it.
type hashedKey struct {
	sum    [sha256.Size]byte
	layers []string // nil: every layer
}

// allows reports whether the key may use layer.
func (k *hashedKey) allows(layer string) bool {
	return k.layers == nil || slices.Contains(k.layers, layer)
}

func hashKeys(kind string, keys []Key) ([]hashedKey, error) {
	out := make([]hashedKey, 0, len(keys))
	for i, k := range keys {
		if k.Secret == "" {
			return nil, fmt.Errorf("ingest: %s key %d is empty", kind, i)
		}
		out = append(out, hashedKey{sum: sha256.Sum256([]byte(k.Secret)), layers: slices.Clone(k.Layers)})
	}
	return out, nil
}

// matchKey returns the key of sets whose secret is token, or nil. It
// compares the token's hash with every key's, in constant time.
func matchKey(token string, sets ...[]hashedKey) *hashedKey {
	sum := sha256.Sum256([]byte(token))
	var found *hashedKey
	for _, set := range sets {
		for i := range set {
			if subtle.ConstantTimeCompare(sum[:], set[i].sum[:]) == 1 {
				found = &set[i]
			}
		}
	}
	return found
}

// A keyedHandler serves a request made with feed key k.
type keyedHandler func(w http.ResponseWriter, r *http.Request, k *hashedKey)

// feedOnly runs next if the request carries a feed key.
func (h *Handler) feedOnly(w http.ResponseWriter, r *http.Request, next keyedHandler) {
	if k := h.feedKey(w, r); k != nil {
		next(w, r, k)
	}
}

// feedKey returns the feed key of the request's Authorization header. It
// writes the problem and returns nil when the key is missing or wrong.
// Feed keys are read from the header only, never from the URL, which logs
// keep.
func (h *Handler) feedKey(w http.ResponseWriter, r *http.Request) *hashedKey {
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
		return nil
	}
	k := matchKey(token, h.keys)
	if k == nil {
		h.writeProblem(w, r, newProblem("forbidden", "the key is not one this endpoint accepts"))
	}
	return k
}

// readGrant returns what the request may read with GET /markers: the
// layers of its read or feed key, or the grant of its client credential.
// It writes the problem and returns false when it may read nothing.
func (h *Handler) readGrant(w http.ResponseWriter, r *http.Request) (auth.Grant, bool) {
	if len(h.readKeys) == 0 && h.authorize == nil {
		return auth.Grant{}, true // public, like the map
	}
	token := auth.TokenFrom(r)
	if token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="pushmap"`)
		h.writeProblem(w, r, newProblem("unauthorized", "no credential; send \"Authorization: Bearer <key or token>\" or ?access_token=<token>"))
		return auth.Grant{}, false
	}
	if k := matchKey(token, h.readKeys, h.keys); k != nil {
		return auth.Grant{Layers: k.layers}, true
	}
	if h.authorize == nil {
		h.writeProblem(w, r, newProblem("forbidden", "the key is not one this endpoint accepts"))
		return auth.Grant{}, false
	}
	g, err := h.authorize(r, token)
	if err != nil {
		h.writeProblem(w, r, newProblem("forbidden", "the credential was refused: %v", err))
		return auth.Grant{}, false
	}
	if g.Expired(time.Now()) {
		h.writeProblem(w, r, newProblem("forbidden", "the credential expired at %s", g.Expires.UTC().Format(time.RFC3339)))
		return auth.Grant{}, false
	}
	return g, true
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

// apply applies a validated batch made with key k and answers {"applied":
// n}: all of it, or nothing with a layer-forbidden problem when part of it
// writes outside k's layers.
func (h *Handler) apply(w http.ResponseWriter, r *http.Request, k *hashedKey, updates []server.Update) {
	var err error
	if k.layers == nil {
		err = h.feed.Apply(updates)
	} else {
		err = h.feed.ApplyLayers(k.layers, updates)
	}
	var le *server.LayerError
	if errors.As(err, &le) {
		p := newProblem("layer-forbidden", "%d items write outside the layers of this key; nothing was applied", le.Count)
		for _, d := range le.Denied {
			p.Errors = append(p.Errors, ItemError{Index: d.Index, ID: cut(d.ID, 64), Reason: d.Reason})
		}
		h.writeProblem(w, r, p)
		return
	}
	var temp interface{ Temporary() bool }
	if errors.As(err, &temp) && temp.Temporary() {
		// The feed's storage (the cluster's Redis) cannot take the batch
		// now: nothing was acknowledged, and a retry may succeed.
		h.log.Warn("ingest: storage unavailable", "path", r.URL.Path, "items", len(updates), "err", err)
		w.Header().Set("Retry-After", "1")
		h.writeProblem(w, r, newProblem("unavailable", "%v", err))
		return
	}
	if err != nil {
		h.log.Error("ingest: apply failed", "path", r.URL.Path, "items", len(updates), "err", err)
		h.writeProblem(w, r, newProblem("apply-failed", "%v", err))
		return
	}
	writeApplied(w, len(updates))
}

// cut returns s cut to at most n bytes, on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func writeApplied(w http.ResponseWriter, n int) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"applied\":%d}\n", n)
}
