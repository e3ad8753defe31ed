"""Mint a pushmap client token (a JWT) in Python, standard library only.

Run it in your app's token endpoint, never in the browser: whoever holds
the secret can mint any token.

    PUSHMAP_JWT_SECRET=... python3 mint_token.py alice flights,vehicles -11,35,30,61

prints an HS256 token for subject alice, layers flights and vehicles, in
the box west -11, south 35, east 30, north 61, valid 15 minutes. Omit the
layers (or give "*") for every layer, the box for the whole world.
PUSHMAP_JWT_SECRET is the secret new tokens are signed with: the first of
the server's --jwt-secrets.
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint_token(secret, sub, layers=None, box=None, ttl_seconds=900):
    now = int(time.time())
    claims = {"sub": sub, "iat": now, "exp": now + ttl_seconds}  # exp is required
    if layers is not None:
        claims["layers"] = layers  # absent: every layer; []: none
    if box is not None:
        claims["box"] = box  # [west, south, east, north], degrees
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode())
                     + "." + b64url(json.dumps(claims, separators=(",", ":")).encode()))
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


if __name__ == "__main__":
    defaults = ["anonymous", "*", ""]
    args = sys.argv[1:4]
    sub, layers, box = args + defaults[len(args):]
    secret = os.environ.get("PUSHMAP_JWT_SECRET")
    if not secret:
        sys.exit("set PUSHMAP_JWT_SECRET, the server's first --jwt-secrets")
    print(mint_token(
        secret.encode("utf-8"), sub,
        layers=None if layers == "*" else [l for l in layers.split(",") if l],
        box=[float(v) for v in box.split(",")] if box else None))
