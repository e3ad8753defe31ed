"""Feed markers to pushmap over HTTP as MessagePack, from Python.

Needs the msgpack package, for the Python that runs this file: Debian's
python3-msgpack (apt-get install python3-msgpack) is for /usr/bin/python3
only; with another python3, pip install msgpack. The rest is the standard
library. PUSHMAP_URL is where the feed endpoint is mounted, e.g.
http://localhost:8080/feed, and PUSHMAP_FEED_KEY is a feed key.
"""
import os
import sys
import time
import urllib.error
import urllib.request

import msgpack


def post(body):
    """POST one item, or a list of items, as MessagePack; print the answer."""
    req = urllib.request.Request(
        os.environ["PUSHMAP_URL"] + "/markers", data=msgpack.packb(body),
        method="POST", headers={
            "Authorization": "Bearer " + os.environ["PUSHMAP_FEED_KEY"],
            "Content-Type": "application/msgpack"})
    try:
        with urllib.request.urlopen(req) as res:
            print(res.read().decode())
    except urllib.error.HTTPError as e:  # a problem+json body says why
        sys.exit(f"{e.code}: {e.read().decode()}")


# A batch: a list of items, maps with the keys of the JSON items. It is
# applied all or nothing.
now = int(time.time() * 1000)
post([
    {"id": "bus-42", "layer": "vehicles", "lon": 2.3522, "lat": 48.8566,
     "version": now, "time": now, "props": {"line": "42", "low_floor": True}},
    {"id": "tram-7", "layer": "vehicles", "lon": 4.8357, "lat": 45.7640,
     "ttl": 600},
    {"id": "taxi-9", "lon": 2.2945, "lat": 48.8584},
])

# Remove one.
post({"id": "taxi-9", "remove": True})
