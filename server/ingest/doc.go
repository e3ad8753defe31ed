// Package ingest is pushmap's HTTP feed endpoint: an http.Handler through
// which programs in any language upsert and remove markers, mark tiles
// changed and ask which parts of the world are watched. docs/feeds.md is
// the guide for feed authors; this comment is the reference.
//
// Mount the Handler at a prefix with http.StripPrefix, e.g.
//
//	mux.Handle("/feed/", http.StripPrefix("/feed", h))
//
// Routes, relative to where the Handler is mounted:
//
//	POST   /markers            upsert or remove markers: one item or a batch
//	DELETE /markers/{id}       remove one marker (id path-escaped)
//	POST   /markers/remove     remove markers: a JSON array of ids
//	POST   /tiles/invalidate   mark tiles of a tile layer changed
//	GET    /interest?z=&layer= the watched tiles at zoom z, with viewer counts
//	GET    /markers?bbox=w,s,e,n&layers=a,b&limit=&cursor=   a page of the markers in a box (polling)
//
// # Authentication
//
// Every route except GET /markers needs a feed key: "Authorization: Bearer
// <key>" with one of Options.Keys. A missing or malformed header gets 401
// with "WWW-Authenticate: Bearer", a key that is not one of them 403. Keys'
// SHA-256 hashes are compared in constant time.
//
// A Key with Layers may touch only those: upserts into them, upserts and
// removals of markers stored in them, tile invalidations of those tile
// layers, interest in their clients. A request touching another layer gets
// 403 layer-forbidden naming each such item, and nothing of it is applied
// (Feed.ApplyLayers checks and applies under one lock).
//
// GET /markers is public when neither Options.ReadKeys nor
// Options.Authorize is set. Otherwise it needs a credential, as a bearer
// header or an access_token query parameter (auth.TokenFrom): a read key or
// a feed key, which read their layers, or a client credential accepted by
// Options.Authorize, which reads what its auth.Grant allows (its layers,
// inside its box). None gets 401, a refused or expired one 403.
//
// # Limits
//
// GET /markers answers at most limit markers (1 to server.MaxMarkersPage,
// 10,000; default server.DefaultMarkersPage, 1,000), with the next page's
// URL in a Link header (rel="next", relative to the request, without
// access_token) and its cursor in Pushmap-Next-Cursor; see
// server.Server.MarkersPage for the order and what paging live data
// guarantees. GET /interest refuses with 400 too-many-tiles an answer over
// server.MaxInterestTiles or a count over server.MaxInterestWork.
//
// # Items
//
// POST /markers takes these content types:
//
//   - application/json: an item object or an array of them. An item is
//     {"id", "layer", "lon", "lat", "version", "time", "ttl", "props",
//     "remove"}: id a string or a number (required); layer a string; lon
//     and lat in degrees (required unless removing); version an integer ≥ 0
//     (a version not above the stored one is ignored, so retries and
//     late duplicates are harmless; absent means one more than the stored
//     one); time Unix milliseconds; ttl seconds until the marker expires
//     unless upserted again (absent or 0: never); props an object of at
//     most 32 strings, numbers, booleans or nulls; remove true to remove
//     the marker id. Unknown members are refused, to catch typos.
//   - application/geo+json: a Feature or a FeatureCollection of Point
//     Features. The Feature's id is the marker id, its coordinates
//     [lon, lat] the position, its properties the props, except the
//     reserved members layer, version, time and ttl, which set those fields.
//   - application/msgpack or application/x-msgpack: a map with the keys of
//     a JSON item, or an array of them.
//
// # Answers
//
// A batch is validated whole before anything is applied, and applied in one
// call to Feed.Apply: a 2xx answer means every item was applied, any other
// means none was. Success is 200 with {"applied": n}. Errors are RFC 9457
// problem details (application/problem+json):
//
//	{"type": "https://pushmap.dev/problems/invalid-items", "title": "...",
//	 "status": 400, "detail": "...",
//	 "errors": [{"index": 3, "id": "bus-7", "reason": "lat 91 is outside [-90, 90]"}]}
//
// naming every bad item (the first 100 of them) and why. The problem types
// are unauthorized (401), forbidden (403), layer-forbidden (403), not-found (404),
// method-not-allowed (405, with an Allow header), body-too-large and
// batch-too-large (413), unsupported-media-type (415), malformed-body (400,
// with the byte offset), invalid-items (400), invalid-query (400),
// too-many-tiles (400), apply-failed (500) and unavailable (503, with
// Retry-After: the Feed's error reported Temporary() true, as the
// cluster's Redis being down does; nothing was applied).
package ingest
