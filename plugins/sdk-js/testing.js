// Native test harness for JavaScript plugins (Node only): runs a plugin's
// handle() on raw HTTP fixture files exactly as the router would (same
// route matching, public URL `https://<Host>`, route prefix `/api/v1`,
// same contract values as the component gets), with no wasm runtime.
//
//   import { Harness, checkFixtures } from "../../sdk-js/testing.js";
//   const H = new Harness(plugin, new URL("..", import.meta.url));
//   test("delivered", () => {
//     const { event, delivery } = H.delivery("status-delivered.http");
//     assert.equal(delivery.state, "delivered");
//   });
//   test("fixtures", () => assert.ok(checkFixtures(plugin, dir) >= 10));
//
// The `.http` format is that of plugins/sdk/src/fixture.rs: a request
// line, headers, a blank line, the body; lines may end in CRLF or LF;
// without Content-Length the body is the rest of the file minus one
// trailing newline.

import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { componentPlugin } from "./switchboard-plugin.js";

/** The router's default route prefix. */
export const DEFAULT_PREFIX = "/api/v1";
/** The arrival time run() gives requests (2023-11-14T22:13:20Z), as the
 * Rust SDK's `testing::RECEIVED_AT`. */
export const RECEIVED_AT = 1_700_000_000_000;

const dirOf = (d) => (d instanceof URL ? fileURLToPath(d) : String(d));

// ---------------------------------------------------------------- fixture

function splitHead(bytes) {
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i] === 10 && bytes[i + 1] === 10) return [bytes.subarray(0, i), bytes.subarray(i + 2)];
    if (bytes[i] === 10 && bytes[i + 1] === 13 && bytes[i + 2] === 10) return [bytes.subarray(0, i), bytes.subarray(i + 3)];
  }
  return undefined;
}

/** One parsed request file: { method, target, headers: [[k, v]], body }. */
export class Fixture {
  constructor(method, target, headers, body) {
    this.method = method;
    this.target = target;
    this.headers = headers;
    this.body = body;
  }

  /** Parses request bytes (or text); throws with the reason if malformed. */
  static parse(input) {
    const bytes = typeof input === "string" ? new TextEncoder().encode(input) : new Uint8Array(input);
    const split = splitHead(bytes);
    if (!split) throw new Error("no blank line after the headers");
    const [headBytes, rest] = split;
    const head = new TextDecoder("utf-8", { fatal: true }).decode(headBytes);
    const lines = head.split("\n").map((l) => l.replace(/\r$/, ""));
    const requestLine = lines.shift();
    if (!requestLine) throw new Error("empty request");
    const parts = requestLine.trim().split(/\s+/);
    const method = (parts[0] ?? "").toUpperCase();
    const target = parts[1];
    if (!method) throw new Error("no method");
    if (!target) throw new Error("no request target");
    if (!target.startsWith("/")) throw new Error(`request target \`${target}\` must start with \`/\``);
    const headers = lines.map((line) => {
      const c = line.indexOf(":");
      if (c < 0) throw new Error(`bad header line \`${line}\``);
      return [line.slice(0, c).trim(), line.slice(c + 1).trim()];
    });
    const cl = headers.find(([k]) => k.toLowerCase() === "content-length");
    let body;
    if (cl) {
      if (!/^\d+$/.test(cl[1])) throw new Error(`bad Content-Length \`${cl[1]}\``);
      const n = Number(cl[1]);
      if (n > rest.length) throw new Error(`Content-Length ${n} but only ${rest.length} body bytes`);
      body = rest.slice(0, n);
    } else {
      let end = rest.length;
      if (end >= 2 && rest[end - 2] === 13 && rest[end - 1] === 10) end -= 2;
      else if (end >= 1 && rest[end - 1] === 10) end -= 1;
      body = rest.slice(0, end);
    }
    return new Fixture(method, target, headers, new Uint8Array(body));
  }

  /** Reads and parses a file; errors name the file. */
  static load(path) {
    try {
      return Fixture.parse(readFileSync(path));
    } catch (e) {
      throw new Error(`${path}: ${e.message}`);
    }
  }

  header(name) {
    const n = name.toLowerCase();
    const h = this.headers.find(([k]) => k.toLowerCase() === n);
    return h ? h[1] : undefined;
  }
  /** Path without the query. */
  path() {
    return this.target.split("?")[0];
  }
  /** Query without `?` (empty if none). */
  query() {
    const i = this.target.indexOf("?");
    return i < 0 ? "" : this.target.slice(i + 1);
  }
}

// ---------------------------------------------------------------- routes

/** Decodes %XX escapes; undefined if malformed or not UTF-8. */
function percentDecode(s) {
  const out = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "%") {
      const h = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) return undefined;
      out.push(parseInt(h, 16));
      i += 2;
    } else {
      out.push(...new TextEncoder().encode(s[i]));
    }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(out));
  } catch {
    return undefined;
  }
}

/** Matches a request path against a route pattern as the host does
 * (plugins/sdk/src/route.rs): captures; undefined if it does not match. */
export function matchRoute(pattern, path) {
  if (!pattern.startsWith("/") || !path.startsWith("/")) return undefined;
  const segs = pattern.slice(1).split("/");
  const parts = path.slice(1).split("/");
  const caps = [];
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i];
    const part = parts[i];
    if (part === undefined) return undefined;
    const m = /^\{([a-z0-9_]+)\}$/.exec(seg);
    if (m) {
      const v = percentDecode(part);
      if (v === undefined || v === "" || v === "." || v === ".." || /[/\\\0]/.test(v)) return undefined;
      caps.push([m[1], v]);
    } else if (part !== seg) {
      return undefined;
    }
  }
  const tail = parts.slice(segs.length);
  if (tail.length === 0 || (tail.length === 1 && tail[0] === "")) return caps;
  return undefined;
}

/** The contract request for `fixture` served under `prefix` by a router
 * whose public URL is `https://<Host header>`; throws if no route of the
 * plugin matches (path or method). */
export function requestFor(plugin, fixture, receivedAt = RECEIVED_AT, prefix = DEFAULT_PREFIX) {
  const method = fixture.method.toLowerCase();
  if (!["get", "post", "put", "patch", "delete"].includes(method)) throw new Error(`unsupported method ${fixture.method}`);
  const full = fixture.path();
  if (!full.startsWith(prefix) || !full.slice(prefix.length).startsWith("/")) {
    throw new Error(`path \`${full}\` is not under ${prefix}`);
  }
  const rel = full.slice(prefix.length);
  const info = componentPlugin(plugin).describe();
  let found;
  for (const r of info.routes) {
    if (!r.methods.includes(method)) continue;
    const caps = matchRoute(r.path, rel);
    if (caps) {
      found = [r.path, caps];
      break;
    }
  }
  if (!found) throw new Error(`no route of \`${info.name}\` serves ${fixture.method} ${rel}`);
  const host = fixture.header("host") ?? "hooks.example.com";
  return {
    method,
    url: `https://${host}${fixture.target}`,
    path: rel,
    query: fixture.query(),
    headers: fixture.headers.map(([k, v]) => [k.toLowerCase(), v]),
    body: fixture.body,
    params: found[1],
    route: found[0],
    receivedAt: BigInt(receivedAt),
    remoteAddr: "127.0.0.1",
  };
}

/** Runs a fixture (text, bytes or a Fixture) through the plugin as the
 * component would: `{ ok: outcome }` or `{ err: { tag, val } }`, in the
 * contract's shapes (occurredAt as BigInt, bodies as bytes). */
export function runAt(plugin, fixture, config, receivedAt = RECEIVED_AT) {
  const fx = fixture instanceof Fixture ? fixture : Fixture.parse(fixture);
  const req = requestFor(plugin, fx, receivedAt);
  const ctx = { config: Object.entries(config instanceof Array ? Object.fromEntries(config) : config ?? {}) };
  try {
    return { ok: componentPlugin(plugin).handle(req, ctx) };
  } catch (e) {
    if (e && typeof e === "object" && "tag" in e) return { err: e };
    throw e;
  }
}

/** runAt() at RECEIVED_AT. */
export function run(plugin, fixture, config) {
  return runAt(plugin, fixture, config, RECEIVED_AT);
}

/** The settings of `<dir>/fixtures/config.toml` as an object (a flat
 * table of strings: `key = "value"`, `"""` multi-line values, comments). */
export function fixtureConfig(dir) {
  const path = join(dirOf(dir), "fixtures", "config.toml");
  if (!existsSync(path)) return {};
  const out = {};
  const lines = readFileSync(path, "utf8").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trimStart().startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    const k = line.slice(0, eq).trim();
    const v = line.slice(eq + 1).trim();
    if (v === '"""') {
      const acc = [];
      while (++i < lines.length && lines[i].trim() !== '"""') acc.push(lines[i]);
      out[k] = acc.join("\n");
    } else {
      out[k] = v.replace(/^"|"$/g, "");
    }
  }
  return out;
}

/** Runs every `<dir>/fixtures/*.http` through the plugin with
 * `fixtures/config.toml` and throws unless they follow the naming
 * convention (as `switchboard plugin test --check`): `reject-*` refused,
 * `ack-*` accepted without events, every other one accepted with at least
 * one event or action. Returns the number of fixtures. */
export function checkFixtures(plugin, dir, { receivedAt = RECEIVED_AT, config } = {}) {
  const cfg = config ?? fixtureConfig(dir);
  const fdir = join(dirOf(dir), "fixtures");
  const names = readdirSync(fdir).filter((n) => n.endsWith(".http")).sort();
  for (const name of names) {
    const r = runAt(plugin, Fixture.load(join(fdir, name)), cfg, receivedAt);
    if (name.startsWith("reject-")) {
      if (!r.err) throw new Error(`${name} was accepted: ${JSON.stringify(r.ok.events.map((e) => e.id))}`);
      continue;
    }
    if (r.err) throw new Error(`${name} was refused: ${r.err.tag}: ${r.err.val}`);
    const some = r.ok.events.length > 0 || r.ok.actions.length > 0;
    if (name.startsWith("ack-") && r.ok.events.length > 0) throw new Error(`${name} gave events`);
    if (!name.startsWith("ack-") && !some) throw new Error(`${name} gave no event (name it \`ack-*\` if that is right)`);
  }
  return names.length;
}

/** The value of `key` in an event's extra (the first, if repeated). */
export function extra(ev, key) {
  const p = ev.extra.find(([k]) => k === key);
  return p ? p[1] : undefined;
}

/** A plugin under one config, expected to answer every accepted callback
 * with `reply` ({ status, body } with body as text), or with none (the
 * host's accept reply) when `reply` is undefined. */
export class Harness {
  constructor(plugin, dir, { config, reply, receivedAt = RECEIVED_AT } = {}) {
    this.plugin = plugin;
    this.dir = dirOf(dir);
    this.config = config ?? fixtureConfig(this.dir);
    this.reply = reply;
    this.receivedAt = receivedAt;
  }
  /** The text of fixtures/NAME. */
  fixture(name) {
    return readFileSync(join(this.dir, "fixtures", name), "utf8");
  }
  /** Runs fixtures/NAME (or request text containing a newline). */
  run(nameOrText, config = this.config, receivedAt = this.receivedAt) {
    const fx = nameOrText.includes("\n") ? Fixture.parse(nameOrText) : Fixture.load(join(this.dir, "fixtures", nameOrText));
    return runAt(this.plugin, fx, config, receivedAt);
  }
  /** The outcome of an accepted fixture; fails on a refusal or a reply
   * other than the expected one. */
  outcome(nameOrText) {
    const r = this.run(nameOrText);
    if (r.err) throw new Error(`refused: ${r.err.tag}: ${r.err.val}`);
    const got = r.ok.reply;
    if (this.reply === undefined) {
      if (got !== undefined) throw new Error(`want the host's reply, the plugin gave ${got.status}`);
    } else {
      const body = got ? new TextDecoder().decode(got.body) : undefined;
      if (!got || got.status !== this.reply.status || body !== this.reply.body) {
        throw new Error(`reply ${got?.status} ${JSON.stringify(body)}, want ${this.reply.status} ${JSON.stringify(this.reply.body)}`);
      }
    }
    return r.ok;
  }
  /** The error of a refused fixture ({ tag, val }); fails if accepted. */
  refusal(nameOrText, config = this.config, receivedAt = this.receivedAt) {
    const r = this.run(nameOrText, config, receivedAt);
    if (!r.err) throw new Error(`accepted: ${JSON.stringify(r.ok.events.map((e) => e.id))}`);
    return r.err;
  }
  /** The one delivery-status event of a fixture: { event, delivery }. */
  delivery(nameOrText) {
    const out = this.outcome(nameOrText);
    if (out.events.length !== 1) throw new Error(`${out.events.length} events, want 1`);
    const ev = out.events[0];
    if (ev.kind.tag !== "delivery-status") throw new Error(`event ${ev.id} is ${ev.kind.tag}`);
    return { event: ev, delivery: ev.kind.val };
  }
  /** The one inbound-message event of a fixture: { event, message }. */
  inbound(nameOrText) {
    const out = this.outcome(nameOrText);
    if (out.events.length !== 1) throw new Error(`${out.events.length} events, want 1`);
    const ev = out.events[0];
    if (ev.kind.tag !== "inbound-message") throw new Error(`event ${ev.id} is ${ev.kind.tag}`);
    return { event: ev, message: ev.kind.val };
  }
}
