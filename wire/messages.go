package wire

import (
	"math"
	"unicode/utf8"

	"github.com/pushmap/pushmap/geo"
)

// A Message is one of the protocol's messages: Hello, View, Unview,
// Layers, Refresh (client to server) or Welcome, ViewAck, UnviewAck, Reset,
// Batch, Error, RefreshAck, More (server to client).
type Message interface {
	Type() Type
}

// Hello opens a connection: [1, version, token, layers, maxFrameBytes,
// declutter].
type Hello struct {
	Version int      // the protocol version the client speaks: Version
	Token   string   // credentials, "" when the server needs none
	Layers  []string // layers to see; empty means every layer the grant allows
	// MaxFrameBytes is the largest frame the client reads; 0 (or absent on
	// the wire) leaves it to the server. Values below MinFrameBytes count
	// as MinFrameBytes.
	MaxFrameBytes int
	// Declutter asks that markers closer than the cluster radius on
	// screen be grouped below the budget too: every view of the
	// connection below DeclutterMaxZoom is in cluster mode, its isolated
	// markers clusters of count 1 carrying the marker (Cluster.Marker;
	// docs/protocol.md, Decluttering). On
	// the wire 1, or 0 / absent for false.
	Declutter bool
}

// DeclutterMaxZoom is the zoom from which a decluttering connection's
// views get markers again (when they hold no more than the budget):
// supercluster's maxZoom, past which it clusters no points either.
const DeclutterMaxZoom = 16

// Refresh presents a new token on an open connection: [5, token]. The
// server answers with a RefreshAck, a Reset when the new grant changes
// what the client may see, or an Error (CodeUnauthorized) leaving the old
// grant in force until it expires.
type Refresh struct {
	Token string
}

// RefreshAck accepts a Refresh whose grant allows the same layers and area
// as before: [22, expires], expires in Unix milliseconds (0: never).
type RefreshAck struct {
	Expires int64
}

// More carries the next ops of a ViewAck or Reset with FlagContinued:
// [23, remaining, op...]. Remaining is how many More frames follow this
// one; the reply is complete at the one with Remaining 0. The client
// applies the ops as it applies those of the reply they continue.
type More struct {
	Remaining int
	Ops       []Op
}

// View sets (or replaces) the client's view number ID:
// [2, id, west, south, east, north, zoom].
type View struct {
	ID   int     // 0..MaxViewID; a client with one map uses 0
	Box  geo.Box // West > East crosses the antimeridian
	Zoom float64 // the map's zoom, 0..MaxZoom
}

// Unview drops the client's view number ID: [3, id].
type Unview struct {
	ID int
}

// Layers replaces the set of layers the client sees: [4, layers].
// The server answers with a Reset.
type Layers struct {
	Layers []string // empty means every layer
}

// Welcome answers a Hello: [16, version, budget, maxViews, viewRate,
// viewBurst, maxFrameBytes, clusterZoom]. It tells the client the limits it
// must keep.
type Welcome struct {
	Version       int
	Budget        int     // most markers (or clusters) sent for one view
	MaxViews      int     // most views a connection may hold
	ViewRate      float64 // view changes per second allowed on average
	ViewBurst     int     // view changes allowed at once
	MaxFrameBytes int     // largest frame the server accepts
	ClusterZoom   int     // finest zoom at which the server keeps clusters
}

// ViewAck tells the client a View was applied:
// [17, id, west, south, east, north, zoom, flags, op...]. The client sets
// the view to View, drops cached markers no longer inside any of its views
// (or its whole cache and other views if Flags has FlagSnapshot), then
// applies Ops: the markers in the view that were not in the old ones.
type ViewAck struct {
	View  View
	Flags Flags
	Ops   []Op
}

// UnviewAck tells the client a view was dropped: [18, id]. The client drops
// cached markers no longer inside any of its remaining views.
type UnviewAck struct {
	ID int
}

// Reset replaces the client's whole state: [19, flags, views, op...], views
// being an array of [id, west, south, east, north, zoom, flags,
// clusterZoom] (flags FlagClusters for a view in cluster mode, absent
// means 0; clusterZoom, for a view in cluster mode only, the zoom of its
// clusters). The client's views become Views and its cache exactly Ops,
// every marker in those views. Sent after a Layers change and when the
// client fell behind (FlagBehind); it acknowledges any View or Unview sent
// before it.
type Reset struct {
	Flags Flags
	Views []View
	// Clustered[i] tells whether Views[i] is in cluster mode; nil means
	// none is.
	Clustered []bool
	// ClusterZooms[i], for a view in cluster mode, is the zoom of its
	// clusters, chosen by the server; -1 when the reset did not say.
	// Entries of views in marker mode are not used. Nil when no view is
	// in cluster mode.
	ClusterZooms []int
	Ops          []Op
}

// Batch carries marker changes in the client's views: [20, op...].
type Batch struct {
	Ops []Op
}

// Error reports a refused message: [21, code, message]. The connection goes
// on. Error is also a Go error, returned by the decoders and validators of
// this package.
type Error struct {
	Code    Code
	Message string
}

// An Op is one change in a client's views: a marker upsert (the marker, new
// or changed), a marker remove (Remove set, only Marker.ID meaningful), a
// tile change (Tile set) or a cluster change (Cluster set).
type Op struct {
	Remove  bool
	Marker  Marker
	Tile    *TileChange // not nil: a tile of a tile layer changed
	Cluster *Cluster    // not nil: a cluster of a view in cluster mode changed
}

// A TileChange says that tile Z/X/Y of a tile layer changed: a map showing
// it should fetch it again. On the wire: [1, layer, z, x, y, version].
type TileChange struct {
	Layer   string
	Z       uint8
	X, Y    uint32
	Version uint64 // grows with every change of the layer; use it to bust caches
}

// A Cluster is one of the clusters that stand for the markers of a view in
// cluster mode (one holding more markers than the budget): no two of a
// view's clusters are closer than 40 pixels on a map at the view's cluster
// zoom, and each sits at the weight centre of its markers. A cluster op
// adds or replaces the cluster ID of view View; Count 0 means it is gone.
// On the wire: [2, view, id, z, count, lonE7, latE7, expansionZoom,
// marker?], the marker, for a cluster of count 1, its upsert op (an array
// opening with its id) when the server sends it.
type Cluster struct {
	// Marker, on a cluster of Count 1, is its one marker (id, layer,
	// position, version, time, props), as an upsert would carry it: an
	// isolated marker, for the client to draw as a marker rather than a
	// cluster labelled 1. Nil on other clusters (and from a server that
	// does not send it). It is a copy: the view holds no marker.
	Marker *Marker
	View   int    // the id of the client's view it belongs to
	ID     uint64 // names it within its view, stable while it changes a little; below 2^53 (MaxClusterID)
	Z      uint8  // the view's cluster zoom: the clusters are merged for a map at this zoom
	Count  uint64 // markers it holds, exactly, in the layers the client sees
	At     geo.Point
	// ExpansionZoom is the zoom at which the cluster splits into several
	// (greater than Z, at most geo.MaxZoom): where a click on it zooms to.
	ExpansionZoom uint8
}

// MaxClusterID is the largest cluster id: 2^53 − 1, the largest integer a
// JavaScript number holds exactly.
const MaxClusterID = 1<<53 - 1

// Type returns TypeHello; each message's Type method returns its type code.
func (Hello) Type() Type { return TypeHello }

// Type returns TypeView.
func (View) Type() Type { return TypeView }

// Type returns TypeUnview.
func (Unview) Type() Type { return TypeUnview }

// Type returns TypeLayers.
func (Layers) Type() Type { return TypeLayers }

// Type returns TypeRefresh.
func (Refresh) Type() Type { return TypeRefresh }

// Type returns TypeRefreshAck.
func (RefreshAck) Type() Type { return TypeRefreshAck }

// Type returns TypeMore.
func (More) Type() Type { return TypeMore }

// Type returns TypeWelcome.
func (Welcome) Type() Type { return TypeWelcome }

// Type returns TypeViewAck.
func (ViewAck) Type() Type { return TypeViewAck }

// Type returns TypeUnviewAck.
func (UnviewAck) Type() Type { return TypeUnviewAck }

// Type returns TypeReset.
func (Reset) Type() Type { return TypeReset }

// Type returns TypeBatch.
func (Batch) Type() Type { return TypeBatch }

// Type returns TypeError.
func (Error) Type() Type { return TypeError }

// Error returns the error as "pushmap: <code name>: <message>".
func (e Error) Error() string { return "pushmap: " + e.Code.String() + ": " + e.Message }

// Validate reports why v cannot be applied, as an Error with code
// CodeInvalidView, CodeInvalidPoint or CodeInvalidBox naming the bad value.
func (v View) Validate() error {
	if v.ID < 0 || v.ID > MaxViewID {
		return Error{CodeInvalidView, "view id " + itoa(v.ID) + " is outside [0, " + itoa(MaxViewID) + "]"}
	}
	if math.IsNaN(v.Zoom) || v.Zoom < 0 || v.Zoom > geo.MaxZoom {
		return Error{CodeInvalidView, "zoom " + ftoa(v.Zoom) + " is outside [0, " + itoa(geo.MaxZoom) + "]"}
	}
	b := v.Box
	for _, p := range [2]geo.Point{{Lon: b.West, Lat: b.South}, {Lon: b.East, Lat: b.North}} {
		if err := p.Validate(); err != nil {
			return Error{CodeInvalidPoint, "view box " + b.String() + ": " + err.Error()}
		}
	}
	if err := b.Validate(); err != nil {
		return Error{CodeInvalidBox, "view box " + b.String() + ": " + err.Error()}
	}
	return nil
}

// ValidateLayers reports why layers cannot be subscribed to: too many, or a
// name too long.
func ValidateLayers(layers []string) error {
	if len(layers) > MaxLayers {
		return Error{CodeBadHello, itoa(len(layers)) + " layers, at most " + itoa(MaxLayers) + " allowed"}
	}
	for _, l := range layers {
		if len(l) > MaxLayerLen {
			return Error{CodeBadHello, "layer name " + quoteN(l, 20) + "… is " + itoa(len(l)) + " bytes, at most " + itoa(MaxLayerLen) + " allowed"}
		}
	}
	return nil
}

// Validate reports why m cannot be stored: an empty or too long id or
// layer, an id, layer or property name that is not UTF-8, an invalid
// position, too many properties, a property value that is not a string, a
// number, a boolean or nil, or larger than MaxPropLen, or properties larger
// than MaxPropsBytes in all. The error names the bad value. Every feed path
// (Server.Apply, Upsert, the HTTP and Redis feeds) goes through it.
func (m *Marker) Validate() error {
	if m.ID == "" {
		return Error{CodeInvalidMarker, "marker id is empty"}
	}
	if len(m.ID) > MaxIDLen {
		return Error{CodeInvalidMarker, "marker id " + quoteN(m.ID, 20) + "… is " + itoa(len(m.ID)) + " bytes, at most " + itoa(MaxIDLen) + " allowed"}
	}
	if !utf8.ValidString(m.ID) {
		return Error{CodeInvalidMarker, "marker id " + quote(m.ID) + " is not valid UTF-8"}
	}
	if len(m.Layer) > MaxLayerLen {
		return Error{CodeInvalidMarker, "marker " + quote(m.ID) + ": layer name is " + itoa(len(m.Layer)) + " bytes, at most " + itoa(MaxLayerLen) + " allowed"}
	}
	if !utf8.ValidString(m.Layer) {
		return Error{CodeInvalidMarker, "marker " + quote(m.ID) + ": layer name " + quote(m.Layer) + " is not valid UTF-8"}
	}
	if err := m.Pos.Validate(); err != nil {
		return Error{CodeInvalidPoint, "marker " + quote(m.ID) + ": " + err.Error()}
	}
	if len(m.Props) > MaxPropsSize {
		return Error{CodeInvalidMarker, "marker " + quote(m.ID) + ": " + itoa(len(m.Props)) + " properties, at most " + itoa(MaxPropsSize) + " allowed"}
	}
	size := 1 // the map's header
	if len(m.Props) > 15 {
		size = 3
	}
	for k, v := range m.Props {
		if k == "" || len(k) > MaxLayerLen {
			return Error{CodeInvalidMarker, "marker " + quote(m.ID) + ": property name " + quoteN(k, 20) + " has " + itoa(len(k)) + " bytes, want 1 to " + itoa(MaxLayerLen)}
		}
		if !utf8.ValidString(k) {
			return Error{CodeInvalidMarker, "marker " + quote(m.ID) + ": property name " + quote(k) + " is not valid UTF-8"}
		}
		size += strSize(k)
		switch v := v.(type) {
		case nil, bool:
			size++
		case float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
			size += 9
		case string:
			if len(v) > MaxPropLen {
				return Error{CodeInvalidMarker, "marker " + quote(m.ID) + ": prop " + quote(k) + " is " + itoa(len(v)) + " bytes, at most " + itoa(MaxPropLen) + " allowed"}
			}
			if !utf8.ValidString(v) {
				return Error{CodeInvalidMarker, "marker " + quote(m.ID) + ": prop " + quote(k) + ": " + quoteN(v, 40) + " is not valid UTF-8"}
			}
			size += strSize(v)
		default:
			return Error{CodeInvalidMarker, "marker " + quote(m.ID) + ": property " + quote(k) + " is a " + typeOf(v) + "; want a string, number, boolean or nil"}
		}
	}
	if size > MaxPropsBytes {
		return Error{CodeInvalidMarker, "marker " + quote(m.ID) + ": props are " + itoa(size) + " bytes as MessagePack, at most " + itoa(MaxPropsBytes) + " allowed"}
	}
	return nil
}

// strSize is the size of s as a MessagePack string.
func strSize(s string) int {
	switch n := len(s); {
	case n < 32:
		return 1 + n
	case n <= 0xff:
		return 2 + n
	case n <= 0xffff:
		return 3 + n
	default:
		return 5 + n
	}
}
