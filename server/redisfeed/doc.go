// Package redisfeed feeds a pushmap server from Redis: any program that can
// run one Redis command — PHP, Ruby, Python, a shell script — publishes a
// marker update with no pushmap library, as socket.io-php-emitter lets PHP
// emit to Socket.IO. docs/feeds.md is the guide for feed authors.
//
// # Format
//
// One stream entry per update, in the stream "pushmap:updates" (see
// Options.Stream):
//
//	XADD pushmap:updates * id bus-42 layer vehicles lon 2.3522 lat 48.8566 [version 7] [time 1700000000000] [ttl 30] [props {"line":"42"}]
//	XADD pushmap:updates * id bus-42 op remove
//	XADD pushmap:updates * json '{"id": "bus-42", "lon": 2.3522, "lat": 48.8566}'
//
// Fields: id (required); layer; lon and lat in degrees (required unless
// removing); version, an integer ≥ 0 (an update whose version is not above
// the stored one is ignored, which makes redelivery harmless); time, Unix
// milliseconds; ttl, seconds until the marker expires unless updated again;
// props, a JSON object of at most 32 strings, numbers, booleans or nulls;
// op, "upsert" (the default) or "remove". Instead of those fields an entry
// may hold the single field json: one item, or an array of items, in the
// JSON format of the HTTP ingest (package server/ingest), applied all or
// nothing. Any other field makes the entry bad.
//
// # Guarantee
//
// An update is applied at least once, in stream order, if it was written to
// the stream, even while the pushmap server was down or disconnected from
// Redis, as long as the stream still holds it. Updates are never lost
// silently, and retries cost nothing when they carry versions.
//
// Why a stream and not pub/sub: PUBLISH delivers only to subscribers
// connected at that moment, and Redis disconnects a subscriber that falls
// behind its output buffer limit while PUBLISH keeps succeeding — updates
// would be lost with nobody told (docs/feeds.md has the measurement).
// A stream keeps entries until they are trimmed; a consumer group remembers
// what this server read (its pending entries) and what it acknowledged.
//
// How: the Consumer creates the group (XGROUP CREATE ... 0 MKSTREAM; from
// the start of the stream, so entries written before the server first ran
// are applied too). At each (re)connection it first re-reads its own
// pending entries (XREADGROUP ... 0): those it read but did not
// acknowledge before a crash. Then it reads new entries (XREADGROUP ... >,
// blocking up to Options.Block), applies each reply in one Applier.Apply
// call and then acknowledges it (XACK). An entry that cannot be decoded is
// logged with its id and reason, counted in Stats.Bad, and acknowledged: a
// poison entry never blocks the stream. On a Redis error the Consumer
// retries with exponential backoff (100ms to 5s) until its context ends.
//
// pushmap never trims the stream: other consumers may need its entries.
// Cap it where it is written, XADD pushmap:updates MAXLEN ~ 1000000 * ...,
// with room for the updates of the longest outage to survive. Several
// servers that each need every update use one group each (Options.Group);
// consumers sharing a group share the entries between them.
//
// # Client
//
// The Redis client is github.com/redis/rueidis rather than go-redis: it
// needs only golang.org/x/sys (go-redis v9.23 adds xxhash, xxh3, cpuid and
// go.uber.org/atomic), it pipelines concurrent commands by itself, and it
// runs blocking commands such as XREADGROUP BLOCK on dedicated connections,
// honouring context cancellation, which is what a consumer loop needs.
package redisfeed
