#!/bin/sh
# Feed markers to pushmap over HTTP with curl.
# PUSHMAP_URL is where the feed endpoint is mounted, e.g.
# http://localhost:8080/feed, and PUSHMAP_FEED_KEY is a feed key.
set -eu
auth="Authorization: Bearer $PUSHMAP_FEED_KEY"

# One marker, as JSON.
curl -sS --fail-with-body "$PUSHMAP_URL/markers" -H "$auth" \
  -H 'Content-Type: application/json' \
  -d '{"id": "bus-42", "layer": "vehicles", "lon": 2.3522, "lat": 48.8566,
       "version": 1, "props": {"line": "42"}}'

# A batch, as GeoJSON: each Feature's id is a marker id.
curl -sS --fail-with-body "$PUSHMAP_URL/markers" -H "$auth" \
  -H 'Content-Type: application/geo+json' \
  -d '{"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "tram-7",
         "geometry": {"type": "Point", "coordinates": [4.8357, 45.7640]},
         "properties": {"layer": "vehicles", "ttl": 600}},
        {"type": "Feature", "id": "taxi-9",
         "geometry": {"type": "Point", "coordinates": [2.2945, 48.8584]},
         "properties": {"layer": "vehicles"}}]}'

# Remove one.
curl -sS --fail-with-body -X DELETE "$PUSHMAP_URL/markers/taxi-9" -H "$auth"

# Tell the maps showing it that part of your own tile layer changed.
curl -sS --fail-with-body "$PUSHMAP_URL/tiles/invalidate" -H "$auth" \
  -H 'Content-Type: application/json' \
  -d '{"layer": "traffic", "bbox": [2.25, 48.81, 2.42, 48.90]}'

# Which zoom 10 tiles of the vehicles layer are being watched?
curl -sS --fail-with-body "$PUSHMAP_URL/interest?z=10&layer=vehicles" -H "$auth"

# What a polling client would get: the markers in a box (the first 1,000;
# the Link header has the next page's URL when there are more).
curl -sS --fail-with-body "$PUSHMAP_URL/markers?bbox=2.25,48.81,2.42,48.90"
