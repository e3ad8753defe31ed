//go:build !pushmap_browser

package wasmclient

import (
	"context"
	"time"
)

// The client's core (client.go, session.go, token.go) waits, times out and
// schedules through the names below. In every build but the browser's
// .wasm they are package context and package time themselves (aliases and
// wrappers); the browser build (tag pushmap_browser, clock_browser.go)
// replaces them with JavaScript timers, so that its .wasm links neither
// package: importing time alone adds about 40 KB of brotli to it (its
// GODEBUG machinery), context 33 KB more (docs/design.md).

// signal is what the core needs of a context: cancellation.
type signal = context.Context

// dur is a duration.
type dur = time.Duration

// stamp is an instant, for measuring elapsed time.
type stamp = time.Time

// timer is a pending call of afterFunc.
type timer = *time.Timer

const (
	millisecond = time.Millisecond
	second      = time.Second
)

// lifetime returns the signal of a client's life and the function that
// ends it.
func lifetime() (signal, func()) { return context.WithCancel(context.Background()) }

// withTimeout returns a signal done when parent is or after d, and the
// function that releases it.
func withTimeout(parent signal, d dur) (signal, func()) { return context.WithTimeout(parent, d) }

// background is a signal never done.
func background() signal { return context.Background() }

func afterFunc(d dur, f func()) timer { return time.AfterFunc(d, f) }

// after returns a channel that receives after d.
func after(d dur) <-chan time.Time { return time.After(d) }

func now() stamp { return time.Now() }

func since(t stamp) dur { return time.Since(t) }

// untilUnix returns the time left until the Unix time sec (in seconds).
func untilUnix(sec float64) dur {
	whole := int64(sec)
	return time.Until(time.Unix(whole, int64((sec-float64(whole))*1e9)))
}

// never is the zero stamp, before any now().
var never stamp
