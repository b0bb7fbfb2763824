// Switchboard plugin kit for JavaScript: what the Rust SDK (plugins/sdk)
// does for plugin authors, as one dependency-free ES module that runs both
// inside a component built with componentize-js (StarlingMonkey) and in
// plain Node for tests.
//
//   request  Request, Params, Config: query, form, JSON, headers, route
//            captures, the arrival time (plugins have no clock)
//   fields   fields(), records(), Picker, flatten(), stableId(), shortHash()
//   status   mapStatus() over a status table, isNoError()
//   sign     sha256(), hmacSha256(), hex, base64/base64url, constantTimeEqual()
//   time     parseRfc3339()
//   build    deliveryStatus(), inboundMessage(), optOut(), linkHit(),
//            subscription(), event(), outcome(), reply*(), route(), configKey()
//   errors   badRequest(), unauthorized(), unsupported(), internal()
//   export   componentPlugin(): the object a component exports as `plugin`
//
// A plugin module default-exports `definePlugin({ describe, handle })`;
// `handle(req, config)` gets a `Request` and a `Config` and returns
// `outcome(...)` or throws one of the errors above. `plugins/build-js.sh`
// wraps it into a component; `./testing.js` runs it on `.http` fixtures in
// Node. The values crossing the contract follow componentize-js' bindings
// of `wit/provider.wit`: records with camelCase fields, enums as their
// WIT names ("delivered", "sms"), variants as `{ tag, val }`, `s64` as
// BigInt, lists of tuples as `[name, value]` arrays, bytes as Uint8Array.
//
// Why pure-JS SHA-256/HMAC: StarlingMonkey has `crypto.subtle`, but it is
// asynchronous (Promise-based) and a component export here is a
// synchronous call whose result must be ready when it returns; node:crypto
// does not exist in the component. So the hashes below are written out
// (FIPS 180-4, RFC 2104) and checked in ./test/sdk.test.mjs against the
// FIPS and RFC 4231 vectors and against node:crypto on random inputs. They
// handle only public data and keys already in the plugin's config; the one
// comparison that matters for timing is constantTimeEqual().

// ---------------------------------------------------------------- errors

/** A refusal: the host answers 400/403/422/500 and keeps the capture. */
export class PluginError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = "PluginError";
    /** "bad-request" | "unauthorized" | "unsupported" | "internal" */
    this.kind = kind;
  }
}
/** Malformed or incomplete request (400). */
export const badRequest = (msg) => new PluginError("bad-request", msg);
/** Missing or invalid signature or credentials (403). */
export const unauthorized = (msg) => new PluginError("unauthorized", msg);
/** Well-formed but not something this plugin handles (422). */
export const unsupported = (msg) => new PluginError("unsupported", msg);
/** The plugin itself failed; the capture is quarantined for replay (500). */
export const internal = (msg) => new PluginError("internal", msg);

const ERROR_KINDS = ["bad-request", "unauthorized", "unsupported", "internal"];

// ---------------------------------------------------------------- bytes

// TextEncoder/TextDecoder where the engine has them (Node, StarlingMonkey),
// written out where it does not (QuickJS).
function encodeUtf8Js(text) {
  const out = [];
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(out);
}

// The WHATWG UTF-8 decoder: each invalid sequence becomes one U+FFFD.
function decodeUtf8Js(bytes) {
  let out = "";
  let cp = 0;
  let needed = 0;
  let seen = 0;
  let lower = 0x80;
  let upper = 0xbf;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (needed === 0) {
      if (b <= 0x7f) out += String.fromCharCode(b);
      else if (b >= 0xc2 && b <= 0xdf) {
        needed = 1;
        cp = b & 0x1f;
      } else if (b >= 0xe0 && b <= 0xef) {
        if (b === 0xe0) lower = 0xa0;
        if (b === 0xed) upper = 0x9f;
        needed = 2;
        cp = b & 0xf;
      } else if (b >= 0xf0 && b <= 0xf4) {
        if (b === 0xf0) lower = 0x90;
        if (b === 0xf4) upper = 0x8f;
        needed = 3;
        cp = b & 7;
      } else out += "\ufffd";
      continue;
    }
    if (b < lower || b > upper) {
      cp = needed = seen = 0;
      lower = 0x80;
      upper = 0xbf;
      out += "\ufffd";
      i--;
      continue;
    }
    lower = 0x80;
    upper = 0xbf;
    cp = (cp << 6) | (b & 0x3f);
    if (++seen === needed) {
      out += String.fromCodePoint(cp);
      cp = needed = seen = 0;
    }
  }
  if (needed) out += "\ufffd";
  return out;
}

const utf8Encoder = typeof TextEncoder === "function" ? new TextEncoder() : { encode: encodeUtf8Js };
const utf8Decoder = typeof TextDecoder === "function" ? new TextDecoder("utf-8") : { decode: decodeUtf8Js };
export { encodeUtf8Js, decodeUtf8Js };

/** True for a Uint8Array, also one made in another realm: the byte lists
 * componentize-js hands over fail `instanceof Uint8Array`. */
export function isBytes(x) {
  return x instanceof Uint8Array || Object.prototype.toString.call(x) === "[object Uint8Array]";
}

/** UTF-8 bytes of a string (bytes are returned as they are). */
export function utf8(text) {
  return isBytes(text) ? text : utf8Encoder.encode(String(text));
}

/** Text of UTF-8 bytes; invalid sequences become U+FFFD. */
export function decodeUtf8(bytes) {
  return utf8Decoder.decode(bytes);
}

/** Text of ISO-8859-1 bytes (each byte is the code point). */
export function decodeLatin1(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i]);
  return out;
}

/** Bytes in `charset` ("utf-8" when none; "iso-8859-1"/"latin1" too). */
export function decodeText(bytes, charset) {
  const cs = (charset || "utf-8").toLowerCase();
  if (cs === "iso-8859-1" || cs === "latin1" || cs === "us-ascii" || cs === "ascii") {
    return decodeLatin1(bytes);
  }
  return decodeUtf8(bytes);
}

function concatBytes(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
export { concatBytes };

// ---------------------------------------------------------------- sign

const K256 = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

// The message schedule, reused: plugins run one call at a time.
const W = new Int32Array(64);

// One 64-byte block of `buf` at `off` into the state `h`. Written for an
// interpreter (StarlingMonkey has no JIT): local variables, no calls.
function compressLoop(h, buf, off) {
  for (let i = 0; i < 16; i++, off += 4) {
    W[i] = (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3];
  }
  for (let i = 16; i < 64; i++) {
    const x = W[i - 15];
    const y = W[i - 2];
    W[i] =
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) +
      (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) +
      W[i - 16] +
      W[i - 7];
  }
  let a = h[0];
  let b = h[1];
  let c = h[2];
  let d = h[3];
  let e = h[4];
  let f = h[5];
  let g = h[6];
  let k = h[7];
  for (let i = 0; i < 64; i++) {
    const t1 =
      (k +
        (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
        ((e & f) ^ (~e & g)) +
        K256[i] +
        W[i]) |
      0;
    const t2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    k = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  h[0] = (h[0] + a) | 0;
  h[1] = (h[1] + b) | 0;
  h[2] = (h[2] + c) | 0;
  h[3] = (h[3] + d) | 0;
  h[4] = (h[4] + e) | 0;
  h[5] = (h[5] + f) | 0;
  h[6] = (h[6] + g) | 0;
  h[7] = (h[7] + k) | 0;
}

// The same compression with its 64 rounds unrolled, the working variables
// renamed round by round instead of shifted and K inlined: about 30 % fewer
// interpreted operations, so about 30 % faster in StarlingMonkey. Its source
// is generated here from the constants above (no input goes into it) and
// compiled once, at module load (in a component: at build time, into the
// snapshot); the loop above is the fallback where `Function` is unavailable.
function unrolledSource() {
  const v = ["a", "b", "c", "d", "e", "f", "g", "k"];
  const rotr = (x, n) => `((${x} >>> ${n}) | (${x} << ${32 - n}))`;
  const lines = ["let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7], t = 0, x = 0, y = 0;"];
  for (let i = 0; i < 16; i++) {
    lines.push(`let w${i} = (buf[off + ${4 * i}] << 24) | (buf[off + ${4 * i + 1}] << 16) | (buf[off + ${4 * i + 2}] << 8) | buf[off + ${4 * i + 3}];`);
  }
  for (let i = 0; i < 64; i++) {
    const [A, B, C, D, E, F, G, H] = v.map((_, j) => v[(((j - i) % 8) + 8) % 8]);
    const w = `w${i % 16}`;
    if (i >= 16) {
      lines.push(`x = w${(i - 15) % 16}; y = w${(i - 2) % 16};`);
      lines.push(`${w} = (${w} + (${rotr("x", 7)} ^ ${rotr("x", 18)} ^ (x >>> 3)) + (${rotr("y", 17)} ^ ${rotr("y", 19)} ^ (y >>> 10)) + w${(i - 7) % 16}) | 0;`);
    }
    lines.push(`t = (${H} + (${rotr(E, 6)} ^ ${rotr(E, 11)} ^ ${rotr(E, 25)}) + ((${E} & ${F}) ^ (~${E} & ${G})) + ${K256[i]} + ${w}) | 0;`);
    lines.push(`${D} = (${D} + t) | 0;`);
    lines.push(`${H} = (t + (${rotr(A, 2)} ^ ${rotr(A, 13)} ^ ${rotr(A, 22)}) + ((${A} & ${B}) ^ (${A} & ${C}) ^ (${B} & ${C}))) | 0;`);
  }
  v.forEach((n, i) => lines.push(`h[${i}] = (h[${i}] + ${n}) | 0;`));
  return lines.join("\n");
}

const compress = (() => {
  try {
    // eslint-disable-next-line no-new-func
    return new Function("h", "buf", "off", unrolledSource());
  } catch {
    return compressLoop;
  }
})();

/** For tests: the two block functions (unrolled, and the loop fallback). */
export const _sha256Blocks = { compress, compressLoop };

const H0 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/** SHA-256 (FIPS 180-4) of bytes or of a string's UTF-8; 32 bytes. */
export function sha256(data) {
  const msg = utf8(data);
  const len = msg.length;
  const h = Int32Array.from(H0);
  const full = len - (len % 64);
  for (let off = 0; off < full; off += 64) compress(h, msg, off);
  // The tail, 0x80, zeros and the 64-bit big-endian bit length.
  const tail = new Uint8Array(len % 64 < 56 ? 64 : 128);
  tail.set(msg.subarray(full));
  tail[len - full] = 0x80;
  const hi = Math.floor(len / 0x20000000);
  const lo = (len << 3) >>> 0;
  const t = tail.length;
  tail[t - 8] = hi >>> 24;
  tail[t - 7] = hi >>> 16;
  tail[t - 6] = hi >>> 8;
  tail[t - 5] = hi;
  tail[t - 4] = lo >>> 24;
  tail[t - 3] = lo >>> 16;
  tail[t - 2] = lo >>> 8;
  tail[t - 1] = lo;
  for (let off = 0; off < t; off += 64) compress(h, tail, off);
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    out[i * 4] = h[i] >>> 24;
    out[i * 4 + 1] = h[i] >>> 16;
    out[i * 4 + 2] = h[i] >>> 8;
    out[i * 4 + 3] = h[i];
  }
  return out;
}

/** Lower-case hex SHA-256. */
export function sha256Hex(data) {
  return hex(sha256(data));
}

/** HMAC-SHA256 (RFC 2104) with a key and message as bytes or strings. */
export function hmacSha256(key, msg) {
  let k = utf8(key);
  if (k.length > 64) k = sha256(k);
  const ipad = new Uint8Array(64);
  const opad = new Uint8Array(64);
  for (let i = 0; i < 64; i++) {
    const b = i < k.length ? k[i] : 0;
    ipad[i] = b ^ 0x36;
    opad[i] = b ^ 0x5c;
  }
  const inner = sha256(concatBytes(ipad, utf8(msg)));
  return sha256(concatBytes(opad, inner));
}

const HEX_PAIRS = Array.from({ length: 256 }, (_, i) => (i < 16 ? "0" : "") + i.toString(16));
const HEX_VALUE = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < 16; i++) {
    t["0123456789abcdef".charCodeAt(i)] = i;
    t["0123456789ABCDEF".charCodeAt(i)] = i;
  }
  return t;
})();

/** Lower-case hex of bytes. */
export function hex(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX_PAIRS[bytes[i]];
  return out;
}

/** Bytes of a hex string (any case); undefined if it is not hex. */
export function fromHex(text) {
  const s = String(text).trim();
  if (s.length % 2 !== 0) return undefined;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) {
    const c1 = s.charCodeAt(2 * i);
    const c2 = s.charCodeAt(2 * i + 1);
    const hi = c1 < 128 ? HEX_VALUE[c1] : -1;
    const lo = c2 < 128 ? HEX_VALUE[c2] : -1;
    if (hi < 0 || lo < 0) return undefined;
    out[i] = (hi << 4) | lo;
  }
  return out;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = (() => {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) t[B64.charCodeAt(i)] = i;
  return t;
})();
const B64URL_INDEX = (() => {
  const t = Int16Array.from(B64_INDEX);
  t[43] = -1; // +
  t[47] = -1; // /
  t[45] = 62; // -
  t[95] = 63; // _
  return t;
})();

/** Standard base64 with padding. */
export function base64(bytes) {
  const b = utf8(bytes);
  let out = "";
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  if (i < b.length) {
    const n = (b[i] << 16) | ((i + 1 < b.length ? b[i + 1] : 0) << 8);
    out += B64[n >> 18] + B64[(n >> 12) & 63];
    out += i + 1 < b.length ? B64[(n >> 6) & 63] + "=" : "==";
  }
  return out;
}

/** Bytes of standard base64 (padding optional, surrounding space ignored);
 * undefined if the text is not base64. */
export function base64Decode(text) {
  return decode64(text, B64_INDEX);
}

function decode64(text, index) {
  let s = String(text).trim();
  if (s.length % 4 === 0 && s.endsWith("==")) s = s.slice(0, -2);
  else if (s.length % 4 === 0 && s.endsWith("=")) s = s.slice(0, -1);
  if (s.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? index[c] : -1;
    if (v < 0) return undefined;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, o);
}

/** base64url without padding (JWT). */
export function base64url(bytes) {
  return base64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Bytes of base64url (padding optional); undefined if malformed. */
export function base64urlDecode(text) {
  return decode64(text, B64URL_INDEX);
}

/** Equality of two byte strings (or strings, as UTF-8) in a time that
 * depends only on their lengths. */
export function constantTimeEqual(a, b) {
  const x = utf8(a);
  const y = utf8(b);
  if (x.length !== y.length) return false;
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

/** A received hex signature (any case) against the expected bytes. */
export function verifyHex(received, expected) {
  const got = received == null ? undefined : fromHex(received);
  return got !== undefined && constantTimeEqual(got, expected);
}

/** A received base64 signature against the expected bytes. */
export function verifyBase64(received, expected) {
  const got = received == null ? undefined : base64Decode(received);
  return got !== undefined && constantTimeEqual(got, expected);
}

// ---------------------------------------------------------------- request

/** One form-encoded name or value to bytes: `+` is a space, `%XX` a byte,
 * malformed escapes kept as written. */
export function unescapeForm(bytes) {
  const out = new Uint8Array(bytes.length);
  let o = 0;
  const hexv = (c) =>
    c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === 37 && i + 2 < bytes.length) {
      const hi = hexv(bytes[i + 1]);
      const lo = hexv(bytes[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out[o++] = (hi << 4) | lo;
        i += 2;
        continue;
      }
    }
    out[o++] = c === 43 ? 32 : c;
  }
  return out.subarray(0, o);
}

/** Ordered name/value pairs (query string, form body, flattened JSON). */
export class Params {
  constructor(pairs = []) {
    /** `[name, value]` pairs in arrival order. */
    this.pairs = pairs;
  }

  /** Parses `a=1&b=2` (bytes or string; `+` is a space, bad escapes kept),
   * decoding names and values in `charset` (UTF-8 by default, lossy). */
  static parse(input, charset) {
    const bytes = utf8(input);
    const pairs = [];
    let start = 0;
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 38) continue;
      const part = bytes.subarray(start, i);
      start = i + 1;
      if (part.length === 0) continue;
      const eq = part.indexOf(61);
      const k = eq < 0 ? part : part.subarray(0, eq);
      const v = eq < 0 ? new Uint8Array() : part.subarray(eq + 1);
      pairs.push([decodeText(unescapeForm(k), charset), decodeText(unescapeForm(v), charset)]);
    }
    return new Params(pairs);
  }

  /** The top-level scalar fields of a JSON object (numbers and booleans
   * as text, null and containers left out). */
  static fromJson(value) {
    const pairs = [];
    if (value && typeof value === "object" && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) {
        const s = jsonScalar(v);
        if (s !== undefined) pairs.push([k, s]);
      }
    }
    return new Params(pairs);
  }

  /** The last value of `name` (case-sensitive), or undefined. */
  get(name) {
    for (let i = this.pairs.length - 1; i >= 0; i--) if (this.pairs[i][0] === name) return this.pairs[i][1];
    return undefined;
  }

  /** The last value of `name`, ignoring ASCII case. */
  getCi(name) {
    const n = name.toLowerCase();
    for (let i = this.pairs.length - 1; i >= 0; i--) if (this.pairs[i][0].toLowerCase() === n) return this.pairs[i][1];
    return undefined;
  }

  /** The first non-empty value among several names (case ignored). */
  getAny(names) {
    for (const n of names) {
      const v = this.getCi(n);
      if (v !== undefined && v !== "") return v;
    }
    return undefined;
  }

  has(name) {
    return this.get(name) !== undefined;
  }

  /** A non-empty value, or a bad-request naming the missing field. */
  require(name) {
    const v = this.get(name);
    if (v === undefined || v === "") throw badRequest(`missing field \`${name}\``);
    return v;
  }

  /** A non-empty trimmed value, or undefined. */
  opt(name) {
    const v = this.get(name);
    if (v === undefined) return undefined;
    const t = v.trim();
    return t === "" ? undefined : t;
  }

  /** Pairs whose names are not in `known`: the provider's extra fields. */
  extra(known) {
    const set = new Set(known);
    return this.pairs.filter(([k]) => !set.has(k)).map(([k, v]) => [k, v]);
  }

  [Symbol.iterator]() {
    return this.pairs[Symbol.iterator]();
  }
}

/** The text of a JSON scalar (strings as they are, numbers and booleans as
 * JSON text); undefined for null, arrays and objects. */
export function jsonScalar(v) {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return undefined;
}

/** One callback, with helpers for the places providers put their fields.
 * Query, form and merged parameters are parsed once, on first use. */
export class Request {
  constructor(raw) {
    /** The contract's http-request, as the host sent it (the body as a
     * Uint8Array of this realm). */
    this.raw = raw.body instanceof Uint8Array ? raw : { ...raw, body: new Uint8Array(raw.body) };
    this._query = undefined;
    this._form = undefined;
    this._params = undefined;
  }
  /** "get", "post", "put", "patch" or "delete". */
  get method() {
    return this.raw.method;
  }
  isGet() {
    return this.raw.method === "get";
  }
  /** The public URL the provider called: what signatures cover. */
  get url() {
    return this.raw.url;
  }
  /** Path below the route prefix, e.g. `/smsCallback/shop1`. */
  get path() {
    return this.raw.path;
  }
  /** The route pattern that matched, e.g. `/smsCallback/{app_code}`. */
  get route() {
    return this.raw.route;
  }
  /** The raw query string, without `?`. */
  get queryString() {
    return this.raw.query;
  }
  /** The raw body bytes. */
  get body() {
    return this.raw.body;
  }
  /** When the host received the request, ms since the epoch: "now". */
  get receivedAt() {
    return Number(this.raw.receivedAt);
  }
  get remoteAddr() {
    return this.raw.remoteAddr;
  }
  /** First header with this name (case-insensitive), or undefined. */
  header(name) {
    const n = name.toLowerCase();
    for (const [k, v] of this.raw.headers) if (k.toLowerCase() === n) return v;
    return undefined;
  }
  /** A route capture such as `app_code`. */
  param(name) {
    for (const [k, v] of this.raw.params) if (k === name) return v;
    return undefined;
  }
  /** The body's media type, lower-cased, without parameters. */
  contentType() {
    const ct = this.header("content-type");
    return ct === undefined ? "" : ct.split(";")[0].trim().toLowerCase();
  }
  /** The `charset` parameter of Content-Type, lower-cased, or undefined. */
  charset() {
    const ct = this.header("content-type");
    if (ct === undefined) return undefined;
    for (const p of ct.split(";").slice(1)) {
      const eq = p.indexOf("=");
      if (eq >= 0 && p.slice(0, eq).trim().toLowerCase() === "charset") {
        return p.slice(eq + 1).trim().replace(/^"|"$/g, "").toLowerCase();
      }
    }
    return undefined;
  }
  /** Query string parameters, in order. */
  query() {
    if (this._query === undefined) this._query = Params.parse(this.raw.query);
    return this._query;
  }
  /** The body as a form, decoded in the Content-Type's charset. */
  form() {
    if (this._form === undefined) this._form = Params.parse(this.raw.body, this.charset());
    return this._form;
  }
  /** Query for GET; query then form body for other methods (the body wins
   * on lookup). A JSON body adds nothing here: see fields(). */
  params() {
    if (this._params === undefined) {
      const pairs = [...this.query().pairs];
      if (!this.isGet() && !this.looksLikeJson()) pairs.push(...this.form().pairs);
      this._params = new Params(pairs);
    }
    return this._params;
  }
  /** True when the body is JSON by content type or by its first byte. */
  looksLikeJson() {
    if (this.contentType().endsWith("json")) return true;
    for (const b of this.raw.body) {
      if (b === 32 || b === 9 || b === 10 || b === 13 || b === 12) continue;
      return b === 123 || b === 91;
    }
    return false;
  }
  /** SHA-256 of the body (computed once: signature schemes often need it
   * more than once, and hashing is slow in an interpreter). */
  bodySha256() {
    if (this._bodySha256 === undefined) this._bodySha256 = sha256(this.raw.body);
    return this._bodySha256;
  }
  /** The body as UTF-8 text (lossy). */
  text() {
    return decodeUtf8(this.raw.body);
  }
  /** The body decoded in the Content-Type's charset. */
  decodedText() {
    return decodeText(this.raw.body, this.charset());
  }
  /** The body parsed as JSON, or a bad-request. */
  json() {
    try {
      return JSON.parse(this.text());
    } catch (e) {
      throw badRequest(`invalid JSON body: ${e.message}`);
    }
  }
}

/** The plugin's settings from `[plugins.<name>]`. */
export class Config {
  constructor(pairs = []) {
    this.pairs = pairs;
  }
  get(key) {
    for (const [k, v] of this.pairs) if (k === key) return v;
    return undefined;
  }
  /** A value, or an `internal` error (the host checks required keys). */
  require(key) {
    const v = this.get(key);
    if (v === undefined) throw internal(`config key \`${key}\` is not set`);
    return v;
  }
  /** A boolean setting (`true`/`1`/`yes`), with a default. */
  flag(key, dflt) {
    const v = this.get(key);
    if (v === undefined) return dflt;
    return /^(true|1|yes)$/i.test(v.trim());
  }
  /** A non-negative integer setting, with a default; `internal` if bad. */
  int(key, dflt) {
    const v = this.get(key);
    if (v === undefined || v.trim() === "") return dflt;
    if (!/^\d+$/.test(v.trim())) throw internal(`config key \`${key}\`: \`${v}\` is not a whole number`);
    return Number(v.trim());
  }
}

// ---------------------------------------------------------------- fields

function withObject(base, obj) {
  const pairs = [...base.pairs];
  for (const [k, v] of Object.entries(obj)) {
    const s = jsonScalar(v);
    if (s !== undefined) pairs.push([k, s]);
    else if (v !== null && typeof v === "object") pairs.push([k, JSON.stringify(v)]);
  }
  return new Params(pairs);
}

/** The callback's fields wherever the provider put them: the query (GET),
 * the query then a form body, or the query then a JSON object body
 * (scalars as text, nested values as JSON text, nulls left out). */
export function fields(req) {
  if (req.isGet() || !req.looksLikeJson()) return req.params();
  const v = req.json();
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw badRequest("JSON body is not an object");
  return withObject(req.query(), v);
}

/** Like fields(), but a JSON array body is a batch: one Params per object. */
export function records(req) {
  if (req.isGet() || !req.looksLikeJson()) return [fields(req)];
  const v = req.json();
  if (!Array.isArray(v)) return [fields(req)];
  if (v.length === 0) throw badRequest("empty JSON array");
  return v.map((item, i) => {
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      throw badRequest(`JSON array item ${i} is not an object`);
    }
    return withObject(req.query(), item);
  });
}

/** Nested JSON as `prefix.a.b` = scalar pairs (arrays as JSON text, nulls
 * left out), skipping the paths in `skip` and everything under them. */
export function flatten(prefix, value, skip = [], out = []) {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, child] of Object.entries(value)) {
      const path = prefix === "" ? k : `${prefix}.${k}`;
      if (!skip.includes(path)) flatten(path, child, skip, out);
    }
  } else if (Array.isArray(value)) {
    out.push([prefix, JSON.stringify(value)]);
  } else {
    const s = jsonScalar(value);
    if (s !== undefined) out.push([prefix, s]);
  }
  return out;
}

/** Picks fields by any of their usual names and remembers which it used,
 * so everything else can go to `extra`. */
export class Picker {
  constructor(params) {
    this.params = params;
    this.used = [];
  }
  /** The first non-empty trimmed value among `names` (case ignored). */
  pick(names) {
    for (const name of names) {
      const n = name.toLowerCase();
      for (let i = this.params.pairs.length - 1; i >= 0; i--) {
        const [k, v] = this.params.pairs[i];
        if (k.toLowerCase() === n && v.trim() !== "") {
          this.used.push(k);
          return v.trim();
        }
      }
    }
    return undefined;
  }
  /** Like pick() but takes the value as it is, even empty (message text). */
  pickRaw(names) {
    for (const name of names) {
      const n = name.toLowerCase();
      for (let i = this.params.pairs.length - 1; i >= 0; i--) {
        const [k, v] = this.params.pairs[i];
        if (k.toLowerCase() === n) {
          this.used.push(k);
          return v;
        }
      }
    }
    return undefined;
  }
  /** Returns the last picked field to `extra`. */
  unpick() {
    this.used.pop();
  }
  has(names) {
    return names.some((n) => this.params.getCi(n) !== undefined);
  }
  /** Every field not used, in arrival order (for a used name, only its
   * last value, the one used, is left out). */
  extra() {
    const out = [];
    const skipped = new Set();
    for (let i = this.params.pairs.length - 1; i >= 0; i--) {
      const [k, v] = this.params.pairs[i];
      if (this.used.includes(k) && !skipped.has(k)) {
        skipped.add(k);
        continue;
      }
      out.push([k, v]);
    }
    return out.reverse();
  }
}

const M64 = (1n << 64n) - 1n;
const FNV_PRIME = 0x100000001b3n;

/** A stable id from the fields that identify an event whose provider sends
 * no id (24 hex digits, two 48-bit FNV-1a hashes): the same as the Rust
 * SDK's `fields::stable_id`, so a plugin ported between them keeps its ids. */
export function stableId(parts) {
  let a = 0xcbf29ce484222325n;
  let b = 0x84222325cbf29ce4n;
  parts.forEach((part, i) => {
    const bytes = [...utf8(part), (0xff - i) & 0xff];
    for (const byte of bytes) {
      const x = BigInt(byte);
      a = ((a ^ x) * FNV_PRIME) & M64;
      b = ((b ^ x) * FNV_PRIME) & M64;
      b = ((b << 5n) | (b >> 59n)) & M64;
    }
  });
  return (a >> 16n).toString(16).padStart(12, "0") + (b >> 16n).toString(16).padStart(12, "0");
}

/** The first 24 hex digits of SHA-256 of the parts joined by newlines (as
 * the Rust SDK's `fields::short_hash`). */
export function shortHash(parts) {
  return sha256Hex(parts.join("\n")).slice(0, 24);
}

// ---------------------------------------------------------------- status

/** The normalized delivery states (`wit` enum `delivery-state`). */
export const DeliveryState = Object.freeze({
  Accepted: "accepted",
  Queued: "queued",
  Sent: "sent",
  Delivered: "delivered",
  Read: "read",
  Undelivered: "undelivered",
  Failed: "failed",
  Expired: "expired",
  Unknown: "unknown",
});

/** The channels (`wit` enum `channel`). */
export const Channel = Object.freeze({
  Sms: "sms",
  Mms: "mms",
  Whatsapp: "whatsapp",
  Viber: "viber",
  Rcs: "rcs",
  Other: "other",
});

const STATES = new Set(Object.values(DeliveryState));
const CHANNELS = new Set(Object.values(Channel));
const FINAL = new Set(["delivered", "read", "undelivered", "failed", "expired"]);

/** True for the states a message never leaves. */
export function isFinal(state) {
  return FINAL.has(state);
}

/** Looks a provider status up in a table of `[status, state]` pairs,
 * ignoring ASCII case and surrounding space; unknown → "unknown". */
export function mapStatus(table, raw) {
  const r = String(raw ?? "").trim().toLowerCase();
  for (const [k, s] of table) if (k.toLowerCase() === r) return s;
  return DeliveryState.Unknown;
}

/** True for an error code that means "no error": empty, `0`, `000`. */
export function isNoError(code) {
  return /^0*$/.test(String(code ?? "").trim());
}

// ---------------------------------------------------------------- time

function daysFromCivil(y, m, d) {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Milliseconds since the epoch of `YYYY-MM-DD[T ]HH:MM:SS[.frac](Z|±HH:MM|±HHMM)`;
 * a date without a zone is read at `defaultOffsetMinutes` (UTC if not
 * given). Anything else gives undefined (no clock, no locale). */
export function parseRfc3339(text, defaultOffsetMinutes = 0) {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:?\d{2})?$/.exec(
    String(text ?? "").trim(),
  );
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return undefined;
  let offset = defaultOffsetMinutes;
  if (m[8] && m[8] !== "Z" && m[8] !== "z") {
    const z = m[8].replace(":", "");
    offset = (z[0] === "-" ? -1 : 1) * (Number(z.slice(1, 3)) * 60 + Number(z.slice(3, 5)));
  } else if (m[8]) {
    offset = 0;
  }
  const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, "0")) : 0;
  return ((daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset * 60) * 1000) + ms;
}

// ---------------------------------------------------------------- build

const OPTIONAL_FIELDS = ["errorCode", "from", "to", "occurredAt", "messageRef", "campaignId"];

function pickOptional(fieldsIn, names) {
  const out = {};
  for (const n of names) out[n] = fieldsIn[n] === undefined || fieldsIn[n] === null ? undefined : fieldsIn[n];
  return out;
}

/** A delivery-status event kind. `more`: errorCode, from, to, channel
 * ("sms" by default), occurredAt (ms), messageRef, campaignId. */
export function deliveryStatus(messageId, state, providerStatus, more = {}) {
  return {
    tag: "delivery-status",
    val: {
      messageId,
      state,
      providerStatus,
      channel: more.channel ?? Channel.Sms,
      ...pickOptional(more, OPTIONAL_FIELDS),
    },
  };
}

/** An inbound-message event kind. `more`: media ([{url, contentType}]),
 * channel, occurredAt, messageRef, campaignId. */
export function inboundMessage(messageId, from, to, text, more = {}) {
  return {
    tag: "inbound-message",
    val: {
      messageId,
      from,
      to,
      text,
      media: (more.media ?? []).map((m) => ({ url: m.url, contentType: m.contentType ?? undefined })),
      channel: more.channel ?? Channel.Sms,
      ...pickOptional(more, ["occurredAt", "messageRef", "campaignId"]),
    },
  };
}

/** An opt-out event kind. `more`: to, channel, occurredAt, messageRef, campaignId. */
export function optOut(from, more = {}) {
  return {
    tag: "opt-out",
    val: { from, channel: more.channel ?? Channel.Sms, ...pickOptional(more, ["to", "occurredAt", "messageRef", "campaignId"]) },
  };
}

/** A link-hit event kind. `more`: sender, occurredAt, messageRef, campaignId. */
export function linkHit(url, recipient, more = {}) {
  return { tag: "link-hit", val: { url, recipient, ...pickOptional(more, ["sender", "occurredAt", "messageRef", "campaignId"]) } };
}

/** A subscription event kind. `more`: channel, sender, occurredAt. */
export function subscription(subscriber, subscribed, more = {}) {
  return {
    tag: "subscription",
    val: { subscriber, subscribed, channel: more.channel ?? Channel.Sms, ...pickOptional(more, ["sender", "occurredAt"]) },
  };
}

/** One event: a provider event id that is the same on every resend, its
 * kind, and every provider field the kind does not carry. */
export function event(id, kind, extra = []) {
  return { id, kind, extra };
}

/** A confirm-subscription action (Amazon SNS style). */
export function confirmSubscription(topic, url) {
  return { tag: "confirm-subscription", val: { topic, url } };
}

/** The result of handling one callback; without a reply the host answers
 * `200` with an empty body. */
export function outcome(events = [], { reply: r, actions = [] } = {}) {
  return { events, reply: r, actions };
}

/** A reply with a status, no headers and no body. */
export function reply(status) {
  return { status, headers: [], body: new Uint8Array() };
}

/** A reply with a content type and a body (string or bytes). */
export function replyWith(status, contentType, body) {
  return { status, headers: [["content-type", contentType]], body: utf8(body) };
}

/** A `text/plain` reply, e.g. `replyText(200, "OK")`. */
export function replyText(status, body) {
  return replyWith(status, "text/plain; charset=utf-8", body);
}

/** A route: methods ("get", "post", ...), path pattern, description. */
export function route(methods, path, description = "") {
  return { methods, path, description };
}

/** A config key the plugin reads. */
export function configKey(name, { required = false, secret = false, description = "" } = {}) {
  return { name, required, secret, description };
}

// ---------------------------------------------------------------- host

let host = {
  log(level, message) {
    // Natively (tests) there is no host: print to stderr.
    if (typeof console !== "undefined") console.error(`[${level}] ${message}`);
  },
  fetchCertificate(url) {
    throw new Error(`no certificate served for ${url}`);
  },
};

/** Installs the host's imports (the component's entry does this). */
export function setHost(h) {
  host = { ...host, ...h };
}

/** Writes to the host log ("trace" | "debug" | "info" | "warn" | "error"). */
export function log(level, message) {
  host.log(level, String(message));
}

/** Fetches a provider's signing certificate (PEM) through the host;
 * returns the PEM or throws an `unauthorized` error with the host's reason. */
export function fetchCertificate(url) {
  let r;
  try {
    r = host.fetchCertificate(url);
  } catch (e) {
    // componentize-js maps result<string, string> to a return or a throw.
    throw unauthorized(`certificate ${url}: ${e?.payload ?? e?.message ?? e}`);
  }
  return r;
}

// ---------------------------------------------------------------- export

/** Marks an object `{ describe(), handle(req, config) }` as a plugin. */
export function definePlugin(def) {
  if (typeof def?.describe !== "function" || typeof def?.handle !== "function") {
    throw new TypeError("definePlugin needs { describe(), handle(req, config) }");
  }
  return def;
}

const METHODS = new Set(["get", "post", "put", "patch", "delete"]);
const optS = (v, what) => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw internal(`${what} must be a string, got ${typeof v}`);
  return v;
};
const reqS = (v, what) => {
  if (typeof v !== "string") throw internal(`${what} must be a string, got ${typeof v}`);
  return v;
};
const optMs = (v, what) => {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "bigint") return v;
  if (typeof v !== "number" || !Number.isFinite(v)) throw internal(`${what} must be ms since the epoch`);
  return BigInt(Math.trunc(v));
};
const pairs = (list, what) =>
  (list ?? []).map((p, i) => {
    if (!Array.isArray(p) || p.length !== 2) throw internal(`${what}[${i}] must be a [name, value] pair`);
    return [reqS(p[0], `${what}[${i}] name`), String(p[1])];
  });
const enumOf = (set, v, what) => {
  if (!set.has(v)) throw internal(`${what}: \`${v}\` is not one of ${[...set].join(", ")}`);
  return v;
};

function witResponse(r, what) {
  return { status: Number(r.status), headers: pairs(r.headers, `${what}.headers`), body: utf8(r.body ?? new Uint8Array()) };
}

function witKind(kind, what) {
  const v = kind?.val ?? {};
  switch (kind?.tag) {
    case "delivery-status":
      return {
        tag: kind.tag,
        val: {
          messageId: reqS(v.messageId, `${what}.messageId`),
          state: enumOf(STATES, v.state, `${what}.state`),
          providerStatus: reqS(v.providerStatus, `${what}.providerStatus`),
          errorCode: optS(v.errorCode, `${what}.errorCode`),
          from: optS(v.from, `${what}.from`),
          to: optS(v.to, `${what}.to`),
          channel: enumOf(CHANNELS, v.channel, `${what}.channel`),
          occurredAt: optMs(v.occurredAt, `${what}.occurredAt`),
          messageRef: optS(v.messageRef, `${what}.messageRef`),
          campaignId: optS(v.campaignId, `${what}.campaignId`),
        },
      };
    case "inbound-message":
      return {
        tag: kind.tag,
        val: {
          messageId: reqS(v.messageId, `${what}.messageId`),
          from: reqS(v.from, `${what}.from`),
          to: reqS(v.to, `${what}.to`),
          text: reqS(v.text, `${what}.text`),
          media: (v.media ?? []).map((m, i) => ({
            url: reqS(m.url, `${what}.media[${i}].url`),
            contentType: optS(m.contentType, `${what}.media[${i}].contentType`),
          })),
          channel: enumOf(CHANNELS, v.channel, `${what}.channel`),
          occurredAt: optMs(v.occurredAt, `${what}.occurredAt`),
          messageRef: optS(v.messageRef, `${what}.messageRef`),
          campaignId: optS(v.campaignId, `${what}.campaignId`),
        },
      };
    case "opt-out":
      return {
        tag: kind.tag,
        val: {
          from: reqS(v.from, `${what}.from`),
          to: optS(v.to, `${what}.to`),
          channel: enumOf(CHANNELS, v.channel, `${what}.channel`),
          occurredAt: optMs(v.occurredAt, `${what}.occurredAt`),
          messageRef: optS(v.messageRef, `${what}.messageRef`),
          campaignId: optS(v.campaignId, `${what}.campaignId`),
        },
      };
    case "link-hit":
      return {
        tag: kind.tag,
        val: {
          url: reqS(v.url, `${what}.url`),
          recipient: reqS(v.recipient, `${what}.recipient`),
          sender: optS(v.sender, `${what}.sender`),
          occurredAt: optMs(v.occurredAt, `${what}.occurredAt`),
          messageRef: optS(v.messageRef, `${what}.messageRef`),
          campaignId: optS(v.campaignId, `${what}.campaignId`),
        },
      };
    case "subscription":
      return {
        tag: kind.tag,
        val: {
          subscriber: reqS(v.subscriber, `${what}.subscriber`),
          subscribed: Boolean(v.subscribed),
          channel: enumOf(CHANNELS, v.channel, `${what}.channel`),
          sender: optS(v.sender, `${what}.sender`),
          occurredAt: optMs(v.occurredAt, `${what}.occurredAt`),
        },
      };
    default:
      throw internal(`${what}: unknown event kind \`${kind?.tag}\``);
  }
}

/** The contract's outcome for what handle() returned: checks every value,
 * so a mistake fails the same way in Node tests as in the component. */
export function witOutcome(out) {
  if (!out || typeof out !== "object") throw internal("handle() must return outcome(...)");
  return {
    events: (out.events ?? []).map((e, i) => ({
      id: reqS(e.id, `events[${i}].id`),
      kind: witKind(e.kind, `events[${i}]`),
      extra: pairs(e.extra, `events[${i}].extra`),
    })),
    reply: out.reply === undefined || out.reply === null ? undefined : witResponse(out.reply, "reply"),
    actions: (out.actions ?? []).map((a, i) => {
      if (a?.tag !== "confirm-subscription") throw internal(`actions[${i}]: unknown action`);
      return { tag: a.tag, val: { topic: reqS(a.val.topic, `actions[${i}].topic`), url: reqS(a.val.url, `actions[${i}].url`) } };
    }),
  };
}

/** The contract's plugin-info for what describe() returned. */
export function witInfo(info) {
  return {
    name: reqS(info.name, "name"),
    version: reqS(info.version, "version"),
    description: info.description ?? "",
    routes: (info.routes ?? []).map((r, i) => ({
      methods: r.methods.map((m) => enumOf(METHODS, String(m).toLowerCase(), `routes[${i}].methods`)),
      path: reqS(r.path, `routes[${i}].path`),
      description: r.description ?? "",
    })),
    configKeys: (info.configKeys ?? []).map((k) => ({
      name: k.name,
      required: Boolean(k.required),
      secret: Boolean(k.secret),
      description: k.description ?? "",
    })),
    acceptReply: witResponse(info.acceptReply ?? reply(200), "acceptReply"),
  };
}

/** The contract's plugin-error for anything handle() threw: a PluginError
 * keeps its kind; anything else is `internal` (the capture is quarantined
 * for replay, as a trapped Rust plugin's is). */
export function witError(e) {
  if (e instanceof PluginError && ERROR_KINDS.includes(e.kind)) return { tag: e.kind, val: e.message };
  const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return { tag: "internal", val: `plugin threw ${what}` };
}

/** The object a component exports as `plugin` (the `plugin` interface of
 * the `provider` world): describe() and handle() in the contract's shapes.
 * componentize-js returns `ok` for a normal return and `err` for a thrown
 * `{ tag, val }`. */
export function componentPlugin(def) {
  return {
    describe() {
      return witInfo(def.describe());
    },
    handle(req, ctx) {
      let out;
      try {
        out = witOutcome(def.handle(new Request(req), new Config(ctx.config)));
      } catch (e) {
        throw witError(e);
      }
      return out;
    },
  };
}
