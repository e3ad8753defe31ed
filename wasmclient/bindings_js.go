//go:build js && wasm

package wasmclient

import (
	"errors"
	"syscall/js"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// RegisterJS makes the client available to JavaScript as
// globalThis.__pushmap = {version, connect(url, opts, onEvent)}; web/pushmap.js
// wraps it in the documented JS API. It is the only place syscall/js is used.
//
// connect returns a handle with setView(west, south, east, north, zoom) and
// setLayers(layers), both returning Promises, markers(), status() and
// close(). onEvent(type, payload) receives 'changes', 'status' and 'error'
// events.
func RegisterJS() {
	api := js.Global().Get("Object").New()
	api.Set("version", wire.Version)
	api.Set("connect", js.FuncOf(jsConnect))
	js.Global().Set("__pushmap", api)
}

func jsConnect(_ js.Value, args []js.Value) any {
	if len(args) < 1 || args[0].Type() != js.TypeString {
		return jsError("bad_argument", "connect(url, opts, onEvent): url must be a string")
	}
	url := args[0].String()
	var opts, onEvent js.Value
	if len(args) > 1 {
		opts = args[1]
	}
	if len(args) > 2 && args[2].Type() == js.TypeFunction {
		onEvent = args[2]
	}
	o := &Options{}
	if opts.Type() == js.TypeObject {
		if v := opts.Get("token"); v.Type() == js.TypeString {
			o.Token = v.String()
		}
		if v := opts.Get("layers"); v.Type() == js.TypeObject {
			for i := range v.Length() {
				o.Layers = append(o.Layers, v.Index(i).String())
			}
		}
		if v := opts.Get("urls"); v.Type() == js.TypeObject {
			for i := range v.Length() {
				o.URLs = append(o.URLs, v.Index(i).String())
			}
		}
		if v := opts.Get("throttleMs"); v.Type() == js.TypeNumber {
			o.Throttle = dur(v.Float() * float64(millisecond))
		}
		if v := opts.Get("margin"); v.Type() == js.TypeNumber {
			o.Margin = v.Float()
		}
		if v := opts.Get("declutter"); v.Type() == js.TypeBoolean {
			o.Declutter = v.Bool()
		}
		if v := opts.Get("getToken"); v.Type() == js.TypeFunction {
			o.TokenFunc = jsTokenFunc(v)
		}
	}
	emit := func(kind string, payload any) {
		if onEvent.Truthy() {
			onEvent.Invoke(kind, payload)
		}
	}
	o.OnChange = func(ch Change) {
		emit("changes", map[string]any{
			"reset": ch.Reset, "added": jsMarkers(ch.Added), "updated": jsMarkers(ch.Updated),
			"removed": jsStrings(ch.Removed), "bytes": ch.Bytes,
		})
		for _, t := range ch.Tiles {
			emit("tile", map[string]any{"layer": t.Layer, "z": int(t.Z), "x": int(t.X), "y": int(t.Y), "version": float64(t.Version)})
		}
		if ch.ClustersReset || len(ch.Clusters) > 0 {
			emit("clusters", map[string]any{"reset": ch.ClustersReset, "clusters": jsClusters(ch.Clusters)})
		}
	}
	o.OnStatus = func(s Status) {
		emit("status", map[string]any{"state": s.State.String(), "code": s.Code, "reason": s.Reason})
		if code := connectionError(s); code != "" {
			emit("error", map[string]any{"code": code, "message": s.Reason, "closeCode": s.Code})
		}
	}
	o.OnError = func(e wire.Error) {
		emit("error", map[string]any{"code": e.Code.String(), "message": e.Message})
	}
	c := Connect(url, o)

	h := js.Global().Get("Object").New()
	h.Set("setView", js.FuncOf(func(_ js.Value, a []js.Value) any {
		if len(a) < 5 {
			return rejected("bad_argument", "setView(west, south, east, north, zoom)")
		}
		box := geo.BBox(a[0].Float(), a[1].Float(), a[2].Float(), a[3].Float())
		zoom := a[4].Float()
		id := 0
		if len(a) > 5 && a[5].Type() == js.TypeNumber {
			id = a[5].Int()
		}
		return promise(func() error { return c.setView(background(), id, box, zoom) })
	}))
	h.Set("setLayers", js.FuncOf(func(_ js.Value, a []js.Value) any {
		var layers []string
		if len(a) > 0 && a[0].Type() == js.TypeObject {
			for i := range a[0].Length() {
				layers = append(layers, a[0].Index(i).String())
			}
		}
		return promise(func() error { return c.setLayers(background(), layers) })
	}))
	h.Set("markers", js.FuncOf(func(js.Value, []js.Value) any {
		ms := c.Markers()
		list := make([]wire.Marker, 0, len(ms))
		for _, m := range ms {
			list = append(list, m)
		}
		return jsMarkers(list)
	}))
	// The clusters the Go client holds: the one copy (pushmap.js and
	// the adapters read it here).
	h.Set("clusters", js.FuncOf(func(js.Value, []js.Value) any { return jsClusters(c.Clusters()) }))
	h.Set("status", js.FuncOf(func(js.Value, []js.Value) any { return c.Status().State.String() }))
	h.Set("close", js.FuncOf(func(js.Value, []js.Value) any {
		go c.Close()
		return nil
	}))
	return h
}

// connectionError names what went wrong with the connection for the JS
// 'error' event, or "" when s reports no failure (open, closed by Close,
// a normal close).
func connectionError(s Status) string {
	if s.State == Open || s.Reason == "" || s.Reason == "client closed" {
		return ""
	}
	switch s.Code {
	case wire.CloseUnauthorized:
		return "unauthorized"
	case wire.CloseTokenExpired:
		return "token_expired"
	case wire.CloseForbidden:
		return "forbidden"
	case wire.CloseUnsupportedVersion:
		return "unsupported_version"
	case closeNormal, 1001:
		return ""
	}
	if s.State == Connecting {
		return "connect_failed"
	}
	return "disconnected"
}

// jsTokenFunc wraps getToken, a JS function returning a Promise of a
// string (pushmap.js makes it so), as a TokenFunc: it waits for the
// Promise on the calling goroutine, never in a JS callback.
func jsTokenFunc(getToken js.Value) func(ctx signal) (string, error) {
	return func(ctx signal) (string, error) {
		type result struct {
			tok string
			err error
		}
		done := make(chan result, 1)
		var onOK, onErr js.Func
		onOK = js.FuncOf(func(_ js.Value, a []js.Value) any {
			tok := ""
			if len(a) > 0 && a[0].Type() == js.TypeString {
				tok = a[0].String()
			}
			done <- result{tok: tok}
			return nil
		})
		onErr = js.FuncOf(func(_ js.Value, a []js.Value) any {
			msg := "getToken failed"
			if len(a) > 0 {
				msg = "getToken: " + a[0].Call("toString").String()
			}
			done <- result{err: errors.New(msg)}
			return nil
		})
		release := func() { onOK.Release(); onErr.Release() }
		if err := invokeThen(getToken, onOK, onErr); err != nil {
			release()
			return "", err
		}
		select {
		case r := <-done:
			release()
			return r.tok, r.err
		case <-ctx.Done():
			go func() { <-done; release() }() // the Promise may still settle
			return "", ctx.Err()
		}
	}
}

// invokeThen calls fn and hands its result, as a Promise, to onOK and
// onErr; a synchronous throw is returned as an error.
func invokeThen(fn js.Value, onOK, onErr js.Func) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("getToken threw")
			if je, ok := r.(js.Error); ok {
				err = errors.New("getToken threw: " + je.Error())
			}
		}
	}()
	js.Global().Get("Promise").Call("resolve", fn.Invoke()).Call("then", onOK, onErr)
	return nil
}

// jsClusters returns clusters as the JavaScript API gives them, less the
// key "view/id" pushmap.js adds (building it in Go linked strconv's
// integer formatting); an isolated marker's cluster has its marker as
// marker.
func jsClusters(cs []wire.Cluster) any {
	out := make([]any, len(cs))
	for i, cl := range cs {
		o := map[string]any{
			"view": cl.View, "id": float64(cl.ID),
			"z": int(cl.Z), "count": float64(cl.Count), "lon": cl.At.Lon, "lat": cl.At.Lat, "expansionZoom": int(cl.ExpansionZoom),
		}
		if cl.Marker != nil {
			o["marker"] = jsMarkers([]wire.Marker{*cl.Marker})[0]
		}
		out[i] = o
	}
	return out
}

func jsMarkers(ms []wire.Marker) []any {
	out := make([]any, len(ms))
	for i, m := range ms {
		props := map[string]any{}
		for k, v := range m.Props {
			props[k] = jsSafe(v)
		}
		out[i] = map[string]any{
			"id": m.ID, "layer": m.Layer, "lon": m.Pos.Lon, "lat": m.Pos.Lat,
			"version": float64(m.Version), "time": float64(m.Time), "props": props,
		}
	}
	return out
}

// jsSafe turns decoded MessagePack values into ones js.ValueOf accepts.
func jsSafe(v any) any {
	switch x := v.(type) {
	case nil, bool, string, float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return x
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = jsSafe(x[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsSafe(e)
		}
		return out
	case []byte:
		return string(x)
	}
	return nil
}

func jsStrings(ss []string) any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func jsError(code, message string) js.Value {
	e := js.Global().Get("Error").New(message)
	e.Set("code", code)
	return e
}

func rejected(code, message string) js.Value {
	return js.Global().Get("Promise").Call("reject", jsError(code, message))
}

// promise runs f in a goroutine and settles a JS Promise with its result;
// a wire.Error rejects with an Error whose code is the protocol's.
func promise(f func() error) js.Value {
	var executor js.Func
	executor = js.FuncOf(func(_ js.Value, a []js.Value) any {
		resolve, reject := a[0], a[1]
		go func() {
			defer executor.Release()
			err := f()
			if err == nil {
				resolve.Invoke()
				return
			}
			code, msg := "error", err.Error()
			for e := err; e != nil; e = unwrap(e) { // errors.As, without reflectlite
				if we, ok := e.(wire.Error); ok {
					code, msg = we.Code.String(), we.Message
					break
				}
				if e == ErrClosed {
					code = "closed"
					break
				}
			}
			reject.Invoke(jsError(code, msg))
		}()
		return nil
	})
	return js.Global().Get("Promise").New(executor)
}
