#!/bin/sh
# Publish marker updates to pushmap through Redis with redis-cli: one XADD
# per update. REDIS_URL is the Redis pushmap reads, e.g.
# redis://localhost:6379/0.
set -eu

# A bus in Paris, with a version (an update whose version is not newer than
# the stored one is ignored), a time (Unix milliseconds), a time to live
# (seconds) and properties (a JSON object).
redis-cli -u "$REDIS_URL" XADD pushmap:updates '*' \
  id bus-42 layer vehicles lon 2.3522 lat 48.8566 \
  version 1 time 1700000000000 ttl 300 props '{"line": "42"}'

# A tram in Lyon. MAXLEN ~ keeps the stream from growing for ever.
redis-cli -u "$REDIS_URL" XADD pushmap:updates MAXLEN '~' 1000000 '*' \
  id tram-7 layer vehicles lon 4.8357 lat 45.7640

# The item format of the HTTP API, in a single json field.
redis-cli -u "$REDIS_URL" XADD pushmap:updates '*' \
  json '{"id": "taxi-9", "layer": "vehicles", "lon": 2.2945, "lat": 48.8584}'

# Remove a marker.
redis-cli -u "$REDIS_URL" XADD pushmap:updates '*' id taxi-9 op remove
