//go:build !js

package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushmap/pushmap/e2e"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/leakcheck"
)

// fixture serves testdata/ on 127.0.0.1 for the whole test binary.
var fixture *httptest.Server

// shared is the one browser of the test binary, started by the first test
// that needs it and closed by TestMain.
var shared struct {
	once sync.Once
	b    *e2e.Browser
	err  error
}

func TestMain(m *testing.M) {
	fixture = httptest.NewServer(http.FileServer(http.Dir("testdata")))
	leakcheck.Main(m, func() error {
		fixture.Close()
		if shared.b != nil {
			return shared.b.Close()
		}
		return nil
	})
}

// browser returns the shared browser, skipping t when there is none (see
// e2e.SkipIfNoBrowser).
func browser(t *testing.T) *e2e.Browser {
	t.Helper()
	e2e.SkipIfNoBrowser(t)
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		shared.b, shared.err = e2e.Start(ctx, nil)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.b
}

// open opens the fixture with the given query in a page of its own, closed
// when t ends; on failure the page's console lines are logged.
func open(t *testing.T, query string) *e2e.Page {
	t.Helper()
	b := browser(t)
	url := fixture.URL + "/fixture.html?" + query
	p, err := b.Open(testCtx(t, 10*time.Second), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console of %s:\n\t%s", url, strings.Join(p.ConsoleLines(), "\n\t"))
		}
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// openConnected opens the fixture like open and waits until its client is
// connected; the context it returns ends 10 s later or when t ends.
func openConnected(t *testing.T, query string) (*e2e.Page, context.Context) {
	t.Helper()
	p := open(t, query)
	ctx := testCtx(t, 10*time.Second)
	if err := p.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return p, ctx
}

// testCtx returns a context that ends after d or when t ends.
func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func ids(ms []e2e.Shown) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	slices.Sort(out)
	return out
}

var kinds = []string{"maplibre", "leaflet"}

func TestWaitConnected(t *testing.T) {
	t.Parallel()
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			p := open(t, "kind="+kind)
			ctx := testCtx(t, 10*time.Second)

			status, err := e2e.Eval[string](ctx, p, `__pushmapAdapters[0].client.status`)
			if err != nil {
				t.Fatal(err)
			}
			if status != "connecting" {
				t.Fatalf("status right after Open = %q, want connecting (the fixture opens after 300 ms)", status)
			}
			if err := p.WaitConnected(ctx); err != nil {
				t.Fatal(err)
			}
			status, err = e2e.Eval[string](ctx, p, `__pushmapAdapters[0].client.status`)
			if err != nil {
				t.Fatal(err)
			}
			if status != "open" {
				t.Fatalf("status after WaitConnected = %q, want open", status)
			}
		})
	}
}

// call is a call of the fake map as the fixture records it.
type call struct {
	Op      string       `json:"op"`
	Center  []float64    `json:"center"`
	LatLng  []float64    `json:"latlng"`
	Zoom    float64      `json:"zoom"`
	Bounds  [][2]float64 `json:"bounds"`
	Animate *bool        `json:"animate"`
}

func lastCall(ctx context.Context, t *testing.T, p *e2e.Page, adapter int) call {
	t.Helper()
	var calls []call
	if err := p.Eval(ctx, fmt.Sprintf(`__pushmapAdapters[%d].map.calls`, adapter), &calls); err != nil {
		t.Fatal(err)
	}
	if len(calls) == 0 {
		t.Fatalf("adapter %d's map recorded no call", adapter)
	}
	return calls[len(calls)-1]
}

func TestJumpToShowsMarkersInView(t *testing.T) {
	t.Parallel()
	want := []string{"paris-center", "paris-east", "paris-north"}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			p, ctx := openConnected(t, "kind="+kind)
			if err := p.JumpTo(ctx, 2.35, 48.85, 10); err != nil {
				t.Fatal(err)
			}
			// No polling: JumpTo must have waited until the map was idle.
			shown, err := p.ShownMarkers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(shown); !slices.Equal(got, want) {
				t.Errorf("shown after JumpTo = %v, want %v", got, want)
			}
			for _, m := range shown {
				if m.ID == "paris-east" && (m.Layer != "pts" || m.Lon != 2.50 || m.Lat != 48.85) {
					t.Errorf("paris-east = %v, want pts/paris-east (2.5, 48.85)", m)
				}
			}

			c := lastCall(ctx, t, p, 0)
			switch kind {
			case "maplibre":
				// MapLibre's zoom is one less than the slippy-map zoom.
				if c.Op != "jumpTo" || !slices.Equal(c.Center, []float64{2.35, 48.85}) || c.Zoom != 9 {
					t.Errorf("last map call = %+v, want jumpTo center [2.35 48.85] zoom 9", c)
				}
				moving, err := e2e.Eval[bool](ctx, p, `__pushmapAdapters[0].map.isMoving()`)
				if err != nil || moving {
					t.Errorf("isMoving() after JumpTo = %v, %v; want false", moving, err)
				}
			case "leaflet":
				if c.Op != "setView" || !slices.Equal(c.LatLng, []float64{48.85, 2.35}) || c.Zoom != 10 ||
					c.Animate == nil || *c.Animate {
					t.Errorf("last map call = %+v, want setView [48.85 2.35] zoom 10 animate false", c)
				}
			}

			cached, err := p.CachedMarkers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(cached) != 13 {
				t.Errorf("CachedMarkers returned %d markers, want all 13 of the fixture", len(cached))
			}
		})
	}
}

func TestFitBoxAcrossAntimeridian(t *testing.T) {
	t.Parallel()
	box := geo.BBox(170, -30, -170, 0)
	want := []string{"fiji", "samoa", "taveuni", "tonga"}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			p, ctx := openConnected(t, "kind="+kind)
			if err := p.FitBox(ctx, box); err != nil {
				t.Fatal(err)
			}
			shown, err := p.ShownMarkers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(shown); !slices.Equal(got, want) {
				t.Errorf("shown after FitBox(%v) = %v, want %v", box, got, want)
			}
			for _, m := range shown {
				if !box.Contains(geo.Pt(m.Lon, m.Lat)) {
					t.Errorf("shown %v is outside %v", m, box)
				}
			}

			c := lastCall(ctx, t, p, 0)
			wantBounds := [][2]float64{{170, -30}, {190, 0}} // MapLibre: [[w, s], [e+360, n]]
			if kind == "leaflet" {
				wantBounds = [][2]float64{{-30, 170}, {0, 190}} // Leaflet: [[s, w], [n, e+360]]
			}
			if c.Op != "fitBounds" || !slices.Equal(c.Bounds, wantBounds) || c.Animate == nil || *c.Animate {
				t.Errorf("last map call = %+v, want fitBounds %v animate false", c, wantBounds)
			}
		})
	}
}

func TestAdapterSelection(t *testing.T) {
	t.Parallel()
	p := open(t, "adapters=2")
	ctx := testCtx(t, 10*time.Second)
	second := p.Adapter(1)
	if err := second.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if err := second.JumpTo(ctx, 2.35, 48.85, 10); err != nil {
		t.Fatal(err)
	}
	if c := lastCall(ctx, t, p, 1); c.Op != "jumpTo" {
		t.Errorf("adapter 1's last call = %+v, want jumpTo", c)
	}
	n, err := e2e.Eval[int](ctx, p, `__pushmapAdapters[0].map.calls.length`)
	if err != nil || n != 0 {
		t.Errorf("adapter 0 recorded %d calls (err %v), want 0: JumpTo on Adapter(1) moved adapter 0", n, err)
	}

	_, err = p.Adapter(2).ShownMarkers(ctx)
	if err == nil || !strings.Contains(err.Error(), "no pushmap adapter 2") || !strings.Contains(err.Error(), "has 2 entries") {
		t.Errorf("ShownMarkers on a missing adapter: err = %v, want one naming adapter 2 and the 2 entries", err)
	}
}

func TestWaitForTimeout(t *testing.T) {
	t.Parallel()
	p := open(t, "")
	tests := []struct {
		name      string
		cond      string
		wantInErr []string
	}{
		{"false", `globalThis.neverSet === true`, []string{"globalThis.neverSet === true", "pushmap fixture ready", "deadline exceeded"}},
		{"throws", `nosuchvar.x > 1`, []string{"nosuchvar.x > 1", "ReferenceError", "pushmap fixture ready"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 400*time.Millisecond)
			defer cancel()
			began := time.Now()
			err := p.WaitFor(ctx, tt.cond)
			if err == nil {
				t.Fatal("WaitFor returned nil for a condition that never holds")
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want it to wrap context.DeadlineExceeded", err)
			}
			if d := time.Since(began); d > 3*time.Second {
				t.Errorf("WaitFor took %v after a 400 ms deadline", d)
			}
			for _, s := range tt.wantInErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err = %v\nwant it to contain %q", err, s)
				}
			}
		})
	}

	// The page is still usable after a timed-out wait.
	if err := p.WaitFor(testCtx(t, 5*time.Second), `document.readyState === 'complete'`); err != nil {
		t.Fatal(err)
	}
}

func TestWaitShown(t *testing.T) {
	t.Parallel()
	p, ctx := openConnected(t, "")
	if err := p.JumpTo(ctx, 2.35, 48.85, 10); err != nil {
		t.Fatal(err)
	}
	has := func(id string) func([]e2e.Shown) bool {
		return func(ms []e2e.Shown) bool {
			return slices.ContainsFunc(ms, func(m e2e.Shown) bool { return m.ID == id })
		}
	}
	if err := p.WaitShown(ctx, has("paris-center")); err != nil {
		t.Fatal(err)
	}

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err := p.WaitShown(short, has("lyon"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitShown for a marker never shown: err = %v, want a timeout", err)
	}
	if !strings.Contains(err.Error(), "last shown 3 markers") || !strings.Contains(err.Error(), "pts/paris-center (2.35, 48.85)") {
		t.Errorf("err = %v\nwant it to list the 3 markers shown last", err)
	}
}

// TestClustersOfAPageWithout: a page whose adapter has no shownClusters
// gets a readable error from ShownClusters, and WaitClusters times out
// quoting it.
func TestClustersOfAPageWithout(t *testing.T) {
	t.Parallel()
	p, ctx := openConnected(t, "")
	if _, err := p.ShownClusters(ctx); err == nil || !strings.Contains(err.Error(), "has no shownClusters()") {
		t.Errorf("ShownClusters: err = %v, want one saying the adapter has no shownClusters()", err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err := p.WaitClusters(short, func([]e2e.ShownCluster) bool { return true })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "WaitClusters") || !strings.Contains(err.Error(), "has no shownClusters()") {
		t.Errorf("WaitClusters: err = %v, want a timeout quoting the last error", err)
	}
}

func TestInvalidMovesAreRejected(t *testing.T) {
	t.Parallel()
	p := open(t, "")
	ctx := testCtx(t, 10*time.Second)
	if err := p.JumpTo(ctx, 200, 0, 3); !errors.Is(err, geo.ErrInvalid) {
		t.Errorf("JumpTo(200, 0, 3): err = %v, want geo.ErrInvalid", err)
	}
	if err := p.JumpTo(ctx, 0, 0, -1); err == nil {
		t.Error("JumpTo with zoom -1 returned nil")
	}
	if err := p.FitBox(ctx, geo.BBox(0, 10, 5, -10)); !errors.Is(err, geo.ErrInvalid) {
		t.Errorf("FitBox with south above north: err = %v, want geo.ErrInvalid", err)
	}
	n, err := e2e.Eval[int](ctx, p, `__pushmapAdapters[0].map.calls.length`)
	if err != nil || n != 0 {
		t.Errorf("the map recorded %d calls (err %v), want 0", n, err)
	}
}

func TestConsoleAndErrors(t *testing.T) {
	t.Parallel()
	p := open(t, "")
	ctx := testCtx(t, 10*time.Second)
	err := p.Eval(ctx, `console.log('hello', 42); console.error('bad thing');
		setTimeout(() => { throw new Error('boom') }, 0); 1`, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Console messages arrive asynchronously.
	deadline := time.Now().Add(5 * time.Second)
	for len(p.Errors()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	lines := strings.Join(p.ConsoleLines(), "\n")
	for _, want := range []string{"pushmap fixture ready: kind=maplibre, adapters=1, viewport=1024x640", "log: hello 42", "error: bad thing", "boom"} {
		if !strings.Contains(lines, want) {
			t.Errorf("console lines lack %q:\n%s", want, lines)
		}
	}
	errs := p.Errors()
	if len(errs) != 2 || !strings.Contains(errs[0], "bad thing") || !strings.Contains(errs[1], "boom") {
		t.Errorf("Errors() = %q, want the console.error line and the uncaught exception", errs)
	}
}

func TestEval(t *testing.T) {
	t.Parallel()
	p := open(t, "")
	ctx := testCtx(t, 10*time.Second)

	sum, err := e2e.Eval[int](ctx, p, `1 + 2`)
	if err != nil || sum != 3 {
		t.Errorf("Eval[int](1 + 2) = %d, %v; want 3", sum, err)
	}
	later, err := e2e.Eval[string](ctx, p, `new Promise(r => setTimeout(() => r('later'), 50))`)
	if err != nil || later != "later" {
		t.Errorf("Eval of a promise = %q, %v; want later", later, err)
	}
	var out struct {
		A int      `json:"a"`
		B []string `json:"b"`
	}
	if err := p.Eval(ctx, `({a: 7, b: ['x', 'y']})`, &out); err != nil || out.A != 7 || !slices.Equal(out.B, []string{"x", "y"}) {
		t.Errorf("Eval into a struct = %+v, %v", out, err)
	}
	out.A = 5
	if err := p.Eval(ctx, `undefined`, &out); err != nil || out.A != 5 {
		t.Errorf("Eval of undefined = %+v, %v; want out unchanged and no error", out, err)
	}
	err = p.Eval(ctx, `(() => { throw new Error('thrown on purpose') })()`, nil)
	if err == nil || !strings.Contains(err.Error(), "thrown on purpose") {
		t.Errorf("Eval of a throwing expression: err = %v, want it to quote the exception", err)
	}
}

func TestScreenshot(t *testing.T) {
	t.Parallel()
	p, ctx := openConnected(t, "")
	if err := p.JumpTo(ctx, 2.35, 48.85, 10); err != nil {
		t.Fatal(err)
	}
	path := e2e.ArtifactPath(t, "shots/fixture.png")
	if err := p.Screenshot(ctx, path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 || !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("%s is not a PNG (%d bytes)", path, len(data))
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width != e2e.DefaultWidth || cfg.Height != e2e.DefaultHeight {
		t.Errorf("screenshot is %d×%d, want the viewport %d×%d", cfg.Width, cfg.Height, e2e.DefaultWidth, e2e.DefaultHeight)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(data))
}

func TestFindChromiumHonoursEnv(t *testing.T) {
	t.Setenv("PUSHMAP_CHROMIUM", "/nonexistent/chromium")
	_, err := e2e.FindChromium()
	if err == nil || errors.Is(err, e2e.ErrNoBrowser) || !strings.Contains(err.Error(), "PUSHMAP_CHROMIUM") {
		t.Errorf("FindChromium with a bad PUSHMAP_CHROMIUM: err = %v, want an error naming the variable, not ErrNoBrowser", err)
	}
	_, err = e2e.Start(t.Context(), nil)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/chromium") {
		t.Errorf("Start with a bad PUSHMAP_CHROMIUM: err = %v, want it to name the path", err)
	}
}

func TestOwnBrowser(t *testing.T) {
	t.Parallel()
	e2e.SkipIfNoBrowser(t)
	var (
		mu    sync.Mutex
		lines []string
	)
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(format, args...))
	}
	ctx := testCtx(t, 20*time.Second)
	b, err := e2e.Start(ctx, &e2e.Options{Width: 800, Height: 500, Logf: logf})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p, err := b.Open(ctx, fixture.URL+"/fixture.html")
	if err != nil {
		t.Fatal(err)
	}
	size, err := e2e.Eval[[2]int](ctx, p, `[innerWidth, innerHeight]`)
	if err != nil || size != [2]int{800, 500} {
		t.Errorf("viewport = %v, %v; want [800 500]", size, err)
	}
	if err := p.WaitFor(ctx, `document.readyState === 'complete'`); err != nil {
		t.Fatal(err)
	}

	// Close ends the pages still open; closing them afterwards is harmless.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("Page.Close after Browser.Close: %v", err)
	}
	if _, err := b.Open(ctx, fixture.URL+"/fixture.html"); err == nil {
		t.Error("Open after Close returned no error")
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	mu.Lock()
	all := strings.Join(lines, "\n")
	mu.Unlock()
	for _, want := range []string{"e2e: started", "console log: pushmap fixture ready: kind=maplibre, adapters=1, viewport=800x500"} {
		if !strings.Contains(all, want) {
			t.Errorf("Logf lines lack %q:\n%s", want, all)
		}
	}
}

func TestStartCanceled(t *testing.T) {
	t.Parallel()
	e2e.SkipIfNoBrowser(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	b, err := e2e.Start(ctx, nil)
	if err == nil {
		b.Close()
		t.Fatal("Start with a canceled context returned no error")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
