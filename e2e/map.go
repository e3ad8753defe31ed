//go:build !js

package e2e

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pushmap/pushmap/geo"
)

// A Shown is a marker as a page reports it: drawn in the viewport
// (ShownMarkers) or held in the client's cache (CachedMarkers).
type Shown struct {
	ID    string  `json:"id"`
	Layer string  `json:"layer"`
	Lon   float64 `json:"lon"` // degrees east
	Lat   float64 `json:"lat"` // degrees north
}

// String returns "layer/id (lon, lat)".
func (s Shown) String() string {
	return fmt.Sprintf("%s/%s (%g, %g)", s.Layer, s.ID, s.Lon, s.Lat)
}

// A ShownCluster is a cluster as a page's adapter draws it
// (ShownClusters): a group of markers that the server sent instead of the
// markers themselves.
type ShownCluster struct {
	Key           string  `json:"key"` // "view/id"
	View          int     `json:"view"`
	ID            float64 `json:"id"` // below 2^53
	Z             int     `json:"z"`  // the view's cluster zoom
	Count         uint64  `json:"count"`
	Lon           float64 `json:"lon"` // weight centre, degrees east
	Lat           float64 `json:"lat"` // weight centre, degrees north
	ExpansionZoom int     `json:"expansionZoom"`
}

// String returns "view/id ×count (lon, lat)".
func (c ShownCluster) String() string {
	return fmt.Sprintf("%s ×%d (%g, %g)", c.Key, c.Count, c.Lon, c.Lat)
}

// adapterJS wraps body in an async function that has the page's adapter as
// a and its map as m (the names reg, a and m are taken), and throws a readable error when the adapter is
// missing.
func (p *Page) adapterJS(body string) string {
	return fmt.Sprintf(`(async () => {
const reg = globalThis.__pushmapAdapters;
const a = Array.isArray(reg) ? reg[%[1]d] : undefined;
if (!a) throw new Error('no pushmap adapter %[1]d: globalThis.__pushmapAdapters ' +
  (Array.isArray(reg) ? 'has ' + reg.length + ' entries' : 'is ' + typeof reg));
const m = a.map;
%[2]s
})()`, p.adapter, body)
}

// limit returns ctx limited to Options.Timeout when it has no deadline.
func (p *Page) limit(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, p.tab.b.timeout)
}

// state describes the adapter for error messages: its kind, the client's
// status and how many markers it caches and shows. It never fails: it
// returns a description of its own error instead.
func (p *Page) state() string {
	ctx, cancel := context.WithTimeout(p.tab.ctx, time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
const i = `+strconv.Itoa(p.adapter)+`;
const reg = globalThis.__pushmapAdapters;
const a = Array.isArray(reg) ? reg[i] : undefined;
if (!a) return 'no pushmap adapter ' + i + ': globalThis.__pushmapAdapters ' +
  (Array.isArray(reg) ? 'has ' + reg.length + ' entries' : 'is ' + typeof reg);
const m = a.map, c = a.client || {};
const n = f => { try { const v = f(); return Array.isArray(v) ? v.length : typeof v } catch (e) { return String(e) } };
let mv = '';
if (a.kind === 'maplibre') { try { mv = ', isMoving ' + m.isMoving() + ', loaded ' + m.loaded() } catch (e) { mv = ', ' + e } }
let cl = '';
if (typeof a.shownClusters === 'function') cl = ', client.clusters() ' + n(() => c.clusters()) + ', shownClusters() ' + n(() => a.shownClusters());
return 'adapter ' + i + ' (' + a.kind + '): client.status ' + JSON.stringify(c.status) +
  ', client.markers() ' + n(() => c.markers()) + ', shownMarkers() ' + n(() => a.shownMarkers()) + cl + mv;
})()`))
	if err != nil {
		return "adapter state unknown: " + jsErr(err).Error()
	}
	return s
}

// WaitConnected waits until the page has registered its map adapter (0, or
// the one chosen with Adapter) and the adapter's client.status is 'open'.
// On timeout the error says what the adapter's state was.
func (p *Page) WaitConnected(ctx context.Context) error {
	cond := fmt.Sprintf(`globalThis.__pushmapAdapters[%d].client.status === 'open'`, p.adapter)
	if err := p.WaitFor(ctx, cond); err != nil {
		return fmt.Errorf("e2e: WaitConnected: %s: %w", p.state(), err)
	}
	return nil
}

// WaitIdle waits until the map has finished moving and rendering. For a
// MapLibre map that is !isMoving() && loaded() followed by one 'idle' event
// (WaitIdle calls triggerRepaint so that an idle map fires one); for a
// Leaflet map, two animation frames.
func (p *Page) WaitIdle(ctx context.Context) error {
	actx, done := p.bind(ctx)
	defer done()
	err := p.waitIdle(actx)
	if err != nil {
		return fmt.Errorf("e2e: WaitIdle: %s: %w", p.state(), jsErr(ctxErr(ctx, actx, err)))
	}
	return nil
}

// waitIdle runs the wait of WaitIdle in the page, bounded by actx.
func (p *Page) waitIdle(actx context.Context) error {
	budget := int64(math.MaxInt32)
	if dl, ok := actx.Deadline(); ok {
		budget = max(time.Until(dl).Milliseconds(), 1)
	}
	js := p.adapterJS(`
const frame = () => new Promise(r => requestAnimationFrame(() => r()));
if (a.kind === 'maplibre') {
  const end = Date.now() + ` + strconv.FormatInt(budget, 10) + `;
  while (m.isMoving() || !m.loaded()) {
    if (Date.now() > end) throw new Error('map not idle: isMoving ' + m.isMoving() + ', loaded ' + m.loaded());
    await new Promise(r => setTimeout(r, 20));
  }
  await new Promise(r => {
    m.once('idle', () => r());
    if (typeof m.triggerRepaint === 'function') m.triggerRepaint();
  });
} else {
  await frame();
  await frame();
}
return true;`)
	_, err := chromedp.Run(actx, chromedp.Evaluate[chromedp.Void](js, chromedp.EvalAwaitPromise))
	return err
}

// num formats v as a JavaScript number literal.
func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// JumpTo moves the map without animation so that it is centred on lon, lat
// (degrees) at the given slippy-map zoom, and waits until it is idle. It
// returns an error, and does not touch the page, for a point that is not a
// valid geo.Point or a zoom that is negative or not finite.
func (p *Page) JumpTo(ctx context.Context, lon, lat, zoom float64) error {
	if err := geo.Pt(lon, lat).Validate(); err != nil {
		return fmt.Errorf("e2e: JumpTo: %w", err)
	}
	if math.IsNaN(zoom) || math.IsInf(zoom, 0) || zoom < 0 {
		return fmt.Errorf("e2e: JumpTo: zoom %v must be finite and not negative", zoom)
	}
	js := p.adapterJS(`
if (a.kind === 'maplibre') m.jumpTo({center: [` + num(lon) + `, ` + num(lat) + `], zoom: Math.max(0, ` + num(zoom) + ` - 1)}); // MapLibre: 512-pixel tiles
else if (a.kind === 'leaflet') m.setView([` + num(lat) + `, ` + num(lon) + `], ` + num(zoom) + `, {animate: false});
else throw new Error('unknown adapter kind ' + JSON.stringify(a.kind));
return true;`)
	return p.move(ctx, fmt.Sprintf("JumpTo(%g, %g, zoom %g)", lon, lat, zoom), js)
}

// FitBox moves the map without animation so that it shows box, and waits
// until it is idle. A box that crosses the antimeridian (West > East) is
// passed to the map with East+360, which MapLibre and Leaflet both take as
// a box running east across 180°. An invalid box is an error and does not
// touch the page.
func (p *Page) FitBox(ctx context.Context, box geo.Box) error {
	if err := box.Validate(); err != nil {
		return fmt.Errorf("e2e: FitBox: %w", err)
	}
	w, s, e, n := box.West, box.South, box.East, box.North
	if box.CrossesAntimeridian() {
		e += 360
	}
	js := p.adapterJS(`
if (a.kind === 'maplibre') m.fitBounds([[` + num(w) + `, ` + num(s) + `], [` + num(e) + `, ` + num(n) + `]], {animate: false});
else if (a.kind === 'leaflet') m.fitBounds([[` + num(s) + `, ` + num(w) + `], [` + num(n) + `, ` + num(e) + `]], {animate: false});
else throw new Error('unknown adapter kind ' + JSON.stringify(a.kind));
return true;`)
	return p.move(ctx, fmt.Sprintf("FitBox(%v)", box), js)
}

// move runs js, which moves the map, and waits until the map is idle.
func (p *Page) move(ctx context.Context, what, js string) error {
	actx, done := p.bind(ctx)
	defer done()
	_, err := chromedp.Run(actx, chromedp.Evaluate[chromedp.Void](js, chromedp.EvalAwaitPromise))
	if err == nil {
		err = p.waitIdle(actx)
	}
	if err != nil {
		return fmt.Errorf("e2e: %s: %s: %w", what, p.state(), jsErr(ctxErr(ctx, actx, err)))
	}
	return nil
}

// markersJS returns the markers that list() gives, as Shown values.
const markersJS = `
const list = await list_();
return (list || []).map(x => ({
  id: String(x.id),
  layer: x.layer == null ? '' : String(x.layer),
  lon: Number(x.lon),
  lat: Number(x.lat),
}));`

// ShownMarkers returns the markers the map adapter draws in the viewport,
// from its shownMarkers(), sorted by Layer, then ID. The slice is the
// caller's.
func (p *Page) ShownMarkers(ctx context.Context) ([]Shown, error) {
	return p.markers(ctx, "ShownMarkers", `const list_ = () => a.shownMarkers();`)
}

// CachedMarkers returns the markers the adapter's client holds, from
// client.markers(), sorted by Layer, then ID. The slice is the caller's.
func (p *Page) CachedMarkers(ctx context.Context) ([]Shown, error) {
	return p.markers(ctx, "CachedMarkers", `const list_ = () => a.client.markers();`)
}

func (p *Page) markers(ctx context.Context, what, list string) ([]Shown, error) {
	actx, done := p.bind(ctx)
	defer done()
	ms, err := chromedp.Run(actx, chromedp.Evaluate[[]Shown](p.adapterJS(list+markersJS), chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("e2e: %s: %w", what, jsErr(ctxErr(ctx, actx, err)))
	}
	slices.SortFunc(ms, func(x, y Shown) int {
		return cmp.Or(cmp.Compare(x.Layer, y.Layer), cmp.Compare(x.ID, y.ID))
	})
	return ms, nil
}

// clustersJS returns the clusters that list() gives, as ShownCluster values.
const clustersJS = `
const list = await list_();
return (list || []).map(c => ({
  key: c.key == null ? c.view + '/' + c.id : String(c.key),
  view: Number(c.view), id: Number(c.id), z: Number(c.z),
  count: Number(c.count),
  lon: Number(c.lon), lat: Number(c.lat), expansionZoom: Number(c.expansionZoom),
}));`

// ShownClusters returns the clusters the map adapter draws in the viewport,
// from its shownClusters(), sorted by view and id. An adapter without
// shownClusters is an error. The slice is the caller's.
func (p *Page) ShownClusters(ctx context.Context) ([]ShownCluster, error) {
	return p.clusters(ctx, "ShownClusters", `if (typeof a.shownClusters !== 'function') throw new Error('adapter ' + a.kind + ' has no shownClusters()');
const list_ = () => a.shownClusters();`)
}

// CachedClusters returns the clusters the adapter's client holds, from
// client.clusters(), sorted by Z, X, Y. The slice is the caller's.
func (p *Page) CachedClusters(ctx context.Context) ([]ShownCluster, error) {
	return p.clusters(ctx, "CachedClusters", `const list_ = () => a.client.clusters();`)
}

func (p *Page) clusters(ctx context.Context, what, list string) ([]ShownCluster, error) {
	actx, done := p.bind(ctx)
	defer done()
	cs, err := chromedp.Run(actx, chromedp.Evaluate[[]ShownCluster](p.adapterJS(list+clustersJS), chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("e2e: %s: %w", what, jsErr(ctxErr(ctx, actx, err)))
	}
	slices.SortFunc(cs, func(a, b ShownCluster) int {
		return cmp.Or(cmp.Compare(a.View, b.View), cmp.Compare(a.ID, b.ID))
	})
	return cs, nil
}

// WaitShown polls ShownMarkers every 50 ms until ok returns true for the
// markers shown. ok gets a fresh slice each time. Errors of ShownMarkers
// (such as an adapter that is not there yet) keep the poll going. On
// timeout the error wraps ctx's error and lists what was shown last, or the
// last error of ShownMarkers.
func (p *Page) WaitShown(ctx context.Context, ok func([]Shown) bool) error {
	return waitList(ctx, p, "WaitShown", p.ShownMarkers, ok)
}

// WaitClusters polls ShownClusters every 50 ms until ok returns true for the
// clusters shown, as WaitShown does for markers.
func (p *Page) WaitClusters(ctx context.Context, ok func([]ShownCluster) bool) error {
	return waitList(ctx, p, "WaitClusters", p.ShownClusters, ok)
}

// waitList polls read every 50 ms until ok returns true; see WaitShown.
func waitList[T fmt.Stringer](ctx context.Context, p *Page, what string, read func(context.Context) ([]T, error), ok func([]T) bool) error {
	wctx, cancel := p.limit(ctx)
	defer cancel()
	var (
		last    []T
		seen    bool
		lastErr error
	)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := read(wctx)
		switch {
		case err == nil:
			if ok(got) {
				return nil
			}
			last, seen, lastErr = got, true, nil
		case wctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled):
			lastErr = err // the end of wctx is reported below, not as the last error
		}
		select {
		case <-tick.C:
			continue
		case <-wctx.Done():
		}
		var desc string
		switch {
		case lastErr != nil:
			desc = "last error: " + lastErr.Error()
		case seen:
			desc = describeList(last)
		default:
			desc = "nothing read"
		}
		cause := ctx.Err()
		if cause == nil {
			cause = wctx.Err()
		}
		return fmt.Errorf("e2e: %s on %s: %w; %s; last console lines:%s",
			what, p.tab.url, cause, desc, p.tab.lastLines(consoleTail))
	}
}

// describeList lists up to 20 markers or clusters for an error message.
func describeList[T fmt.Stringer](ms []T) string {
	const most = 20
	var b strings.Builder
	noun := "markers"
	if _, ok := any(ms).([]ShownCluster); ok {
		noun = "clusters"
	}
	fmt.Fprintf(&b, "last shown %d %s", len(ms), noun)
	if len(ms) > 0 {
		b.WriteString(": ")
		for i, m := range ms[:min(len(ms), most)] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(m.String())
		}
		if len(ms) > most {
			fmt.Fprintf(&b, ", … %d more", len(ms)-most)
		}
	}
	return b.String()
}

// ClickAt clicks the page with the mouse (a real press and release, through
// the browser's input) at the point where the map shows lon, lat: MapLibre's
// map.project, Leaflet's latLngToContainerPoint, plus the map container's
// offset in the page. It does not wait for what the click does.
func (p *Page) ClickAt(ctx context.Context, lon, lat float64) error {
	actx, done := p.bind(ctx)
	defer done()
	js := p.adapterJS(fmt.Sprintf(`const lon = %v, lat = %v;
const pt = a.kind === 'leaflet' ? m.latLngToContainerPoint([lat, lon]) : m.project([lon, lat]);
const box = m.getContainer().getBoundingClientRect();
return [box.left + pt.x, box.top + pt.y];`, lon, lat))
	xy, err := chromedp.Run(actx, chromedp.Evaluate[[2]float64](js, chromedp.EvalAwaitPromise))
	if err == nil {
		err = chromedp.Do(actx, chromedp.MouseClickXY(xy[0], xy[1]))
	}
	if err != nil {
		return fmt.Errorf("e2e: ClickAt(%v, %v): %w", lon, lat, jsErr(ctxErr(ctx, actx, err)))
	}
	return nil
}
