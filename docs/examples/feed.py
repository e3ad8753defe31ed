"""Publish marker updates to pushmap through Redis, from Python.

Needs the redis package, for the Python that runs this file: Debian's
python3-redis (apt-get install python3-redis) is for /usr/bin/python3 only,
so run it with /usr/bin/python3, not with another python3 that comes first
on PATH (pyenv, a virtualenv, Homebrew), which does not see Debian's
packages; with those, pip install redis. REDIS_URL is the Redis pushmap
reads, e.g. redis://localhost:6379/0.
"""
import json
import os
import time

import redis

STREAM = "pushmap:updates"
r = redis.Redis.from_url(os.environ["REDIS_URL"])


def now_ms():
    return int(time.time() * 1000)


# One XADD per update. The time in milliseconds makes a good version: a
# late or repeated update, with an older version, is ignored.
sent = now_ms()
r.xadd(STREAM, {"id": "bus-12", "layer": "vehicles", "lon": 2.3364,
                "lat": 48.8606, "version": sent, "time": sent,
                "props": json.dumps({"line": "12", "delay_s": 40})},
       maxlen=1_000_000, approximate=True)

# Many updates: pipeline them, still one XADD each.
with r.pipeline(transaction=False) as p:
    for i in range(10):
        p.xadd(STREAM, {"id": f"sensor-{i}", "layer": "sensors",
                        "lon": 4.80 + i / 100, "lat": 45.75, "ttl": 3600},
               maxlen=1_000_000, approximate=True)
    p.execute()

# A retry that arrives late, with an older version: it changes nothing.
r.xadd(STREAM, {"id": "bus-12", "layer": "vehicles", "lon": 2.2,
                "lat": 48.7, "version": sent - 5000})
