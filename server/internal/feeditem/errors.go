package feeditem

import (
	"fmt"
	"unicode/utf8"

	"github.com/pushmap/pushmap/server"
)

// MaxItemErrors is how many bad items an Error lists; it counts them all.
const MaxItemErrors = 100

// An ItemError says why one item of a batch was refused.
type ItemError struct {
	Index  int    `json:"index"`        // position in the batch, from 0
	ID     string `json:"id,omitempty"` // the item's id when it has one
	Reason string `json:"reason"`
}

// Kind tells the broad reason a body was refused.
type Kind int

const (
	// Malformed: the body is not a well-formed document of its format.
	Malformed Kind = iota + 1
	// TooMany: the batch holds more items than allowed.
	TooMany
	// Invalid: the body is well formed but some items are not valid
	// updates; Items names them.
	Invalid
)

// An Error is why a whole body was refused: nothing of it may be applied.
type Error struct {
	Kind   Kind
	Detail string      // one sentence for people
	Offset int64       // Malformed: byte offset of the problem, or -1
	Items  []ItemError // Invalid: the first MaxItemErrors bad items
	Bad    int         // Invalid: how many items are bad in all
}

func (e *Error) Error() string {
	if e.Kind == Invalid && len(e.Items) > 0 {
		it := e.Items[0]
		s := fmt.Sprintf("%s: item %d", e.Detail, it.Index)
		if it.ID != "" {
			s += fmt.Sprintf(" (%q)", it.ID)
		}
		return s + ": " + it.Reason
	}
	return e.Detail
}

func malformed(offset int64, format string, args ...any) *Error {
	return &Error{Kind: Malformed, Offset: offset, Detail: fmt.Sprintf(format, args...)}
}

func tooMany(max int) *Error {
	return &Error{Kind: TooMany, Detail: fmt.Sprintf("the batch holds more than %d items", max)}
}

// A collector gathers the updates of a batch and the reasons of its bad
// items.
type collector struct {
	updates []server.Update
	items   []ItemError
	bad     int
}

func (c *collector) add(index int, it *Item) {
	if c.bad > 0 { // the batch is refused: only reasons are kept
		var u server.Update
		if err := it.updateInto(&u); err != nil {
			c.fail(index, it.ID, err.Error())
		}
		return
	}
	n := len(c.updates)
	c.updates = append(c.updates, server.Update{})
	if err := it.updateInto(&c.updates[n]); err != nil {
		c.updates[n] = server.Update{}
		c.updates = c.updates[:n]
		c.fail(index, it.ID, err.Error())
	}
}

func (c *collector) fail(index int, id, reason string) {
	c.bad++
	if len(c.items) < MaxItemErrors {
		c.items = append(c.items, ItemError{Index: index, ID: shorten(id), Reason: reason})
	}
}

// result returns the updates, or the Error naming the bad items.
func (c *collector) result() ([]server.Update, error) {
	if c.bad == 0 {
		return c.updates, nil
	}
	detail := fmt.Sprintf("%d items are invalid; nothing was applied", c.bad)
	if c.bad == 1 {
		detail = "1 item is invalid; nothing was applied"
	}
	return nil, &Error{Kind: Invalid, Detail: detail, Items: c.items, Bad: c.bad}
}

// shorten cuts an id for an error message to at most 64 bytes, on a rune
// boundary.
func shorten(id string) string {
	const max = 64
	if len(id) <= max {
		return id
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(id[cut]) {
		cut--
	}
	return id[:cut] + "…"
}
