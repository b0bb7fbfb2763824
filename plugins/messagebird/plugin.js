// MessageBird (Bird): SMS status reports and inbound messages, with both
// of MessageBird's request signatures checked. See README.md beside this
// file. Written in JavaScript against plugins/sdk-js; built into a
// component by plugins/build-js.sh.

import {
  DeliveryState,
  Picker,
  base64Decode,
  concatBytes,
  configKey,
  constantTimeEqual,
  definePlugin,
  deliveryStatus,
  event,
  fields,
  fromHex,
  hmacSha256,
  inboundMessage,
  isNoError,
  mapStatus,
  outcome,
  parseRfc3339,
  replyText,
  route,
  sha256,
  unauthorized,
  badRequest,
  utf8,
  base64urlDecode,
  decodeUtf8,
} from "../sdk-js/switchboard-plugin.js";

export const VERSION = "0.1.0";

/** `status` of a status report (SMS API "Handle a status report"). */
export const STATUSES = [
  ["scheduled", DeliveryState.Accepted],
  ["buffered", DeliveryState.Queued],
  ["sent", DeliveryState.Sent],
  ["delivered", DeliveryState.Delivered],
  ["expired", DeliveryState.Expired],
  ["delivery_failed", DeliveryState.Undelivered],
];

/** Default for `timestamp_tolerance_secs`: how far MessageBird-Request-Timestamp
 * may be from the arrival time. */
export const DEFAULT_TOLERANCE_SECS = 300;
/** Clock leeway for the JWT's nbf/exp, as MessageBird's Node SDK allows. */
export const JWT_LEEWAY_SECS = 5;

const HEADER_JWT = "messagebird-signature-jwt";
const HEADER_SIG = "messagebird-signature";
const HEADER_TS = "messagebird-request-timestamp";

export default definePlugin({
  describe() {
    return {
      name: "messagebird",
      version: VERSION,
      description: "MessageBird (Bird) SMS status reports and inbound messages, signed (JWT and HMAC)",
      routes: [
        route(["get", "post"], "/messageBirdCallback", "SMS status report (the reportUrl / status report URL)"),
        route(["get", "post"], "/messageBirdIncoming/{app_code}", "inbound SMS (a number's forward-to-URL)"),
      ],
      configKeys: [
        configKey("signing_key", {
          required: true,
          secret: true,
          description: "Signing key (Dashboard > Developers > Settings): the HMAC key of MessageBird-Signature-JWT and MessageBird-Signature",
        }),
        configKey("previous_signing_key", {
          secret: true,
          description: "Old signing key still accepted while rotating",
        }),
        configKey("timestamp_tolerance_secs", {
          description: `How far MessageBird-Request-Timestamp may be from arrival, in seconds (default ${DEFAULT_TOLERANCE_SECS}; 0 = not checked)`,
        }),
      ],
      acceptReply: replyText(200, "OK"),
    };
  },

  handle(req, config) {
    verify(req, config);
    const p = fields(req);
    if (p.getCi("status") !== undefined) return statusReport(p);
    if (p.getCi("originator") !== undefined || p.getCi("body") !== undefined || p.getCi("message") !== undefined) {
      return inbound(p);
    }
    throw badRequest("neither a status report (`status`) nor an inbound message (`originator`, `body`)");
  },
});

function statusReport(p) {
  const pk = new Picker(p);
  const id = pk.pick(["id"]);
  if (!id) throw badRequest("missing field `id`");
  const status = pk.pick(["status"]) ?? "";
  if (!status) throw badRequest("missing field `status`");
  const recipient = pk.pick(["recipient"]);
  const code = pk.pick(["statusErrorCode"]);
  const at = pk.pick(["statusDatetime"]);
  const occurredAt = at === undefined ? undefined : parseRfc3339(at);
  if (at !== undefined && occurredAt === undefined) pk.unpick();
  const d = deliveryStatus(id, mapStatus(STATUSES, status), status, {
    errorCode: code !== undefined && !isNoError(code) ? code : undefined,
    to: recipient,
    from: pk.pick(["originator"]),
    occurredAt,
    messageRef: pk.pick(["reference"]),
  });
  // A message to several recipients gets a report per recipient, and a
  // resend of one report repeats all three.
  return outcome([event(`${id}:${recipient ?? ""}:${status}`, d, pk.extra())]);
}

function inbound(p) {
  const pk = new Picker(p);
  const id = pk.pick(["id", "mid"]);
  if (!id) throw badRequest("missing field `id`");
  const from = pk.pick(["originator"]);
  if (!from) throw badRequest("missing field `originator`");
  const to = pk.pick(["recipient", "shortcode"]) ?? "";
  const text = pk.pickRaw(["body", "message"]) ?? "";
  const at = pk.pick(["createdDatetime"]);
  const occurredAt = at === undefined ? undefined : parseRfc3339(at);
  if (at !== undefined && occurredAt === undefined) pk.unpick();
  // The host puts the route's {app_code} on the event itself.
  return outcome([event(id, inboundMessage(id, from, to, text, { occurredAt }), pk.extra())]);
}

// ---------------------------------------------------------------- signatures

/** Accepts a request when every signature it carries verifies, and at
 * least one is there: MessageBird-Signature-JWT and/or MessageBird-Signature
 * (with MessageBird-Request-Timestamp). */
export function verify(req, config) {
  const keys = [config.require("signing_key"), config.get("previous_signing_key")].filter((k) => k);
  const jwt = req.header(HEADER_JWT);
  const sig = req.header(HEADER_SIG);
  if (jwt === undefined && sig === undefined) {
    throw unauthorized("missing MessageBird-Signature-JWT (or MessageBird-Signature): the callback is not signed");
  }
  if (jwt !== undefined) verifyJwt(jwt, keys, req);
  if (sig !== undefined) verifySignature(sig, req.header(HEADER_TS), keys, req, config);
}

function jsonPart(b64, what) {
  const bytes = base64urlDecode(b64);
  if (!bytes) throw unauthorized(`MessageBird-Signature-JWT: bad ${what} encoding`);
  try {
    const v = JSON.parse(decodeUtf8(bytes));
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("not an object");
    return v;
  } catch {
    throw unauthorized(`MessageBird-Signature-JWT: ${what} is not a JSON object`);
  }
}

function hexClaimMatches(claim, digest) {
  const got = typeof claim === "string" ? fromHex(claim) : undefined;
  return got !== undefined && constantTimeEqual(got, digest);
}

/** MessageBird-Signature-JWT: an HS256 JWT keyed by the signing key, issued
 * by `MessageBird`, valid at arrival (nbf/exp, 5 s leeway), whose
 * `url_hash` is the hex SHA-256 of the URL called and whose `payload_hash`
 * is the hex SHA-256 of the body, present exactly when there is a body. */
export function verifyJwt(token, keys, req) {
  const parts = token.trim().split(".");
  if (parts.length !== 3) throw unauthorized("MessageBird-Signature-JWT is not a JWT");
  const [h64, p64, s64] = parts;
  const header = jsonPart(h64, "header");
  if (header.alg !== "HS256") throw unauthorized(`MessageBird-Signature-JWT: algorithm \`${header.alg}\` is not HS256`);
  const given = base64urlDecode(s64);
  if (!given) throw unauthorized("MessageBird-Signature-JWT: bad signature encoding");
  const signed = utf8(`${h64}.${p64}`);
  if (!keys.some((k) => constantTimeEqual(hmacSha256(k, signed), given))) {
    throw unauthorized("MessageBird-Signature-JWT: signature does not match the signing key");
  }
  const claims = jsonPart(p64, "payload");
  if (claims.iss !== "MessageBird") throw unauthorized("MessageBird-Signature-JWT: issuer is not MessageBird");
  if (typeof claims.nbf !== "number" || typeof claims.exp !== "number") {
    throw unauthorized("MessageBird-Signature-JWT: without nbf and exp");
  }
  const now = Math.floor(req.receivedAt / 1000);
  if (now + JWT_LEEWAY_SECS < claims.nbf) {
    throw unauthorized(`MessageBird-Signature-JWT: not valid before ${claims.nbf}, received at ${now}`);
  }
  if (now - JWT_LEEWAY_SECS >= claims.exp) {
    throw unauthorized(`MessageBird-Signature-JWT: expired at ${claims.exp}, received at ${now}`);
  }
  if (!hexClaimMatches(claims.url_hash, sha256(req.url))) {
    throw unauthorized(`MessageBird-Signature-JWT: url_hash does not match ${req.url}`);
  }
  const hasBody = req.body.length > 0;
  const ph = claims.payload_hash;
  if (hasBody && (ph === undefined || ph === "")) throw unauthorized("MessageBird-Signature-JWT: a body but no payload_hash");
  if (!hasBody && ph !== undefined && ph !== "") throw unauthorized("MessageBird-Signature-JWT: payload_hash but no body");
  if (hasBody && !hexClaimMatches(ph, req.bodySha256())) {
    throw unauthorized("MessageBird-Signature-JWT: payload_hash does not match the body");
  }
}

/** The legacy (2019) signed query: parameters sorted by name, each name and
 * value percent-encoded, joined with `&` (what MessageBird's SDKs build). */
export function sortedQuery(req) {
  const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const pairs = [...req.query().pairs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`).join("&");
}

/** MessageBird-Signature: base64 HMAC-SHA256 (signing key) of
 * `timestamp \n url \n sha256(body)` with the body's hash as raw bytes
 * (Bird's "Verifying a webhook"); the legacy MessageBird form with the
 * sorted query in place of the URL is accepted too. The timestamp must be
 * within `timestamp_tolerance_secs` of arrival. */
export function verifySignature(sig, timestamp, keys, req, config) {
  if (timestamp === undefined) throw unauthorized("MessageBird-Signature without MessageBird-Request-Timestamp");
  const ts = timestamp.trim();
  if (!/^\d{1,12}$/.test(ts)) throw unauthorized(`MessageBird-Request-Timestamp \`${timestamp}\` is not a Unix time`);
  const given = base64Decode(sig);
  if (!given) throw unauthorized("MessageBird-Signature is not base64");
  // Bird's form first; the legacy one only when that fails.
  const message = (head) => concatBytes(utf8(head), req.bodySha256());
  const forms = [() => message(`${ts}\n${req.url}\n`), () => message(`${ts}\n${sortedQuery(req)}\n`)];
  const ok = forms.some((form) => {
    const m = form();
    return keys.some((k) => constantTimeEqual(hmacSha256(k, m), given));
  });
  if (!ok) throw unauthorized("MessageBird-Signature does not match the signing key");
  const tolerance = config.int("timestamp_tolerance_secs", DEFAULT_TOLERANCE_SECS);
  const skew = Math.abs(Math.floor(req.receivedAt / 1000) - Number(ts));
  if (tolerance > 0 && skew > tolerance) {
    throw unauthorized(`MessageBird-Request-Timestamp ${ts} is ${skew} s away from arrival (tolerance ${tolerance} s)`);
  }
}
