// Unit tests of the JavaScript plugin kit: `node --test plugins/sdk-js/test/`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac, randomBytes } from "node:crypto";

import * as sdk from "../switchboard-plugin.js";
import { Fixture, matchRoute, requestFor, run, runAt, checkFixtures, fixtureConfig, Harness, RECEIVED_AT } from "../testing.js";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const {
  sha256Hex, hmacSha256, hex, fromHex, base64, base64Decode, base64url, base64urlDecode,
  constantTimeEqual, verifyHex, verifyBase64, Params, Request, Config, fields, records, Picker,
  stableId, shortHash, mapStatus, isNoError, parseRfc3339, DeliveryState, flatten,
} = sdk;

test("sha256: FIPS 180-4 vectors and node:crypto on every length around the padding", () => {
  assert.equal(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.equal(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(
    sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
  assert.equal(sha256Hex("a".repeat(1_000_000)), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  for (let n = 0; n < 300; n++) {
    const b = randomBytes(n);
    assert.equal(sha256Hex(b), createHash("sha256").update(b).digest("hex"), `length ${n}`);
  }
  assert.equal(sha256Hex("é😀"), createHash("sha256").update("é😀").digest("hex"), "strings hash as UTF-8");
});

test("sha256: the unrolled block function and its loop fallback agree", () => {
  const { compress, compressLoop } = sdk._sha256Blocks;
  assert.notEqual(compress, compressLoop, "the unrolled one is in use here");
  for (let i = 0; i < 200; i++) {
    const block = new Uint8Array(randomBytes(64));
    const seed = new Int32Array(new Uint8Array(randomBytes(32)).buffer);
    const h1 = Int32Array.from(seed);
    const h2 = Int32Array.from(seed);
    compress(h1, block, 0);
    compressLoop(h2, block, 0);
    assert.deepEqual(h1, h2);
  }
});

test("hmac-sha256: RFC 4231 and node:crypto, keys longer than a block", () => {
  assert.equal(
    hex(hmacSha256("Jefe", "what do ya want for nothing?")),
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  );
  const key = new Uint8Array(131).fill(0xaa);
  assert.equal(
    hex(hmacSha256(key, "Test Using Larger Than Block-Size Key - Hash Key First")),
    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
  );
  for (const n of [0, 1, 63, 64, 65, 200]) {
    const k = randomBytes(n);
    const m = randomBytes(n * 3 + 1);
    assert.equal(hex(hmacSha256(k, m)), createHmac("sha256", k).update(m).digest("hex"));
  }
});

test("hex, base64 and base64url round trips and refusals", () => {
  for (let n = 0; n < 70; n++) {
    const b = randomBytes(n);
    assert.equal(hex(b), b.toString("hex"));
    assert.deepEqual(fromHex(b.toString("hex").toUpperCase()), new Uint8Array(b));
    assert.equal(base64(b), b.toString("base64"));
    assert.deepEqual(base64Decode(b.toString("base64")), new Uint8Array(b));
    assert.deepEqual(base64Decode(b.toString("base64").replace(/=+$/, "")), new Uint8Array(b), "padding optional");
    assert.equal(base64url(b), b.toString("base64url"));
    assert.deepEqual(base64urlDecode(b.toString("base64url")), new Uint8Array(b));
  }
  assert.equal(fromHex("abc"), undefined);
  assert.equal(fromHex("zz"), undefined);
  assert.equal(base64Decode("not base64!"), undefined);
  assert.equal(base64Decode("a"), undefined);
  assert.equal(base64urlDecode("ab+/"), undefined, "the standard alphabet is not base64url");
  assert.equal(base64Decode("ab-_"), undefined, "nor the other way round");
});

test("constant-time compares", () => {
  const mac = hmacSha256("k", "m");
  assert.ok(constantTimeEqual(mac, mac.slice()));
  assert.ok(!constantTimeEqual(mac, mac.slice(0, 31)));
  assert.ok(constantTimeEqual("abc", "abc") && !constantTimeEqual("abc", "abd"));
  assert.ok(verifyHex(hex(mac), mac) && verifyHex(hex(mac).toUpperCase(), mac));
  assert.ok(!verifyHex(hex(mac.slice(0, 31)), mac) && !verifyHex("zz", mac) && !verifyHex(undefined, mac));
  assert.ok(verifyBase64(base64(mac), mac) && !verifyBase64("not base64!", mac));
});

test("utf-8 without TextEncoder/TextDecoder (QuickJS) matches the WHATWG codec", () => {
  for (const s of ["", "abc", "é€😀", "\ud800x", "Danke schön! 👍"]) {
    assert.deepEqual(sdk.encodeUtf8Js(s), new TextEncoder().encode(s), s);
  }
  for (let i = 0; i < 5000; i++) {
    const b = new Uint8Array(randomBytes(i % 9));
    assert.equal(sdk.decodeUtf8Js(b), new TextDecoder().decode(b), hex(b));
  }
});

test("forms decode like the Rust SDK: + is a space, bad escapes kept, UTF-8 lossy, latin1", () => {
  const p = Params.parse("t=1%2B1+2&bad=%zz&k=caf%C3%A9&empty&&x=1&x=2");
  assert.equal(p.get("t"), "1+1 2");
  assert.equal(p.get("bad"), "%zz");
  assert.equal(p.get("k"), "café");
  assert.equal(p.get("empty"), "");
  assert.equal(p.get("x"), "2", "the last value wins");
  assert.equal(p.getCi("K"), "café");
  assert.equal(p.getAny(["nope", "empty", "k"]), "café", "first non-empty");
  assert.equal(Params.parse("t=%E9").get("t"), "\ufffd");
  assert.equal(Params.parse("t=%E9", "iso-8859-1").get("t"), "é");
  assert.throws(() => p.require("empty"), (e) => e.kind === "bad-request" && /`empty`/.test(e.message));
  assert.equal(p.opt("nope"), undefined);
  assert.deepEqual(p.extra(["t", "bad", "k", "empty"]), [["x", "1"], ["x", "2"]]);
  assert.deepEqual(Params.fromJson({ a: "s", n: 1.5, b: true, z: null, o: {} }).pairs, [["a", "s"], ["n", "1.5"], ["b", "true"]]);
});

function req(text, receivedAt = RECEIVED_AT) {
  const echo = sdk.definePlugin({
    describe: () => ({ name: "echo", version: "0", routes: [sdk.route(["get", "post"], "/in/{app_code}")] }),
    handle: () => sdk.outcome(),
  });
  return new Request(requestFor(echo, Fixture.parse(text), receivedAt));
}

test("requests: headers, captures, content type, params, JSON, fields and records", () => {
  const r = req("POST /api/v1/in/shop%201?q=1&id=0 HTTP/1.1\nHost: h.example\nContent-Type: application/x-www-form-urlencoded; Charset=\"UTF-8\"\nX-Sig: abc\n\nid=2&s=x\n");
  assert.equal(r.url, "https://h.example/api/v1/in/shop%201?q=1&id=0");
  assert.equal(r.path, "/in/shop%201");
  assert.equal(r.route, "/in/{app_code}");
  assert.equal(r.param("app_code"), "shop 1");
  assert.equal(r.header("x-SIG"), "abc");
  assert.equal(r.contentType(), "application/x-www-form-urlencoded");
  assert.equal(r.charset(), "utf-8");
  assert.equal(r.params().get("id"), "2", "the body wins over the query");
  assert.equal(r.receivedAt, RECEIVED_AT);
  assert.equal(r.method, "post");
  const f = fields(r);
  assert.deepEqual([f.get("q"), f.get("s")], ["1", "x"]);

  const j = req("POST /api/v1/in/a?q=1 HTTP/1.1\nContent-Type: application/json\n\n{\"id\":3,\"n\":null,\"o\":{\"a\":[1]}}\n");
  assert.ok(j.looksLikeJson());
  assert.deepEqual(fields(j).pairs, [["q", "1"], ["id", "3"], ["o", "{\"a\":[1]}"]]);
  assert.equal(records(j).length, 1);
  const batch = req("POST /api/v1/in/a?q=1 HTTP/1.1\n\n [{\"id\":1},{\"id\":2}]\n");
  assert.throws(() => fields(batch), /not an object/);
  assert.deepEqual(records(batch).map((p) => [p.get("q"), p.get("id")]), [["1", "1"], ["1", "2"]]);
  assert.throws(() => records(req("POST /api/v1/in/a HTTP/1.1\n\n[]\n")), /empty JSON array/);
  assert.throws(() => records(req("POST /api/v1/in/a HTTP/1.1\n\n[1]\n")), /item 0/);
  assert.throws(() => req("POST /api/v1/in/a HTTP/1.1\nContent-Type: application/json\n\n{x\n").json(), (e) => e.kind === "bad-request");
  assert.equal(req("GET /api/v1/in/a?id=1 HTTP/1.1\n\n").params().get("id"), "1");
  assert.equal(hex(r.bodySha256()), createHash("sha256").update("id=2&s=x").digest("hex"));
});

test("config: values, required keys, flags, whole numbers", () => {
  const c = new Config([["a", "1"], ["f", "Yes"], ["bad", "x"]]);
  assert.equal(c.get("a"), "1");
  assert.throws(() => c.require("nope"), (e) => e.kind === "internal");
  assert.equal(c.flag("f", false), true);
  assert.equal(c.flag("nope", true), true);
  assert.equal(c.int("a", 5), 1);
  assert.equal(c.int("nope", 5), 5);
  assert.throws(() => c.int("bad", 5), (e) => e.kind === "internal");
});

test("picker: usual names, unused fields to extra", () => {
  const p = new Params([["MsgId", " 42 "], ["status", ""], ["dlr", "1"], ["x", "y"], ["text", " hi "], ["x", "z"]]);
  const pk = new Picker(p);
  assert.equal(pk.pick(["msgid"]), "42");
  assert.equal(pk.pick(["status", "dlr"]), "1");
  assert.equal(pk.pickRaw(["TEXT"]), " hi ");
  assert.ok(pk.has(["status"]) && !pk.has(["nope"]));
  assert.equal(pk.pick(["x"]), "z");
  pk.unpick();
  assert.deepEqual(pk.extra(), [["status", ""], ["x", "y"], ["x", "z"]]);
  assert.deepEqual(flatten("", { id: "m", s: { n: "D", g: 3 }, to: ["a"], z: null }, ["id"]), [["s.n", "D"], ["s.g", "3"], ["to", "[\"a\"]"]]);
});

test("stable ids are the Rust SDK's", () => {
  // plugins/sdk/src/fields.rs: the ids plugins have shipped with.
  assert.equal(stableId(["+1", "", "x"]), "687a7673a0851ea532661602");
  assert.equal(shortHash(["+1", "", "x"]), "7d594d358e08ddd0432f7e77");
  assert.notEqual(stableId(["ab", "c"]), stableId(["a", "bc"]));
});

test("status tables and error codes", () => {
  const T = [["DELIVRD", DeliveryState.Delivered]];
  assert.equal(mapStatus(T, " delivrd "), "delivered");
  assert.equal(mapStatus(T, "WHATEVER"), "unknown");
  for (const none of ["", " ", "0", "000", undefined]) assert.ok(isNoError(none), String(none));
  for (const some of ["1", "0x0A", "001", "O"]) assert.ok(!isNoError(some), some);
});

test("RFC 3339 dates", () => {
  assert.equal(parseRfc3339("2023-11-14T22:13:20Z"), 1_700_000_000_000);
  assert.equal(parseRfc3339("2023-11-14T23:13:20+01:00"), 1_700_000_000_000);
  assert.equal(parseRfc3339("2023-11-14 22:13:20.5+0000"), 1_700_000_000_500);
  assert.equal(parseRfc3339("2023-11-14T22:13:20"), 1_700_000_000_000, "no zone: UTC");
  assert.equal(parseRfc3339("2023-11-14T22:13:20", 60), 1_699_996_400_000);
  for (const bad of ["", "yesterday", "2023-13-01T00:00:00Z", "2023-11-14T22:13Z", undefined]) {
    assert.equal(parseRfc3339(bad), undefined, String(bad));
  }
  for (let t = -86400_000 * 800; t < 86400_000 * 40000; t += 86400_000 * 97 + 3_723_000) {
    assert.equal(parseRfc3339(new Date(t).toISOString()), t);
  }
});

test("fixtures parse as plugins/sdk/src/fixture.rs does", () => {
  const crlf = "POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n\r\nhello\n";
  const lf = "POST /a?x=1 HTTP/1.1\nHost: h\nContent-Type: text/plain\n\nhello\n";
  for (const f of [Fixture.parse(crlf), Fixture.parse(lf)]) {
    assert.equal(f.method, "POST");
    assert.equal(f.path(), "/a");
    assert.equal(f.query(), "x=1");
    assert.equal(f.header("content-type"), "text/plain");
    assert.equal(new TextDecoder().decode(f.body), "hello");
  }
  assert.equal(new TextDecoder().decode(Fixture.parse("POST / HTTP/1.1\nContent-Length: 3\n\nabcdef").body), "abc");
  assert.throws(() => Fixture.parse("POST / HTTP/1.1\nContent-Length: 9\n\nabc"), /only 3 body bytes/);
  assert.throws(() => Fixture.parse("POST / HTTP/1.1\nno blank line"), /no blank line/);
  assert.throws(() => Fixture.parse("POST x HTTP/1.1\n\n"), /must start with/);
});

test("routes match as the host's", () => {
  assert.deepEqual(matchRoute("/cb/{app_code}", "/cb/shop1"), [["app_code", "shop1"]]);
  assert.deepEqual(matchRoute("/cb/{app_code}", "/cb/shop1/"), [["app_code", "shop1"]], "one trailing slash");
  assert.deepEqual(matchRoute("/cb/{app_code}", "/cb/a%20b"), [["app_code", "a b"]]);
  for (const bad of ["/cb", "/cb/", "/cb/a/b", "/cb/..", "/cb/%2e", "/cb/a%2Fb", "/cb/%zz", "/cb/a//"]) {
    assert.equal(matchRoute("/cb/{app_code}", bad), undefined, bad);
  }
  assert.deepEqual(matchRoute("/cb", "/cb"), []);
});

const toy = sdk.definePlugin({
  describe: () => ({
    name: "toy",
    version: "0.0.1",
    routes: [sdk.route(["get"], "/toy")],
    configKeys: [sdk.configKey("key", { required: true, secret: true })],
    acceptReply: sdk.replyText(200, "OK"),
  }),
  handle(r, config) {
    const q = r.query();
    if (config.get("key") !== "k") throw sdk.unauthorized("no key");
    if (q.has("bad")) throw sdk.badRequest("bad");
    if (q.has("boom")) throw new TypeError("boom");
    if (q.has("state")) return sdk.outcome([sdk.event("e", sdk.deliveryStatus("m", q.get("state"), "x"))]);
    if (q.has("none")) return sdk.outcome([], { reply: sdk.reply(204) });
    const d = sdk.deliveryStatus("m1", DeliveryState.Delivered, "DELIVRD", { to: "+1", occurredAt: 1_700_000_000_000, errorCode: undefined });
    return sdk.outcome([sdk.event("m1:DELIVRD", d, [["a", "b"]])], { reply: sdk.replyText(200, "OK") });
  },
});

test("componentPlugin: the contract's shapes, errors by kind, anything else internal", () => {
  const info = sdk.componentPlugin(toy).describe();
  assert.equal(info.configKeys[0].required, true);
  assert.deepEqual(info.routes[0].methods, ["get"]);
  assert.equal(new TextDecoder().decode(info.acceptReply.body), "OK");
  const ok = run(toy, "GET /api/v1/toy HTTP/1.1\n\n", { key: "k" }).ok;
  const d = ok.events[0].kind.val;
  assert.equal(d.occurredAt, 1_700_000_000_000n, "s64 as BigInt");
  assert.equal(d.channel, "sms");
  assert.equal(d.errorCode, undefined);
  assert.deepEqual(ok.events[0].extra, [["a", "b"]]);
  assert.equal(ok.reply.status, 200);
  assert.deepEqual(run(toy, "GET /api/v1/toy HTTP/1.1\n\n", {}).err, { tag: "unauthorized", val: "no key" });
  assert.equal(run(toy, "GET /api/v1/toy?bad HTTP/1.1\n\n", { key: "k" }).err.tag, "bad-request");
  assert.deepEqual(run(toy, "GET /api/v1/toy?boom HTTP/1.1\n\n", { key: "k" }).err, { tag: "internal", val: "plugin threw TypeError: boom" });
  const wrong = run(toy, "GET /api/v1/toy?state=gone HTTP/1.1\n\n", { key: "k" }).err;
  assert.equal(wrong.tag, "internal");
  assert.match(wrong.val, /`gone` is not one of/);
  assert.throws(() => run(toy, "POST /api/v1/toy HTTP/1.1\n\n", {}), /no route of `toy` serves POST/);
  assert.throws(() => run(toy, "GET /elsewhere HTTP/1.1\n\n", {}), /not under \/api\/v1/);
  assert.equal(runAt(toy, "GET /api/v1/toy?none HTTP/1.1\n\n", [["key", "k"]], 0).ok.reply.status, 204);
});

test("checkFixtures enforces the naming convention; Harness checks replies", () => {
  const dir = mkdtempSync(join(tmpdir(), "sdk-js-"));
  const write = (files) => {
    rmSync(join(dir, "fixtures"), { recursive: true, force: true });
    mkdirSync(join(dir, "fixtures"));
    writeFileSync(join(dir, "fixtures", "config.toml"), "# toy\nkey = \"k\"\nmulti = \"\"\"\na\nb\n\"\"\"\n");
    for (const [name, query] of files) writeFileSync(join(dir, "fixtures", name), `GET /api/v1/toy?${query} HTTP/1.1\nHost: h\n\n`);
  };
  try {
    write([["ok.http", "a=1"], ["ack-quiet.http", "none=1"], ["reject-bad.http", "bad=1"]]);
    assert.deepEqual(fixtureConfig(dir), { key: "k", multi: "a\nb" });
    assert.equal(checkFixtures(toy, dir), 3);
    const H = new Harness(toy, dir, { reply: { status: 200, body: "OK" } });
    assert.equal(H.delivery("ok.http").delivery.messageId, "m1");
    assert.equal(H.refusal("reject-bad.http").tag, "bad-request");
    for (const [name, query] of [["reject-ok.http", "a=1"], ["quiet.http", "none=1"], ["ack-noisy.http", "a=1"], ["ok.http", "bad=1"]]) {
      write([[name, query]]);
      assert.throws(() => checkFixtures(toy, dir), undefined, name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
