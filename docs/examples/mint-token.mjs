// Mint a pushmap client token (a JWT) in Node, with node:crypto only.
// Run it in your app's token endpoint, never in the browser: whoever holds
// the secret can mint any token.
//
//   PUSHMAP_JWT_SECRET=... node mint-token.mjs alice flights,vehicles -11,35,30,61
//
// prints an HS256 token for subject alice, layers flights and vehicles, in
// the box west -11, south 35, east 30, north 61, valid 15 minutes. Omit the
// layers (or give "*") for every layer, the box for the whole world.
// PUSHMAP_JWT_SECRET is the secret new tokens are signed with: the first of
// the server's --jwt-secrets. With PUSHMAP_JWT_ES256_KEY (a PKCS #8 PEM
// private key) and PUSHMAP_JWT_KID instead, it signs ES256 for a server
// that has the public key in its --jwks-file under that kid.
import { createHmac, sign } from "node:crypto";

const b64url = (buf) => Buffer.from(buf).toString("base64url");

export function mintToken({ sub, layers, box, ttlSeconds = 900, secret, es256Key, kid }) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub, iat: now, exp: now + ttlSeconds }; // exp is required
  if (layers) claims.layers = layers; // absent: every layer; []: none
  if (box) claims.box = box; // [west, south, east, north], degrees
  const header = es256Key ? { alg: "ES256", typ: "JWT", kid } : { alg: "HS256", typ: "JWT" };
  const input = b64url(JSON.stringify(header)) + "." + b64url(JSON.stringify(claims));
  const signature = es256Key
    ? sign("sha256", Buffer.from(input), { key: es256Key, dsaEncoding: "ieee-p1363" })
    : createHmac("sha256", secret).update(input).digest();
  return input + "." + b64url(signature);
}

if (import.meta.filename === process.argv[1]) {
  const [sub = "anonymous", layers = "*", box = ""] = process.argv.slice(2);
  const env = process.env;
  if (!env.PUSHMAP_JWT_SECRET && !env.PUSHMAP_JWT_ES256_KEY) {
    console.error("set PUSHMAP_JWT_SECRET (HS256) or PUSHMAP_JWT_ES256_KEY and PUSHMAP_JWT_KID (ES256)");
    process.exit(2);
  }
  console.log(mintToken({
    sub,
    layers: layers === "*" ? undefined : layers.split(",").filter((l) => l !== ""),
    box: box ? box.split(",").map(Number) : undefined,
    secret: env.PUSHMAP_JWT_SECRET,
    es256Key: env.PUSHMAP_JWT_ES256_KEY,
    kid: env.PUSHMAP_JWT_KID,
  }));
}
