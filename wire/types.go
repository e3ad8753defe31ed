package wire

// Version is the protocol version this package speaks. A client announces
// its version in Hello; the server closes the connection with
// CloseUnsupportedVersion when it does not speak it.
const Version = 1

// Type is the integer code that opens every message.
type Type uint8

// Client-to-server message types.
const (
	TypeHello   Type = 1 // Hello: must be the first message of a connection
	TypeView    Type = 2 // View: set or replace one of the client's views
	TypeUnview  Type = 3 // Unview: drop one of the client's views
	TypeLayers  Type = 4 // Layers: change the layers the client sees
	TypeRefresh Type = 5 // Refresh: a new token on the open connection
)

// Server-to-client message types.
const (
	TypeWelcome    Type = 16 // Welcome: answer to Hello, with the server's limits
	TypeViewAck    Type = 17 // ViewAck: a view was applied; carries the markers it adds
	TypeUnviewAck  Type = 18 // UnviewAck: a view was dropped
	TypeReset      Type = 19 // Reset: replace the whole cache with these markers
	TypeBatch      Type = 20 // Batch: marker upserts and removes
	TypeError      Type = 21 // Error: a message was refused; the connection goes on
	TypeRefreshAck Type = 22 // RefreshAck: a Refresh was accepted and changes nothing else
	TypeMore       Type = 23 // More: the next ops of a continued ViewAck or Reset
)

// typeNames is indexed by Type; "" for a number that names no type. An
// array, not a map: the two maps built at init cost the browser's .wasm
// about 1 KB of brotli (docs/design.md).
var typeNames = [...]string{
	TypeHello: "hello", TypeView: "view", TypeUnview: "unview", TypeLayers: "layers",
	TypeWelcome: "welcome", TypeViewAck: "view_ack", TypeUnviewAck: "unview_ack",
	TypeReset: "reset", TypeBatch: "batch", TypeError: "error",
	TypeRefresh: "refresh", TypeRefreshAck: "refresh_ack", TypeMore: "more",
}

// String returns the message type's name as written in docs/protocol.md,
// such as "view_ack".
func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "type(" + itoa(int(t)) + ")"
}

// Flags qualify a ViewAck or a Reset.
type Flags uint8

const (
	// FlagSnapshot on a ViewAck: the markers it carries are everything the
	// client should hold; drop the cache and every other view first. The
	// server sets it on the first view of a connection, so a reconnecting
	// client reconciles its cache with the server's state.
	FlagSnapshot Flags = 1 << 0
	// FlagTruncated: the view holds more markers than the server's budget;
	// only the first Budget were sent.
	FlagTruncated Flags = 1 << 1
	// FlagBehind on a Reset: the client fell too far behind and its backlog
	// was replaced by this fresh state.
	FlagBehind Flags = 1 << 2
	// FlagClusters on a ViewAck: the view holds more markers than the
	// budget and is in cluster mode: its ops are clusters, which replace
	// the view's clusters, and the view holds no markers.
	FlagClusters Flags = 1 << 3
	// FlagContinued on a ViewAck or a Reset: the reply did not fit in one
	// frame; its ops go on in the More frames that follow it at once, the
	// last with Remaining 0. The reply is complete after that one.
	FlagContinued Flags = 1 << 4
)

// Tags opening the ops that are not about one marker. A marker upsert is an
// array opening with the marker's id (a string) and a remove is a string;
// these open with an integer.
const (
	TagTile    = 1 // [1, layer, z, x, y, version]
	TagCluster = 2 // [2, view, id, z, count, lonE7, latE7, expansionZoom, marker?]
)

// Code is the reason carried by an Error message.
type Code uint16

// Error codes. docs/protocol.md describes when each is sent.
const (
	CodeMalformed     Code = 1  // the frame is not a well-formed message of this protocol
	CodeUnknownType   Code = 2  // the message type is not one the server knows
	CodeInvalidPoint  Code = 3  // a coordinate is NaN, infinite or out of range
	CodeInvalidBox    Code = 4  // a box has its south above its north
	CodeInvalidView   Code = 5  // a view id or zoom is out of range
	CodeRateLimited   Code = 6  // view changes come faster than the server allows
	CodeTooManyViews  Code = 7  // the connection already holds MaxViews views
	CodeUnknownView   Code = 8  // unview of a view the connection does not hold
	CodeBadHello      Code = 9  // a second hello, or too many layers
	CodeInvalidMarker Code = 10 // a marker's id, layer or properties break a limit
	CodeForbidden     Code = 11 // the client's grant does not allow what it asked for (a layer)
	CodeUnauthorized  Code = 12 // a Refresh's token was refused; the old grant stays until it expires
)

// codeNames is indexed by Code, as typeNames by Type.
var codeNames = [...]string{
	CodeMalformed: "malformed", CodeUnknownType: "unknown_type",
	CodeInvalidPoint: "invalid_point", CodeInvalidBox: "invalid_box",
	CodeInvalidView: "invalid_view", CodeRateLimited: "rate_limited",
	CodeTooManyViews: "too_many_views", CodeUnknownView: "unknown_view",
	CodeBadHello: "bad_hello", CodeInvalidMarker: "invalid_marker",
	CodeForbidden: "forbidden", CodeUnauthorized: "unauthorized",
}

// String returns the code's name as written in docs/protocol.md, such as
// "rate_limited".
func (c Code) String() string {
	if int(c) < len(codeNames) && codeNames[c] != "" {
		return codeNames[c]
	}
	return "code(" + itoa(int(c)) + ")"
}

// WebSocket close codes the server uses besides the standard ones (1000
// normal, 1001 going away, 1003 unsupported data, 1008 policy violation,
// 1009 message too big, 1011 internal error, 1013 try again later).
const (
	CloseHelloRequired      = 4000 // the first message was not a Hello, or came too late
	CloseUnsupportedVersion = 4001 // the Hello named a protocol version the server does not speak
	CloseTooSlow            = 4002 // the client could not keep up and was disconnected
	CloseViewFlood          = 4003 // the client kept sending views past the rate limit
	CloseUnauthorized       = 4401 // the server's Authorize refused the Hello's token
	CloseTokenExpired       = 4402 // the grant's expiry passed without a Refresh
	CloseForbidden          = 4403 // the Hello asked for a layer its grant does not allow
)

// Limits bound what one message may carry. Decoders refuse anything larger.
const (
	MaxIDLen     = 256 // bytes in a marker id
	MaxLayerLen  = 64  // bytes in a layer name
	MaxLayers    = 64  // layers in a Hello or Layers message
	MaxTokenLen  = 4096
	MaxViewID    = 255 // view ids run from 0 to MaxViewID
	MaxPropsSize = 32  // entries in a marker's Props

	// MinFrameBytes is the least frame size a client may announce in its
	// Hello; a smaller value counts as MinFrameBytes.
	MinFrameBytes = 64 << 10

	// MaxPropLen caps the bytes of one string property value. 4 KiB holds
	// a long URL, a paragraph of text or a small inline icon; anything
	// larger belongs behind a URL.
	MaxPropLen = 4096

	// MaxPropsBytes caps a marker's Props as MessagePack (names, values and
	// their headers, counting 9 bytes per number): a marker op is then at
	// most about 8.5 KiB, so the default view budget of 5000 such markers
	// (a 42 MiB view_ack) still fits the JS client's 64 MiB frame limit.
	MaxPropsBytes = 8192

	// MaxDepth caps how deep arrays and maps nest in one frame or feed
	// document (JSON, GeoJSON, MessagePack, a Redis entry's props), the
	// outermost array or map being level 1. Decoders refuse deeper input
	// with an error naming the limit, before walking it: without a limit a
	// body of 8 million nested arrays exhausted the stack of msgpack's
	// recursive Skip and killed the process.
	MaxDepth = 32
)
