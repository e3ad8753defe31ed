//go:build !js

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/chromedp/chromedp"
)

// ErrNoBrowser is wrapped by the error of [FindChromium] and [Start] when no
// Chromium binary can be found.
var ErrNoBrowser = errors.New("e2e: no Chromium binary found")

// Default values of [Options].
const (
	DefaultWidth   = 1024             // viewport width, CSS pixels
	DefaultHeight  = 640              // viewport height, CSS pixels
	DefaultTimeout = 30 * time.Second // limit of a call whose ctx has no deadline
)

// Options configure [Start]. A nil *Options and the zero value of each field
// mean the defaults.
type Options struct {
	// ExecPath is the Chromium binary. Empty means $PUSHMAP_CHROMIUM, else
	// what FindChromium finds.
	ExecPath string

	// Width and Height are the exact viewport of every page, in CSS pixels,
	// set through device-metrics emulation. Zero means DefaultWidth and
	// DefaultHeight.
	Width, Height int

	// Headful shows a browser window instead of running headless. It needs a
	// display (DISPLAY or WAYLAND_DISPLAY on Linux).
	Headful bool

	// Timeout limits each call of a Page method whose ctx has no deadline.
	// Zero means DefaultTimeout. A ctx deadline always wins.
	Timeout time.Duration

	// Logf receives the harness's own log lines and every console line of
	// every page, as they happen; t.Logf fits. nil discards them. It is
	// called from several goroutines, never after Browser.Close or, for a
	// page's lines, after that Page's Close has returned.
	Logf func(format string, args ...any)
}

// A Browser is a running Chromium process, for opening pages under test.
//
// Open may be called from several goroutines at once; each Page is a tab of
// its own. Close ends the process and every page still open.
type Browser struct {
	ctx      context.Context // chromedp context of the browser; ends with Close
	shutdown func()          // ends the process and waits for it
	width    int
	height   int
	timeout  time.Duration
	logf     func(format string, args ...any)

	pages sync.WaitGroup // console readers of open pages

	mu     sync.Mutex // guards closed
	closed bool
}

// FindChromium returns the Chromium binary that Start runs when
// Options.ExecPath is empty: $PUSHMAP_CHROMIUM if set, else /usr/bin/chromium
// if it exists, else the first of chromium, chromium-browser, google-chrome
// and google-chrome-stable found on PATH. The error wraps ErrNoBrowser when
// nothing is found; a $PUSHMAP_CHROMIUM that does not name an executable is an
// error of its own and is never silently replaced.
func FindChromium() (string, error) {
	if p := os.Getenv("PUSHMAP_CHROMIUM"); p != "" {
		full, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("e2e: PUSHMAP_CHROMIUM=%q: %w", p, err)
		}
		return full, nil
	}
	if full, err := exec.LookPath(systemChromium); err == nil {
		return full, nil
	}
	for _, name := range chromiumNames {
		if full, err := exec.LookPath(name); err == nil {
			return full, nil
		}
	}
	return "", fmt.Errorf("%w: set PUSHMAP_CHROMIUM, or install %s or one of %v on PATH",
		ErrNoBrowser, systemChromium, chromiumNames)
}

// Where FindChromium looks after $PUSHMAP_CHROMIUM; variables for tests.
var (
	systemChromium = "/usr/bin/chromium"
	chromiumNames  = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}
)

// Start runs a Chromium process and returns it once it answers. ctx limits
// the start only: the process runs until Close. Start returns an error
// wrapping ErrNoBrowser when no binary is found, and the error of the
// process when it does not start.
func Start(ctx context.Context, opts *Options) (*Browser, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Width < 0 || o.Height < 0 {
		return nil, fmt.Errorf("e2e: viewport %d×%d: width and height must not be negative", o.Width, o.Height)
	}
	if o.Width == 0 {
		o.Width = DefaultWidth
	}
	if o.Height == 0 {
		o.Height = DefaultHeight
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.ExecPath == "" {
		p, err := FindChromium()
		if err != nil {
			return nil, err
		}
		o.ExecPath = p
	}

	allocOpts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(o.ExecPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// WebGL (MapLibre) on the CPU: Chromium refuses SwiftShader
		// without this since version 137.
		chromedp.Flag("enable-unsafe-swiftshader", true),
		chromedp.WindowSize(o.Width, o.Height),
		// No UserDataDir: chromedp then creates a fresh temporary profile
		// directory and removes it when the browser has exited.
	)
	if o.Headful {
		allocOpts = append(allocOpts, chromedp.VisibleWindow)
	}

	// The browser lives until Close, not until ctx ends; life ends it.
	life, endLife := context.WithCancel(context.WithoutCancel(ctx))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(life, allocOpts...)
	bctx, cancel := chromedp.NewContext(allocCtx,
		chromedp.WithLogf(o.Logf),
		chromedp.WithErrorf(o.Logf),
	)
	// chromedp's cancel waits for the browser to stop and blocks when called
	// twice before a browser was allocated: call it once.
	cancelOnce := sync.OnceFunc(cancel)
	b := &Browser{
		ctx: bctx,
		shutdown: func() {
			endLife()
			cancelOnce()
			cancelAlloc()
		},
		width:   o.Width,
		height:  o.Height,
		timeout: o.Timeout,
		logf:    o.Logf,
	}

	began := time.Now()
	stop := context.AfterFunc(ctx, endLife) // abort a start that outlives ctx
	err := chromedp.Do(bctx)                // starts the browser, bound to bctx
	if !stop() {
		err = ctx.Err()
	}
	if err != nil {
		b.shutdown()
		return nil, fmt.Errorf("e2e: starting %s: %w", o.ExecPath, err)
	}
	mode := "headless"
	if o.Headful {
		mode = "headful"
	}
	o.Logf("e2e: started %s (%s, %d×%d) in %v", o.ExecPath, mode, o.Width, o.Height, time.Since(began).Round(time.Millisecond))
	return b, nil
}

// Close closes every page still open, ends the Chromium process, waits for
// it to exit and removes its profile directory. It returns the first error
// of these steps. Calls after the first return nil.
func (b *Browser) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()

	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	err := chromedp.Cancel(ctx)
	b.shutdown()
	b.pages.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("e2e: closing the browser: %w", err)
	}
	return nil
}

// isClosed reports whether Close has been called.
func (b *Browser) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}
