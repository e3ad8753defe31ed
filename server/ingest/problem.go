package ingest

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/pushmap/pushmap/server/internal/feeditem"
)

// ProblemBase is the prefix of every problem type URI this package sends;
// the name after it is listed in the package documentation.
const ProblemBase = "https://pushmap.dev/problems/"

// A Problem is an RFC 9457 problem details object, the body of every error
// answer.
type Problem struct {
	Type   string      `json:"type"`   // ProblemBase + a name, e.g. "invalid-items"
	Title  string      `json:"title"`  // the same for every problem of a type
	Status int         `json:"status"` // the HTTP status
	Detail string      `json:"detail"` // what went wrong this time
	Errors []ItemError `json:"errors,omitempty"`
	// Offset is the byte offset of a malformed-body problem, when known.
	Offset *int64 `json:"offset,omitempty"`
}

// An ItemError names one bad item of a batch and why it was refused.
type ItemError struct {
	Index  int    `json:"index"`        // its position in the batch, from 0
	ID     string `json:"id,omitempty"` // its id when it has one, cut to 64 bytes
	Reason string `json:"reason"`       // what is wrong, naming the field and value
}

// problem types: name → status and title.
var problemTitles = map[string]struct {
	status int
	title  string
}{
	"unauthorized":           {http.StatusUnauthorized, "Missing or malformed feed key"},
	"forbidden":              {http.StatusForbidden, "Wrong key"},
	"layer-forbidden":        {http.StatusForbidden, "Outside the key's layers"},
	"not-found":              {http.StatusNotFound, "No such route"},
	"method-not-allowed":     {http.StatusMethodNotAllowed, "Method not allowed"},
	"body-too-large":         {http.StatusRequestEntityTooLarge, "Body too large"},
	"batch-too-large":        {http.StatusRequestEntityTooLarge, "Batch too large"},
	"unsupported-media-type": {http.StatusUnsupportedMediaType, "Unsupported content type"},
	"malformed-body":         {http.StatusBadRequest, "Malformed body"},
	"invalid-items":          {http.StatusBadRequest, "Invalid items"},
	"invalid-query":          {http.StatusBadRequest, "Invalid query"},
	"too-many-tiles":         {http.StatusBadRequest, "Too many tiles"},
	"apply-failed":           {http.StatusInternalServerError, "Could not apply the batch"},
	"unavailable":            {http.StatusServiceUnavailable, "Storage unavailable, retry"},
}

func newProblem(name, format string, args ...any) *Problem {
	t := problemTitles[name]
	return &Problem{Type: ProblemBase + name, Title: t.title, Status: t.status, Detail: fmt.Sprintf(format, args...)}
}

// fromDecode turns a decoder's error into a problem.
func fromDecode(err error) *Problem {
	de, ok := err.(*feeditem.Error)
	if !ok {
		return newProblem("malformed-body", "%v", err)
	}
	switch de.Kind {
	case feeditem.TooMany:
		return newProblem("batch-too-large", "%s", de.Detail)
	case feeditem.Invalid:
		p := newProblem("invalid-items", "%s", de.Detail)
		p.Errors = make([]ItemError, len(de.Items))
		for i, it := range de.Items {
			p.Errors[i] = ItemError(it)
		}
		return p
	}
	p := newProblem("malformed-body", "%s", de.Detail)
	if de.Offset >= 0 {
		off := de.Offset
		p.Offset = &off
	}
	return p
}

func (h *Handler) writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	h.log.Debug("ingest: refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "status", p.Status, "detail", p.Detail)
	body, err := json.Marshal(p)
	if err != nil { // not reached: a Problem always marshals
		http.Error(w, p.Detail, p.Status)
		return
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	w.Write(append(body, '\n'))
}
