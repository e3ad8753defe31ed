// Package baseline holds the servers pushmap's load benchmark compares
// pushmap with, what users would pick instead of it:
//
//   - Tiles, a tile-channel broker: the pattern of generic pub/sub brokers
//     (Centrifugo channels, Socket.IO rooms, MQTT topics) used for live
//     maps. Each client subscribes to the channels of the slippy-map tiles
//     covering its view and re-subscribes when it pans; each update is
//     published to the channel of its marker's tile (and, when the marker
//     crosses into another tile, to the old tile's channel too, so that its
//     subscribers see it leave).
//   - Broadcast: every update to every client, which filters by itself.
//   - Poll, a polling endpoint as a competent engineer would write it:
//     the changes in a box since a cursor, conditional requests (ETag,
//     304) and gzip. (The naive poller needs no server of its own: it
//     asks pushmap's HTTP ingest, GET /markers?bbox=, for the whole box.)
//
// The brokers are written to be fair competitors, not straw men: they use
// pushmap's wire format and frames (a marker op is encoded once and its
// bytes shared by every recipient), the same per-connection outbox
// coalescing ops by marker id and drained by a writer goroutine into
// batch frames of up to 64 KiB, and the same WebSocket library and
// settings. They schedule writers as pushmap does: a published batch is
// delivered to every outbox first, and the writers start after it, so
// that a client gets its share of a batch in one frame; the tile broker
// fans a large batch out on every core, as pushmap does, its channels
// shared out by tile so that each channel's order holds. They keep per-tile (or global) marker state so that a new
// subscription gets its tiles' markers at once, as a pushmap view does.
// A client that falls more than OutboxBytes behind is closed with 4002
// (too slow), as generic brokers do; pushmap sends a fresh snapshot instead.
//
// # The tile-channel protocol
//
// Frames are binary MessagePack arrays, as in docs/protocol.md.
//
//	client → server  [100, seq, z, [x, y, x, y, ...], [x, y, ...]]
//	                 subscribe to the first list's tiles, unsubscribe from
//	                 the second's; z must be the broker's zoom
//	server → client  [110, seq, op...]
//	                 the subscription seq was applied; the ops are the
//	                 markers of the tiles it added
//	server → client  [20, op...]   a batch of marker ops, as pushmap's
//
// A Broadcast sends [110, 0, op...] with every marker on connection, then
// batches. Clients send it nothing.
package baseline

import (
	"bytes"
	"log/slog"
	"time"

	"github.com/pushmap/pushmap/wire"
	"github.com/tinylib/msgp/msgp"
)

// Message types of the tile-channel protocol.
const (
	TypeSubscribe = 100 // client → server: subscribe and unsubscribe tiles
	TypeSubAck    = 110 // server → client: a subscription applied, with its markers
)

// Options configure a broker. Zero fields mean the defaults given.
type Options struct {
	// OutboxBytes caps what may wait unsent for one client before it is
	// closed with 4002. Default 4 MiB, as pushmap's.
	OutboxBytes int
	// WriteTimeout bounds one write to a client. Default 10s.
	WriteTimeout time.Duration
	// MaxFrameBytes caps a frame from a client. Default 64 KiB.
	MaxFrameBytes int64
	// Logger receives debug logs. Default: discard.
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.OutboxBytes <= 0 {
		r.OutboxBytes = 4 << 20
	}
	if r.WriteTimeout <= 0 {
		r.WriteTimeout = 10 * time.Second
	}
	if r.MaxFrameBytes <= 0 {
		r.MaxFrameBytes = 64 << 10
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	return r
}

// AppendSubAckHeader appends the start of a [110, seq, op...] frame of n
// ops.
func AppendSubAckHeader(dst []byte, seq uint64, n int) []byte {
	return msgp.AppendUint64(msgp.AppendUint64(msgp.AppendArrayHeader(dst, uint32(2+n)), TypeSubAck), seq)
}

// AppendSubscribe appends the frame [100, seq, z, sub, unsub] to dst; sub
// and unsub list x, y pairs.
func AppendSubscribe(dst []byte, seq uint64, z int, sub, unsub []uint32) []byte {
	dst = msgp.AppendUint64(msgp.AppendUint64(msgp.AppendUint64(msgp.AppendArrayHeader(dst, 5), TypeSubscribe), seq), uint64(z))
	for _, l := range [2][]uint32{sub, unsub} {
		dst = msgp.AppendArrayHeader(dst, uint32(len(l)))
		for _, v := range l {
			dst = msgp.AppendUint64(dst, uint64(v))
		}
	}
	return dst
}

// upsertOp returns m with its position quantised as the wire carries it,
// and its upsert op encoded once for every client that gets it.
func upsertOp(enc *wire.Encoder, m wire.Marker) (wire.Marker, []byte, error) {
	m.Pos = wire.Quantize(m.Pos)
	op, err := enc.Upsert(&m)
	return m, bytes.Clone(op), err
}
