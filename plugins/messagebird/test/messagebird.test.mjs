// Unit tests of the MessageBird plugin, in plain Node (no wasm):
// `node --test plugins/messagebird/test/` (plugins/build-js.sh --test).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createHash, createHmac } from "node:crypto";

import plugin, { STATUSES, VERSION, verifyJwt } from "../plugin.js";
import { Harness, checkFixtures, extra, RECEIVED_AT } from "../../sdk-js/testing.js";
import { Request, componentPlugin, mapStatus, utf8 } from "../../sdk-js/switchboard-plugin.js";
import { KEY, TS, jwt, birdSignature, legacySignature } from "../fixtures/sign.mjs";

const DIR = new URL("..", import.meta.url);
// Status reports and inbound messages get the host's reply (200, empty body).
const H = new Harness(plugin, DIR);
const CFG = { signing_key: KEY, timestamp_tolerance_secs: "0" };
const hmac = (k, m) => createHmac("sha256", k).update(m).digest();
const sha256hex = (s) => createHash("sha256").update(s).digest("hex");

test("every fixture follows the naming convention", () => {
  assert.equal(checkFixtures(plugin, DIR), 19);
});

test("describe: routes, a required secret key (the host counts the mount as verifying)", () => {
  const info = componentPlugin(plugin).describe();
  assert.equal(info.name, "messagebird");
  assert.equal(info.version, VERSION);
  assert.equal(VERSION, JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version);
  assert.deepEqual(
    info.routes.map((r) => [r.methods.join(","), r.path]),
    [["get,post", "/messageBirdCallback"], ["get,post", "/messageBirdIncoming/{app_code}"]],
  );
  const keys = Object.fromEntries(info.configKeys.map((k) => [k.name, k]));
  assert.equal(keys.signing_key.required, true);
  assert.equal(keys.signing_key.secret, true);
  assert.equal(keys.previous_signing_key.required, false);
  assert.equal(keys.timestamp_tolerance_secs.required, false);
  assert.equal(info.acceptReply.status, 200);
});

test("statuses map, unknown ones keep the raw status", () => {
  for (const [raw, state] of STATUSES) assert.equal(mapStatus(STATUSES, raw), state);
  assert.deepEqual(
    STATUSES.map(([r, s]) => `${r}=${s}`),
    ["scheduled=accepted", "buffered=queued", "sent=sent", "delivered=delivered", "expired=expired", "delivery_failed=undelivered"],
  );
  const url = "https://hooks.example.com/api/v1/messageBirdCallback?id=m1&recipient=31612345678&status=teleported";
  const token = jwt({ url, body: "", jti: "t" });
  const { delivery } = H.delivery(
    `GET /api/v1/messageBirdCallback?id=m1&recipient=31612345678&status=teleported HTTP/1.1\nHost: hooks.example.com\nMessageBird-Signature-JWT: ${token}\n\n`,
  );
  assert.deepEqual([delivery.state, delivery.providerStatus], ["unknown", "teleported"]);
});

test("status report by GET: delivered", () => {
  const { event, delivery } = H.delivery("status-delivered-get.http");
  assert.equal(event.id, "efa6405d518d4c0c88cce11f7db775fb:31612345678:delivered");
  assert.equal(delivery.messageId, "efa6405d518d4c0c88cce11f7db775fb");
  assert.equal(delivery.state, "delivered");
  assert.equal(delivery.providerStatus, "delivered");
  assert.equal(delivery.to, "31612345678");
  assert.equal(delivery.from, undefined);
  assert.equal(delivery.errorCode, undefined);
  assert.equal(delivery.messageRef, "order-1042");
  assert.equal(delivery.channel, "sms");
  assert.equal(delivery.occurredAt, BigInt(Date.parse("2023-11-14T22:13:05Z")));
  assert.equal(extra(event, "statusReason"), "successfully delivered");
  assert.equal(extra(event, "price[amount]"), "0.0700");
  assert.equal(extra(event, "price[currency]"), "EUR");
  assert.equal(extra(event, "mccmnc"), "20408");
  assert.equal(extra(event, "ported"), "0");
  for (const mapped of ["id", "status", "recipient", "reference", "statusDatetime"]) {
    assert.equal(extra(event, mapped), undefined, mapped);
  }
});

test("status report by POST: delivery_failed with its error code", () => {
  const { event, delivery } = H.delivery("status-delivery-failed-post.http");
  assert.equal(delivery.state, "undelivered");
  assert.equal(delivery.providerStatus, "delivery_failed");
  assert.equal(delivery.errorCode, "104");
  assert.equal(delivery.to, "31600000001");
  assert.equal(extra(event, "statusReason"), "unknown subscriber");
  assert.equal(event.id, "2b1a8fa0c5a94c8b9e7cdd4f0c6a1f33:31600000001:delivery_failed");
});

test("sent and expired reports", () => {
  const sent = H.delivery("status-sent-post.http").delivery;
  assert.deepEqual([sent.state, sent.to, sent.messageRef], ["sent", "447700900123", "otp-88"]);
  const expired = H.delivery("status-expired-get.http");
  assert.equal(expired.delivery.state, "expired");
  assert.equal(extra(expired.event, "statusReason"), "DLR not received");
});

test("inbound by GET and by POST (UTF-8 text kept as sent)", () => {
  const g = H.inbound("inbound-sms-get.http");
  assert.equal(g.event.id, "3f4ee3e9a5b74a8c8c0b0a4f6e2d1c0b");
  assert.deepEqual([g.message.from, g.message.to, g.message.text], ["31612345678", "3197010260000", "Yes, deliver it tomorrow please"]);
  assert.equal(g.message.occurredAt, BigInt(Date.parse("2023-11-14T22:13:10Z")));
  assert.equal(g.message.channel, "sms");
  assert.deepEqual(g.event.extra, []);
  const p = H.inbound("inbound-sms-post.http");
  assert.equal(p.message.text, "Danke schön! 👍 Ist die Lieferung à 10:00 möglich?");
  assert.equal(p.message.from, "4915112345678");
});

test("either signature alone is enough, and the legacy MessageBird-Signature too", () => {
  for (const name of [
    "status-delivered-jwt-only.http",
    "status-delivered-bird-signature-only.http",
    "inbound-sms-bird-signature-only.http",
    "status-delivered-legacy-signature.http",
  ]) {
    assert.equal(H.outcome(name).events.length, 1, name);
  }
});

test("refusals say why", () => {
  const why = {
    "reject-missing-signatures.http": /not signed/,
    "reject-jwt-bad-signature.http": /JWT: signature does not match/,
    "reject-jwt-expired.http": /expired at 1699990060/,
    "reject-jwt-not-yet-valid.http": /not valid before 4102444800/,
    "reject-jwt-wrong-url-hash.http": /url_hash does not match/,
    "reject-jwt-tampered-body.http": /payload_hash does not match/,
    "reject-bird-signature-bad.http": /^MessageBird-Signature does not match/,
    "reject-bird-tampered-body.http": /^MessageBird-Signature does not match/,
    "reject-bird-signature-no-timestamp.http": /without MessageBird-Request-Timestamp/,
  };
  for (const [name, re] of Object.entries(why)) {
    const err = H.refusal(name);
    assert.equal(err.tag, "unauthorized", name);
    assert.match(err.val, re, name);
  }
});

test("JWT nbf/exp against the arrival time, with 5 s of leeway", () => {
  const url = "https://hooks.example.com/api/v1/messageBirdCallback?id=m2&recipient=1&status=sent";
  const at = (nbf, exp) =>
    `GET /api/v1/messageBirdCallback?id=m2&recipient=1&status=sent HTTP/1.1\nHost: hooks.example.com\nMessageBird-Signature-JWT: ${jwt({ url, body: "", nbf, exp, jti: "j" })}\n\n`;
  const now = RECEIVED_AT / 1000;
  // A real token: valid for a minute from nbf.
  assert.ok(H.run(at(now - 30, now + 30), CFG).ok);
  assert.ok(H.run(at(now + 4, now + 64), CFG).ok, "nbf 4 s ahead: leeway");
  assert.match(H.refusal(at(now + 6, now + 66), CFG).val, /not valid before/);
  assert.ok(H.run(at(now - 60, now - 1), CFG).ok, "expired 1 s ago: leeway");
  assert.match(H.refusal(at(now - 65, now - 5), CFG).val, /expired/);
});

test("MessageBird-Request-Timestamp within timestamp_tolerance_secs (default 300) of arrival", () => {
  const name = "status-delivered-bird-signature-only.http";
  const dflt = { signing_key: KEY };
  assert.equal(Number(TS) * 1000 - RECEIVED_AT, -5000);
  assert.ok(H.run(name, dflt).ok);
  assert.ok(H.run(name, dflt, RECEIVED_AT + 295_000).ok);
  assert.match(H.refusal(name, dflt, RECEIVED_AT + 400_000).val, /405 s away from arrival \(tolerance 300 s\)/);
  assert.match(H.refusal(name, { ...dflt, timestamp_tolerance_secs: "60" }, RECEIVED_AT - 70_000).val, /65 s away from arrival \(tolerance 60 s\)/);
  assert.ok(H.run(name, { ...dflt, timestamp_tolerance_secs: "0" }, RECEIVED_AT + 86_400_000 * 365).ok, "0 = not checked");
  assert.equal(H.refusal(name, { ...dflt, timestamp_tolerance_secs: "soon" }).tag, "internal");
  const bad = H.fixture(name).replace(`MessageBird-Request-Timestamp: ${TS}`, "MessageBird-Request-Timestamp: yesterday");
  assert.match(H.refusal(bad).val, /is not a Unix time/);
});

test("key rotation: previous_signing_key is accepted too, nothing else is", () => {
  const rotated = { signing_key: "the-new-key", previous_signing_key: KEY, timestamp_tolerance_secs: "0" };
  for (const name of ["status-delivery-failed-post.http", "status-delivered-legacy-signature.http", "inbound-sms-get.http"]) {
    assert.ok(H.run(name, rotated).ok, name);
    assert.match(H.refusal(name, { signing_key: "the-new-key", timestamp_tolerance_secs: "0" }).val, /does not match/, name);
  }
});

test("a JSON body (Flow Builder style) is read too, and its hash is checked", () => {
  const body = JSON.stringify({ id: "j1", originator: "31612345678", recipient: "3197010260000", body: "hi", createdDatetime: "2023-11-14T22:13:10+00:00", meta: { a: 1 } });
  const target = "/api/v1/messageBirdIncoming/shop1";
  const url = `https://hooks.example.com${target}`;
  const text = (b) =>
    `POST ${target} HTTP/1.1\nHost: hooks.example.com\nContent-Type: application/json\nMessageBird-Signature-JWT: ${jwt({ url, body, jti: "x" })}\nMessageBird-Signature: ${birdSignature({ url, body })}\nMessageBird-Request-Timestamp: ${TS}\n\n${b}\n`;
  const { event, message } = H.inbound(text(body));
  assert.deepEqual([event.id, message.text], ["j1", "hi"]);
  assert.equal(extra(event, "meta"), '{"a":1}');
  assert.equal(H.refusal(text(body.replace("hi", "ho"))).tag, "unauthorized");
});

test("well-signed but unusable requests are bad requests", () => {
  const sign = (query) => {
    const target = `/api/v1/messageBirdCallback${query ? `?${query}` : ""}`;
    const url = `https://hooks.example.com${target}`;
    return `GET ${target} HTTP/1.1\nHost: hooks.example.com\nMessageBird-Signature-JWT: ${jwt({ url, body: "", jti: "b" })}\n\n`;
  };
  assert.match(H.refusal(sign("status=delivered")).val, /missing field `id`/);
  assert.match(H.refusal(sign("id=1&status=")).val, /missing field `status`/);
  assert.match(H.refusal(sign("id=1&body=hi")).val, /missing field `originator`/);
  assert.match(H.refusal(sign("foo=bar")).val, /neither a status report/);
  for (const e of [sign("status=delivered"), sign("foo=bar")]) assert.equal(H.refusal(e).tag, "bad-request");
  // A date that does not parse stays in extra, verbatim.
  const { event, delivery } = H.delivery(sign("id=1&recipient=2&status=sent&statusDatetime=soon"));
  assert.equal(delivery.occurredAt, undefined);
  assert.equal(extra(event, "statusDatetime"), "soon");
});

test("signature headers that are not what they claim to be are refused", () => {
  const base = H.fixture("status-delivered-get.http");
  const token = /MessageBird-Signature-JWT: (\S+)/.exec(base)[1];
  const [h, p] = token.split(".");
  const swap = (t) => base.replace(token, t);
  assert.match(H.refusal(swap("not-a-jwt")).val, /is not a JWT/);
  assert.match(H.refusal(swap(`${h}.${p}.***`)).val, /bad signature encoding/);
  const none = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
  assert.match(H.refusal(swap(`${none}.${p}.`)).val, /algorithm `none` is not HS256/);
  assert.match(H.refusal(swap(`!!.${p}.x`)).val, /bad header encoding/);
  // A token signed right but for another issuer, or without exp.
  const forge = (claims) => {
    const hb = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
    const pb = Buffer.from(JSON.stringify(claims)).toString("base64url");
    return `${hb}.${pb}.${Buffer.from(hmac(KEY, `${hb}.${pb}`)).toString("base64url")}`;
  };
  const url = `https://hooks.example.com${base.split(" ")[1]}`;
  const urlHash = sha256hex(url);
  assert.match(H.refusal(swap(forge({ iss: "Someone", nbf: 1, exp: 4102444800, url_hash: urlHash }))).val, /issuer/);
  assert.match(H.refusal(swap(forge({ iss: "MessageBird", nbf: 1, url_hash: urlHash }))).val, /without nbf and exp/);
  assert.match(H.refusal(swap(forge({ iss: "MessageBird", nbf: 1, exp: 4102444800 }))).val, /url_hash/);
  assert.ok(H.run(swap(forge({ iss: "MessageBird", nbf: 1, exp: 4102444800, url_hash: urlHash.toUpperCase() }))).ok, "hex in any case");
  assert.match(H.refusal(base.replace("MessageBird-Signature-JWT", "MessageBird-Signature")).val, /not base64|without MessageBird-Request-Timestamp/);
});

// MessageBird's own test vectors (messagebird-nodejs,
// lib/testdata/webhook-signature-jwt-reference.json), received at
// 2021-07-05T12:00:00+02:00.
const REF_SECRET = "36efdd1aace2e26cd490f0d951138253bef2f7c6d34d18981da781555cc4cebb";
const REF_AT = Date.parse("2021-07-05T12:00:00+02:00");
const T = (p) => `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.${p}`;
const REF = [
  ["valid, no URL parameters or payload", true, "https://example.com/", "",
    T("eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiI1OWEyNDRkYy1lOWFkLTRlMjMtOTc3OC0zNzFmYWEyMzhmNzIiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.6Fp0rVOsRr1fj9S2GidXAfkmPVofKr8_RTffC6G6r2E")],
  ["valid, URL parameters and payload", true, "https://example.com/path?bar=1&foo=2", "Hello, World!",
    T("eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiI5M2U1NTAwNi1hMGU4LTQ1MjYtYTE5MC1mYTVmZjAwZWExMTYiLCJ1cmxfaGFzaCI6IjQxZjA1ZjBkZGQwYTIyYWIyMDlhYzQ2ZjQ3YzQ1NzJkOWNlZmEyNTdlZDc0YjI0MDA0YmFlNzUzZWNlNmMyNjAiLCJwYXlsb2FkX2hhc2giOiJkZmZkNjAyMWJiMmJkNWIwYWY2NzYyOTA4MDllYzNhNTMxOTFkZDgxYzdmNzBhNGIyODY4OGEzNjIxODI5ODZmIn0._H--TOuYFLpeEH39-rg5E3IHVkjHozBcaKVWPRC5m9I")],
  ["valid, port in the URL", true, "https://example.com:8080/", "",
    T("eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiI1OWEyNDRkYy1lOWFkLTRlMjMtOTc3OC0zNzFmYWEyMzhmNzIiLCJ1cmxfaGFzaCI6IjA3Zjc4NjFhNjliMTNjMjI5YzZhZTU5NmQxOThiMjc2M2IwNTRjZjVlMDAwZDczNmQxYzQ4MTAyZDc3MGNmZmMifQ.vcpa0IicGAbpo064dOjiA2VbVOR2S5uZBEaBOP16sS8")],
  ["valid, special characters in the URL", true, "https://example.com/?obj%5Bfield1%5D=val1&obj%5Bfield2%5D=val2&param=value+with+spaces", "",
    T("eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiI1OWEyNDRkYy1lOWFkLTRlMjMtOTc3OC0zNzFmYWEyMzhmNzIiLCJ1cmxfaGFzaCI6IjhhZmYzNzQ4ZDc4OWM0MzMzNTczZTFjMzFmZTViMDA0OTQwY2I1ZmM0NzQ2MGVkM2QwZTY1NGY3ZmM0ZTVmYWUifQ.mJBCMfEjKmN3IMuzqPXPHktWETrcu0iNdF3agE8PDyI")],
  ["valid, special characters in the payload", true, "https://example.com/", "Some text containg & < >, & and \\u0026",
    T("eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiI1OWEyNDRkYy1lOWFkLTRlMjMtOTc3OC0zNzFmYWEyMzhmNzIiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDciLCJwYXlsb2FkX2hhc2giOiIyNDMxYmQ5Y2NiNDhlZDAxNmZhZDU2N2IwNzcxMjAzOGI1Y2RkOTQ5YWM5ZDQxZmU0NjkzZDVhMzg0NWNmN2U4In0.IQiKzeEPaO3A48lhKmBDSmxZyCESPCGxdSKFdi0dEJs")],
  ["received before it was issued", false, "https://example.com/", "",
    T("eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ4MjgwMCwiZXhwIjoxNjI1NDgyODYwLCJqdGkiOiJmOWY4YzM4Mi0yNDQ5LTQzMTEtYjcyYi0xZGY3MTY4NzkzMWUiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.ZELgDFNGhjZH9CffQKcq3sytBe2I0KciLxpBhcfstHQ")],
  ["received after it expired", false, "https://example.com/", "",
    T("eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3NTYwMCwiZXhwIjoxNjI1NDc1NjYwLCJqdGkiOiI1ZjAyZjUyMi02MDMwLTQ2YzgtYjVhMy0wMTI0NjQ3OGQ4YmMiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.45MSST3B_2PsjNUeiuW54_vUQgVw4rBXrdWrOUEz3lM")],
  ["received on another URL (parameters reordered)", false, "https://example.com/path?foo=1&bar=2", "",
    T("eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiJhNzVjOTA5Ni1lODIzLTQ0MmItODVmMi03ZDNjOWQ5YjcyNmIiLCJ1cmxfaGFzaCI6IjZhMDIyZDgzNGMxODMzMGJhYWQ4YTJiZDYxMzUxNzNlZDIxNjEwYTQ1NDUxNmJlMGRmM2YxY2MwMTUxNjEwZWEifQ.z6Sw1XQIM0wuEQGBhXBdawDIIrtMg2XnmA_bpDq53pE")],
  ["payload does not match", false, "https://example.com/", "Hello, World!",
    T("eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiIxNDUwMTUzMi05NmYyLTQ2ODQtOTgzMi02OGYwOTUxYWUzNDIiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDciLCJwYXlsb2FkX2hhc2giOiJmYjYyZjAyYWNkYTdkNzQxNzdhNzAxYTFjZTAwNmU2YmFjZDkwYzdkNGQ3YWI0ODE2OTJjMWRhNDdjODEwNzZiIn0.m79RCwO6dGa9pvzsQypkVuXQ6eM0CkRl6_U7MfWg6TM")],
  ["different secret", false, "https://example.com/", "",
    T("eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiIyNDNjMjdhZS0yZjAyLTQ2YTAtODg1Mi1jNjZmMzdlYTlmNDYiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.JgSeYyOtlEKAXk8bz30iJI4tXgf4lxknoiezawuVhb4")],
  ["payload removed in transit", false, "https://example.com/", "",
    T("eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiIxNDUwMTUzMi05NmYyLTQ2ODQtOTgzMi02OGYwOTUxYWUzNDIiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDciLCJwYXlsb2FkX2hhc2giOiJkZmZkNjAyMWJiMmJkNWIwYWY2NzYyOTA4MDllYzNhNTMxOTFkZDgxYzdmNzBhNGIyODY4OGEzNjIxODI5ODZmIn0.bHfsjj3tljfzTufoG3EU3p_yFrQh9CufyzRSaRMd4ss")],
  ["payload added in transit", false, "https://example.com/", "Hello, World!",
    T("eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiI1OWEyNDRkYy1lOWFkLTRlMjMtOTc3OC0zNzFmYWEyMzhmNzIiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.6Fp0rVOsRr1fj9S2GidXAfkmPVofKr8_RTffC6G6r2E")],
];

test("MessageBird's JWT reference vectors", () => {
  for (const [name, valid, url, payload, token] of REF) {
    const req = new Request({
      method: "post", url, path: "/", query: "", headers: [], body: utf8(payload),
      params: [], route: "/", receivedAt: BigInt(REF_AT), remoteAddr: "",
    });
    const check = () => verifyJwt(token, [REF_SECRET], req);
    if (valid) check();
    else assert.throws(check, (e) => e.kind === "unauthorized", name);
  }
  // The SDKs also accept HS384/HS512 tokens; MessageBird signs with HS256
  // and so does this plugin accept only HS256.
  const hs384 = "eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiI1OWEyNDRkYy1lOWFkLTRlMjMtOTc3OC0zNzFmYWEyMzhmNzIiLCJ1cmxfaGFzaCI6IjBmMTE1ZGIwNjJiN2MwZGQwMzBiMTY4NzhjOTlkZWE1YzM1NGI0OWRjMzdiMzhlYjg4NDYxNzljNzc4M2U5ZDcifQ.KNMW-29X77lZeuPmThmHWc_RUAvTkaDkpxIZK6mqE08v8mWKiU9Edh4QXwAJO2nv";
  const req = new Request({ method: "get", url: "https://example.com/", path: "/", query: "", headers: [], body: new Uint8Array(), params: [], route: "/", receivedAt: BigInt(REF_AT), remoteAddr: "" });
  assert.throws(() => verifyJwt(hs384, [REF_SECRET], req), /HS384` is not HS256/);
});

test("the legacy MessageBird-Signature: MessageBird's Ruby SDK example", () => {
  // ruby-rest-api examples/signed_request_verification.rb
  const query = "recipient=31612345678&reference=FOO&statusDatetime=2019-01-11T09%3A17%3A11%2B00%3A00&id=eef0ab57a9e049be946f3821568c2b2e&status=delivered&mccmnc=20408&ported=1";
  const text = `GET /api/v1/messageBirdCallback?${query} HTTP/1.1\nHost: hooks.example.com\nMessageBird-Signature: KVBdcVdz2lYMwcBLZCRITgxUfA/WkwSi+T3Wxl2HL6w=\nMessageBird-Request-Timestamp: 1547198231\n\n`;
  const cfg = { signing_key: "PlLrKaqvZNRR5zAjm42ZT6q1SQxgbbGd" };
  const { delivery } = new Harness(plugin, DIR, { config: cfg, receivedAt: 1547198231_000 }).delivery(text);
  assert.equal(delivery.messageRef, "FOO");
  assert.equal(legacySignature({ key: cfg.signing_key, ts: "1547198231", query, body: "" }), "KVBdcVdz2lYMwcBLZCRITgxUfA/WkwSi+T3Wxl2HL6w=");
  assert.match(H.run(text, cfg, 1547198231_000 + 3_600_000).err.val, /3600 s away/);
});
