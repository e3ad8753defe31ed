//go:build !js

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// consoleTail is how many of the last console lines an error message quotes.
const consoleTail = 10

// hookScript runs in every document of a Page before the page's own
// scripts: it turns on the adapters' test hook, which registers them only
// when this array exists (see the package documentation).
const hookScript = `globalThis.__pushmapAdapters ??= [];`

// A Page is a browser tab showing one page under test.
//
// Its methods act on the page's map adapter 0 unless the Page came from
// Adapter. A Page is meant for one goroutine at a time; ConsoleLines, Errors
// and Close may be called from any goroutine at any time. Every method that
// takes a ctx stops when ctx ends, or after Options.Timeout when ctx has no
// deadline.
type Page struct {
	tab     *tab
	adapter int // index into globalThis.__pushmapAdapters
}

// tab is the state a Page and its Adapter views share.
type tab struct {
	b      *Browser
	ctx    context.Context // chromedp context of the tab; ends with Close
	cancel context.CancelFunc
	url    string
	done   chan struct{} // closed when the console reader has returned

	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex // guards console and errs
	console []string   // every console line, "type: text"
	errs    []string   // uncaught exceptions and console.error lines
}

// Open opens a new tab of the viewport size of the Options, turns on the
// adapters' test hook (globalThis.__pushmapAdapters = [] before any script
// of the page runs), navigates it to url and returns once the page has
// loaded (its load event). From the
// moment the tab exists it collects console messages and uncaught
// exceptions; see ConsoleLines and Errors. The caller must Close the Page.
func (b *Browser) Open(ctx context.Context, url string) (*Page, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, fmt.Errorf("e2e: Open(%q): browser is closed", url)
	}
	b.pages.Add(1)
	b.mu.Unlock()

	tctx, cancel := chromedp.NewContext(b.ctx)
	t := &tab{b: b, ctx: tctx, cancel: cancel, url: url, done: make(chan struct{})}
	p := &Page{tab: t}

	// Console opens the tab (bound to tctx, not ctx) and subscribes before
	// anything runs in it, so no message of the page is lost.
	msgs := chromedp.Console(tctx)
	go func() {
		defer b.pages.Done()
		defer close(t.done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			t.record(m)
		}
	}()

	actx, done := p.bind(ctx)
	defer done()
	_, err := chromedp.Call(actx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: hookScript})
	if err == nil {
		err = chromedp.Do(actx,
			chromedp.EmulateViewport(int64(b.width), int64(b.height)),
			chromedp.Navigate(url),
		)
	}
	if err != nil {
		err = fmt.Errorf("e2e: opening %s: %w", url, ctxErr(ctx, actx, err))
		p.Close()
		return nil, err
	}
	b.logf("e2e: opened %s", url)
	return p, nil
}

// record keeps one console message and forwards it to Logf.
func (t *tab) record(m chromedp.ConsoleMessage) {
	line := m.String()
	isErr := m.IsException() || (m.Type == chromedp.ConsoleError && m.Source == "")
	t.mu.Lock()
	t.console = append(t.console, line)
	if isErr {
		t.errs = append(t.errs, line)
	}
	t.mu.Unlock()
	t.b.logf("console %s", line)
}

// Close closes the tab and waits until its console reader has stopped, so
// Logf is not called for this page after Close returns. It closes the tab of
// every Adapter view of the page too. Calls after the first return the first
// result.
func (p *Page) Close() error {
	t := p.tab
	t.closeOnce.Do(func() {
		if !t.b.isClosed() {
			ctx, cancel := context.WithTimeout(t.ctx, 5*time.Second)
			err := chromedp.Cancel(ctx)
			cancel()
			if err != nil && !errors.Is(err, context.Canceled) {
				t.closeErr = fmt.Errorf("e2e: closing %s: %w", t.url, err)
			}
		}
		t.cancel()
		<-t.done
	})
	return t.closeErr
}

// Adapter returns a view of the same tab whose methods act on the page's
// map adapter i (the index into globalThis.__pushmapAdapters) instead of 0.
// The view shares the tab, console and Close with p. It does not check that
// adapter i exists; the methods do.
func (p *Page) Adapter(i int) *Page {
	return &Page{tab: p.tab, adapter: i}
}

// ConsoleLines returns a copy of every console line of the page so far, in
// order, as "type: text", for example "log: ready" or "exception: Uncaught
// Error: boom". It includes the browser's own log entries, such as failed
// resource loads.
func (p *Page) ConsoleLines() []string {
	p.tab.mu.Lock()
	defer p.tab.mu.Unlock()
	return append([]string(nil), p.tab.console...)
}

// Errors returns a copy of the page's uncaught exceptions, unhandled promise
// rejections and console.error lines so far, in order, in the format of
// ConsoleLines. The browser's own log entries (such as a 404 for
// /favicon.ico) are not errors of the page and are not included.
func (p *Page) Errors() []string {
	p.tab.mu.Lock()
	defer p.tab.mu.Unlock()
	return append([]string(nil), p.tab.errs...)
}

// lastLines returns the last n console lines, one per line and indented,
// or "(none)" for error messages.
func (t *tab) lastLines(n int) string {
	t.mu.Lock()
	lines := t.console[max(0, len(t.console)-n):]
	t.mu.Unlock()
	if len(lines) == 0 {
		return "\n\t(none)"
	}
	return "\n\t" + strings.Join(lines, "\n\t")
}

// bind returns a chromedp context for one call on the tab: it ends when ctx
// ends, at ctx's deadline or, without one, after Options.Timeout.
func (p *Page) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(p.tab.b.timeout)
	}
	c, cancel := context.WithDeadline(p.tab.ctx, dl)
	stop := context.AfterFunc(ctx, cancel)
	return c, func() { stop(); cancel() }
}

// ctxErr prefers the caller's context error, then the call context's, to the
// error chromedp returned, so that a timeout reads as one.
func ctxErr(ctx, actx context.Context, err error) error {
	if e := ctx.Err(); e != nil {
		return e
	}
	if e := actx.Err(); e != nil {
		return e
	}
	return err
}

// Eval evaluates the JavaScript expression js in the page and decodes its
// JSON value into out with encoding/json. When the value is a promise, Eval
// waits for it. out may be nil to discard the value; a null or undefined
// value leaves out unchanged. An exception thrown by js is returned as an
// error quoting its first line; errors.As with a *chromedp.ExceptionError
// gives its details and stack.
func (p *Page) Eval(ctx context.Context, js string, out any) error {
	actx, done := p.bind(ctx)
	defer done()
	if out == nil {
		_, err := chromedp.Run(actx, chromedp.Evaluate[chromedp.Void](js, chromedp.EvalAwaitPromise))
		if err != nil {
			return fmt.Errorf("e2e: Eval(%s): %w", short(js), jsErr(ctxErr(ctx, actx, err)))
		}
		return nil
	}
	raw, err := chromedp.Run(actx, chromedp.Evaluate[[]byte](js, chromedp.EvalAwaitPromise))
	if err != nil {
		return fmt.Errorf("e2e: Eval(%s): %w", short(js), jsErr(ctxErr(ctx, actx, err)))
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("e2e: Eval(%s): decoding %s into %T: %w", short(js), short(string(raw)), out, err)
	}
	return nil
}

// Eval evaluates the JavaScript expression js in p and returns its value
// decoded into a T, as Page.Eval does. A null or undefined value is an error
// unless T can be nil (a pointer, slice, map or interface).
func Eval[T any](ctx context.Context, p *Page, js string) (T, error) {
	actx, done := p.bind(ctx)
	defer done()
	v, err := chromedp.Run(actx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		var zero T
		return zero, fmt.Errorf("e2e: Eval(%s): %w", short(js), jsErr(ctxErr(ctx, actx, err)))
	}
	return v, nil
}

// WaitFor polls the JavaScript expression jsCondition in the page every
// 20 ms until it is truthy. An exception thrown by the condition counts as
// false and keeps the poll going (the adapter may not exist yet). When ctx
// ends first, the error wraps ctx's error (context.DeadlineExceeded for a
// timeout) and quotes the condition, the condition's last exception and the
// page's last console lines.
func (p *Page) WaitFor(ctx context.Context, jsCondition string) error {
	actx, done := p.bind(ctx)
	defer done()
	err := p.poll(actx, jsCondition)
	if err == nil {
		return nil
	}
	cause := ctxErr(ctx, actx, err)
	if errors.Is(err, chromedp.ErrPollingTimeout) {
		cause = context.DeadlineExceeded
	}
	// Read the condition's last exception with a fresh, short context: actx
	// may be over.
	var lastExc string
	ectx, cancel := context.WithTimeout(p.tab.ctx, time.Second)
	v, eerr := chromedp.Run(ectx, chromedp.Evaluate[*string](`globalThis.__pushmapE2ELastError ?? null`))
	cancel()
	if eerr == nil && v != nil {
		lastExc = "; the condition last threw " + *v
	}
	return fmt.Errorf("e2e: WaitFor(%s) on %s: %w%s; last console lines:%s",
		jsCondition, p.tab.url, cause, lastExc, p.tab.lastLines(consoleTail))
}

// poll runs chromedp.Poll on jsCondition until it is truthy or actx ends.
func (p *Page) poll(actx context.Context, jsCondition string) error {
	// The in-page poll stops at its own timeout; give it the time actx has.
	var timeout time.Duration
	if dl, ok := actx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	// Forget what an earlier condition threw.
	if _, err := chromedp.Run(actx, chromedp.Evaluate[chromedp.Void](`globalThis.__pushmapE2ELastError = undefined`)); err != nil {
		return err
	}
	expr := `(() => { try { return !!(` + jsCondition + `
) } catch (e) { globalThis.__pushmapE2ELastError = String(e); return false } })()`
	_, err := chromedp.Run(actx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(20*time.Millisecond),
		chromedp.WithPollingTimeout(timeout),
	))
	return err
}

// short returns s, cut to at most 200 bytes, for error messages.
func short(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// A thrownError is an exception thrown in the page, shortened to its first
// line (such as "ReferenceError: x is not defined"). It unwraps to the
// *chromedp.ExceptionError with the whole stack.
type thrownError struct {
	msg string
	err *chromedp.ExceptionError
}

func (e *thrownError) Error() string { return "the page threw " + e.msg }
func (e *thrownError) Unwrap() error { return e.err }

// jsErr shortens an exception thrown in the page; it returns other errors
// as they are.
func jsErr(err error) error {
	var ee *chromedp.ExceptionError
	if !errors.As(err, &ee) || ee.ExceptionDetails == nil {
		return err
	}
	msg := ee.ExceptionDetails.Text
	if obj := ee.ExceptionDetails.Exception; obj != nil && obj.Description != "" {
		msg = obj.Description
	}
	msg, _, _ = strings.Cut(msg, "\n")
	return &thrownError{msg: msg, err: ee}
}
