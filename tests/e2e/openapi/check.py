#!/usr/bin/env python3
"""Checks a running Switchboard router against its OpenAPI document.

    check.py SPEC ADMIN_URL INGRESS_URL [TOKEN] [--webhook-url URL]

It sends real callbacks to the ingress (SMSGlobal and Kudosity v2, both
unsigned), then calls every operation of the admin API, creating, changing,
pausing, rotating, testing and deleting webhooks along the way. Every answer
must be documented: its operation (path and method), its status, its media
type and documented headers; a JSON answer must validate against the
documented schema (JSON Schema 2020-12, the document as a `referencing`
resource so its `$ref`s resolve; `date-time` and base64 `contentEncoding`
are checked too). A request body the router accepted (2xx) must validate
against the documented request schema, and every query parameter sent must
be documented.

Coverage: it fails if a documented operation never answered 2xx, or a
documented query parameter was never sent, or an operation answering a JSON
array only ever answered `[]` (its item schema never met real data).

What the router needs (tests/e2e/openapi.rs starts one like this): the
`smsglobal` and `kudosity` plugins under the default `/api/v1` prefix, and
routes sending their events to destinations among which one answers 5xx
with a short retry schedule (dead letters) and, ideally, one answers `410`
(a disabled destination, re-enabled here). `--webhook-url` is where the
webhooks it creates deliver (a local receiver answering 200; loopback is
allowed for it). With a TOKEN, every operation is also called without it
and must answer `401` (the dashboard page `200`).

Only the standard library, jsonschema (with referencing) and PyYAML.
Exit status 0 when everything held, 1 with the list of failures otherwise.
"""

import argparse
import base64
import binascii
import datetime
import json
import re
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

import yaml
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:switchboard:openapi"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
NO_WEBHOOK = "wh_000000000000000000000000"
RUN = str(int(time.time() * 1000))  # keeps message ids fresh across runs


# --- the document ---------------------------------------------------------


def pointer(*parts):
    """A JSON pointer from raw parts (`/` and `~` escaped)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def short(text, n=200):
    """One line of at most `n` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value):
    if not isinstance(value, str):
        return True
    if not RFC3339.match(value):
        return False
    datetime.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return True


def _content_encoding(validator, encoding, instance, schema):
    if encoding == "base64" and isinstance(instance, str):
        try:
            base64.b64decode(instance, validate=True)
        except (binascii.Error, ValueError):
            yield ValidationError(f"{instance[:40]!r} is not base64")


SchemaValidator = validators.extend(Draft202012Validator, {"contentEncoding": _content_encoding})


class Spec:
    def __init__(self, path):
        with open(path) as f:
            self.doc = yaml.safe_load(f)
        self.registry = Registry().with_resource(SPEC_URI, Resource(self.doc, DRAFT202012))
        self._validators = {}
        # Literal paths first: `/v1/webhooks` before a templated one.
        self.templates = sorted(self.doc["paths"], key=lambda t: ("{" in t, t))
        self.patterns = {
            t: re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(t)) + "$")
            for t in self.templates
        }

    def operations(self):
        for template, item in self.doc["paths"].items():
            for method in METHODS:
                if method in item:
                    yield method.upper(), template

    def at(self, ptr):
        node = self.doc
        for part in ptr.split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def resolve(self, obj, ptr):
        """Follows local `$ref`s (responses, parameters): (object, its pointer)."""
        while isinstance(obj, dict) and "$ref" in obj and obj["$ref"].startswith("#/"):
            ptr = obj["$ref"][1:]
            obj = self.at(ptr)
        return obj, ptr

    def template_of(self, path):
        return next((t for t in self.templates if self.patterns[t].match(path)), None)

    def operation(self, method, template):
        return self.doc["paths"].get(template, {}).get(method.lower())

    def response(self, method, template, status):
        """The documented response for a status: (object, pointer) or (None, None)."""
        responses = self.operation(method, template)["responses"]
        for key in (str(status), f"{status // 100}XX", "default"):
            if key in responses:
                return self.resolve(responses[key], pointer("paths", template, method.lower(), "responses", key))
        return None, None

    def parameters(self, method, template):
        """Documented parameters as {(in, name): object}."""
        out = {}
        base = pointer("paths", template)
        for where, params in (
            (base, self.doc["paths"][template].get("parameters", [])),
            (base + pointer(method.lower()), self.operation(method, template).get("parameters", [])),
        ):
            for i, p in enumerate(params):
                p, _ = self.resolve(p, where + pointer("parameters", i))
                out[(p["in"], p["name"])] = p
        return out

    def validator(self, ptr):
        if ptr not in self._validators:
            ref = SPEC_URI + "#" + urllib.parse.quote(ptr, safe="/~")
            self._validators[ptr] = SchemaValidator({"$ref": ref}, registry=self.registry, format_checker=FORMATS)
        return self._validators[ptr]

    def errors(self, ptr, instance):
        """Each problem as `where: what`, the deepest relevant one of a `oneOf`."""
        out = []
        for e in sorted(self.validator(ptr).iter_errors(instance), key=lambda e: list(e.absolute_path)):
            e = best_match([e])
            where = "/".join(map(str, e.absolute_path)) or "(root)"
            out.append(f"{where}: {short(e.message, 300)}")
        return out


# --- calling the router, checking each answer -----------------------------


class Answer:
    def __init__(self, status, headers, text):
        self.status, self.headers, self.text = status, headers, text
        self.json = None


class Checker:
    def __init__(self, spec, admin, ingress, token):
        self.spec, self.admin, self.ingress, self.token = spec, admin.rstrip("/"), ingress.rstrip("/"), token
        self.failures = []
        self.calls = {op: [] for op in spec.operations()}  # (method, template) -> statuses
        self.nonempty = set()  # operations that answered a non-empty array
        self.params_sent = set()  # (method, template, name)
        self.secrets = set()  # full signing secrets: shown only where created
        self.probes = []
        self.failed_ops = set()

    def fail(self, message, op=None):
        self.failures.append(message)
        if op:
            self.failed_ops.add(op)

    def http(self, base, method, path, body=None, raw=None, headers=None):
        data = raw.encode() if raw is not None else None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(base + path, data=data, method=method)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        if data is not None and "Content-Type" not in (headers or {}):
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return Answer(r.status, r.headers, r.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as e:
            return Answer(e.code, e.headers, e.read().decode("utf-8", "replace"))

    def call(self, method, path, body=None, raw=None, auth=True, token=None, expect=None):
        """An admin request, checked against the document; its Answer."""
        headers = {}
        if self.token and auth:
            headers["Authorization"] = "Bearer " + (token or self.token)
        a = self.http(self.admin, method, path, body, raw, headers)
        url = urllib.parse.urlsplit(path)
        tag = f"{method} {path} -> {a.status}"
        template = self.spec.template_of(url.path)
        op = template and self.spec.operation(method, template)
        if not op:
            self.fail(f"{tag}: operation not documented")
            return a
        key = (method, template)
        fail = lambda message: self.fail(message, key)  # noqa: E731
        self.calls[key].append(a.status)
        if expect is not None and a.status != expect:
            fail(f"{tag}: expected {expect}: {short(a.text)}")
        documented = self.spec.parameters(method, template)
        for name, _ in urllib.parse.parse_qsl(url.query, keep_blank_values=True):
            if ("query", name) not in documented:
                fail(f"{tag}: query parameter `{name}` not documented")
            self.params_sent.add((method, template, name))
        resp, ptr = self.spec.response(method, template, a.status)
        if resp is None:
            fail(f"{tag}: status not documented: {short(a.text)}")
            return a
        self.check_headers(tag, resp, ptr, a, fail)
        content = resp.get("content", {})
        mime = (a.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content and mime not in content:
            fail(f"{tag}: content-type `{mime}`, documented {list(content)}")
            return a
        if mime == "application/json":
            try:
                a.json = json.loads(a.text)
            except ValueError as e:
                fail(f"{tag}: not JSON ({e}): {short(a.text)}")
                return a
            for e in self.spec.errors(ptr + pointer("content", mime, "schema"), a.json)[:5]:
                fail(f"{tag}: {e}")
            if isinstance(a.json, list) and a.json and 200 <= a.status < 300:
                self.nonempty.add((method, template))
        if 200 <= a.status < 300:
            self.check_request_body(tag, method, template, body, raw, fail)
        self.check_no_secret(tag, a, fail)
        return a

    def check_headers(self, tag, resp, ptr, a, fail):
        # Documented response headers are promised (the descriptions say so).
        for name, header in resp.get("headers", {}).items():
            header, hptr = self.spec.resolve(header, ptr + pointer("headers", name))
            value = a.headers.get(name)
            if value is None:
                fail(f"{tag}: documented header `{name}` missing")
            elif "schema" in header:
                for e in self.spec.errors(hptr + "/schema", value)[:2]:
                    fail(f"{tag}: header `{name}`: {e}")

    def check_request_body(self, tag, method, template, body, raw, fail):
        rb = self.spec.operation(method, template).get("requestBody")
        if not rb or (body is None and raw is None):
            return
        rb, rptr = self.spec.resolve(rb, pointer("paths", template, method.lower(), "requestBody"))
        media = rb.get("content", {}).get("application/json")
        if media is None or "schema" not in media:
            return
        try:
            sent = body if raw is None else json.loads(raw) if raw.strip() else {}
        except ValueError:
            fail(f"{tag}: accepted a body that is not JSON: {short(raw)}")
            return
        for e in self.spec.errors(rptr + pointer("content", "application/json", "schema"), sent)[:3]:
            fail(f"{tag}: accepted a body the document calls invalid: {e}")

    def check_no_secret(self, tag, a, fail):
        if isinstance(a.json, dict) and isinstance(a.json.get("secret"), str):
            self.secrets.add(a.json["secret"])
            shown = {a.json["secret"]}
        else:
            shown = set()
        for s in self.secrets - shown:
            if s in a.text:
                fail(f"{tag}: shows a signing secret ({s[:10]}…)")

    def probe(self, method, path, status, raw=None):
        """An undocumented request the document's conventions answer (an Error)."""
        headers = {"Authorization": "Bearer " + self.token} if self.token else {}
        a = self.http(self.admin, method, path, raw=raw, headers=headers)
        ok = a.status == status
        try:
            ok = ok and not self.spec.errors("/components/schemas/Error", json.loads(a.text))
        except ValueError:
            ok = False
        self.probes.append((method, path, a.status, ok))
        if not ok:
            self.fail(f"{method} {path} -> {a.status}: conventions say {status} and an Error: {short(a.text)}")

    def send(self, path, data=None, content_type=None, expect=200):
        """A provider callback to the ingress."""
        headers = {"Content-Type": content_type} if content_type else {}
        a = self.http(self.ingress, "POST" if data is not None else "GET", path, raw=data, headers=headers)
        if a.status // 100 != expect // 100:
            self.fail(f"ingress {path} -> {a.status} (want {expect // 100}xx): {short(a.text)}")

    def wait(self, what, probe, timeout=20.0):
        """Polls `probe` (which makes checked calls) until it returns a true value."""
        deadline = time.monotonic() + timeout
        while True:
            got = probe()
            if got or time.monotonic() > deadline:
                if not got:
                    self.fail(f"gave up waiting for {what} ({timeout:.0f}s)")
                return got
            time.sleep(0.2)


# --- the scenario ---------------------------------------------------------


def kudosity(c, path, event_type, key, payload):
    body = {"event_type": event_type, "timestamp": "2026-12-04T00:05:18.5Z", key: payload}
    c.send("/api/v1" + path, json.dumps(body), "application/json")


def traffic(c):
    """Real callbacks: accepted ones of four event kinds, and rejected ones."""
    n = RUN
    c.send(f"/api/v1/smsGlobalCallback?msgid={n}1&dlrstatus=DELIVRD&dlr_err=000&donedate=2311231415")
    c.send("/api/v1/smsGlobalCallback", f"msgid={n}2&dlrstatus=UNDELIV&dlr_err=001&donedate=2311231422",
           "application/x-www-form-urlencoded")
    c.send(f"/api/v1/smsGlobalIncoming/shop9?to=61447100250&from=61400000000&msg=Hi+{n}&date=2023-11-23+14%3A20%3A05")
    c.send("/api/v1/smsGlobalCallback?dlrstatus=DELIVRD&dlr_err=000", expect=400)
    status = {"type": "SMS", "id": f"k-{n}", "message_ref": "order-9931", "sender": "61481074185",
              "recipient": "61400000000", "campaign_id": "summer-sale", "status": "DELIVERED"}
    kudosity(c, "/kudosityCallback", "SMS_STATUS", "status", status)
    kudosity(c, "/kudosityIncoming/shop1", "SMS_INBOUND", "mo", {
        "type": "SMS", "id": f"mo-{n}", "message": "YES", "recipient": "61481074190", "sender": "447507222200",
        "last_message": {"message_ref": "ncc5009d", "campaign_id": "bookings"}})
    source = {"type": "SMS", "id": f"src-{n}", "message": "Hi, STOP to opt out", "message_ref": "D301",
              "recipient": "61435795809", "sender": "61481074185"}
    kudosity(c, "/kudosityCallback", "LINK_HIT", "link_hit",
             {"hits": 1, "url": f"https://www.example.com/{n}", "source_message": source})
    kudosity(c, "/kudosityCallback", "OPT_OUT", "opt_out", {"source": "SMS_INBOUND", "source_message": source})
    c.send("/api/v1/kudosityCallback", '{"event_type": "SMS_STATUS", "status": {"id": ', "application/json",
           expect=400)


def sample_path(c, method, template):
    """The template with a value of the right type for each path parameter."""
    path = template
    for (where, name), p in c.spec.parameters(method, template).items():
        if where == "path":
            schema = p.get("schema", {})
            value = "1" if schema.get("type") == "integer" else NO_WEBHOOK if "wh_" in schema.get("pattern", "") else "x"
            path = path.replace("{" + name + "}", value)
    return path


def unauthorized(c):
    """With a token configured: every operation wants it, but the dashboard."""
    for method, template in c.spec.operations():
        want = 401 if "401" in c.spec.operation(method, template)["responses"] else 200
        c.call(method, sample_path(c, method, template), auth=False, expect=want)
    c.call("GET", "/v1/destinations", token="not-the-token", expect=401)


def scenario(c, webhook_url):
    if c.token:
        unauthorized(c)
    c.call("GET", "/", auth=False, expect=200)
    c.call("GET", "/healthz", expect=200)

    # Webhooks first, so that the callbacks below are routed to them too.
    full = c.call("POST", "/v1/webhooks", expect=201, body={
        "name": "OpenAPI check", "url": webhook_url, "allow_http": True, "allow_addresses": "127.0.0.1",
        "event_types": ["SMS_STATUS", "SMS_INBOUND", "OPT_OUT"],
        "filter": {"status": ["delivered", "hard_bounce"], "channel": "sms", "provider": ["kudosity", "smsglobal"],
                   "sender": [], "recipient": [], "message_ref": [], "campaign_id": [], "app_code": []},
        "rate_limit": 100, "transform": "data", "headers": {"X-Check": "openapi"}, "timeout": "3s",
        "retry_schedule": ["0s", "100ms"], "enabled": True}).json
    paused = c.call("POST", "/v1/webhooks", expect=201, body={
        "name": "Paused", "url": "https://hooks.invalid/x", "event_types": "LINK_HIT", "enabled": False}).json
    if not (isinstance(full, dict) and "id" in full and isinstance(paused, dict) and "id" in paused):
        c.fail("could not create the webhooks; the rest of the scenario needs them")
        return
    wid, pid = full["id"], paused["id"]
    c.call("POST", "/v1/webhooks", body={}, expect=422)
    c.call("POST", "/v1/webhooks", body=[1], expect=422)
    c.call("POST", "/v1/webhooks", raw="{oops", expect=400)
    c.call("POST", "/v1/webhooks", expect=422, body={
        "name": "SSRF", "url": "http://10.0.0.1/x", "allow_http": True, "event_types": ["SMS_STATUS"]})

    traffic(c)

    # Destinations, and the jobs the callbacks made.
    dead = c.wait("a dead letter (a destination answering 5xx)",
                  lambda: c.call("GET", "/v1/deliveries?state=dead", expect=200).json)
    c.wait("a delivered job", lambda: c.call("GET", "/v1/deliveries?state=delivered&limit=3", expect=200).json)
    dests = c.wait("a disabled destination (one answering 410)", lambda: [
        d for d in c.call("GET", "/v1/destinations", expect=200).json or [] if d.get("disabled")], timeout=10)
    everyone = c.call("GET", "/v1/destinations", expect=200).json or []
    target = (dests or everyone or [{"name": "none"}])[0]["name"]
    c.call("POST", "/v1/destinations/" + urllib.parse.quote(target, safe="") + "/enable", expect=200)
    c.call("POST", "/v1/destinations/no%20such%20destination/enable", expect=404)
    c.call("GET", "/v1/deliveries", expect=200)
    c.call("GET", "/v1/deliveries?state=pending", expect=200)
    c.call("GET", "/v1/deliveries?state=nonsense", expect=400)
    if dead:
        job, dest, event = dead[0]["id"], dead[0]["destination"], dead[0]["event_id"]
        q = urllib.parse.quote
        c.call("GET", f"/v1/deliveries?state=dead&destination={q(dest)}&event={q(event)}&limit=1", expect=200)
        a = c.call("POST", f"/v1/redrive?job={job}&destination={q(dest)}x", expect=200)
        if a.json and a.json.get("redriven") != []:
            c.fail(f"redrive of job {job} for another destination answered {a.json}")
        a = c.call("POST", f"/v1/redrive?job={job}", expect=200)
        if a.json and a.json.get("redriven") != [job]:
            c.fail(f"redrive of dead job {job} answered {a.json}")
        c.wait(f"`{dest}` to have a dead letter again",
               lambda: c.call("GET", f"/v1/deliveries?destination={q(dest)}", expect=200).json)
        a = c.call("POST", f"/v1/redrive?destination={q(dest)}", expect=200)
        if a.json is not None and not a.json.get("redriven"):
            c.fail(f"redrive of `{dest}` moved nothing")
    c.call("POST", "/v1/redrive", expect=400)
    c.call("POST", "/v1/redrive?job=x", expect=400)
    c.call("POST", "/v1/redrive?job=999999999", expect=200)

    # Plugins, captures, events, replay.
    c.call("GET", "/v1/plugins", expect=200)
    c.call("POST", "/v1/reload", expect=200)
    metrics = c.call("GET", "/metrics", expect=200)
    if not metrics.text.rstrip().endswith("# EOF"):
        c.fail("GET /metrics: the exposition does not end with `# EOF`")
    caps = c.call("GET", "/v1/captures?limit=5", expect=200).json or []
    c.call("GET", "/v1/captures?status=rejected", expect=200)
    c.call("GET", "/v1/captures?plugin=kudosity&status=accepted&limit=2", expect=200)
    if caps:
        c.call("GET", f"/v1/captures?before={caps[0]['id']}&limit=1", expect=200)
    for cap in caps[:3]:
        c.call("GET", f"/v1/captures/{cap['id']}", expect=200)
    c.call("GET", "/v1/captures/abc", expect=400)
    c.call("GET", "/v1/captures/99999999999", expect=404)
    c.call("GET", "/v1/events", expect=200)
    c.call("GET", "/v1/events?provider=kudosity&limit=1000", expect=200)
    if caps:
        c.call("POST", f"/v1/replay?capture={caps[0]['id']}", expect=200)
    c.call("POST", "/v1/replay?status=rejected&limit=5", expect=200)
    c.call("POST", "/v1/replay?plugin=smsglobal&since=0&until=99999999999999&limit=3", expect=200)
    c.call("POST", "/v1/replay?capture=99999999999", expect=200)
    c.call("POST", "/v1/replay", expect=400)
    c.call("POST", "/v1/replay?until=1", expect=400)
    c.call("POST", "/v1/replay?status=all", expect=400)

    # The webhooks: read, change, pause, rotate, test, delete.
    c.call("GET", "/v1/webhooks", expect=200)
    c.call("GET", f"/v1/webhooks/{wid}", expect=200)
    c.call("GET", f"/v1/webhooks/{NO_WEBHOOK}", expect=404)
    c.call("PATCH", f"/v1/webhooks/{wid}", expect=200,
           body={"enabled": False, "transform": {"template": {"to": "{data.to}", "state": "{data.state}"}}})
    c.call("PATCH", f"/v1/webhooks/{wid}", raw="", expect=200)
    c.call("PATCH", f"/v1/webhooks/{wid}", expect=200, body={
        "filter": None, "transform": None, "timeout": None, "retry_schedule": None, "rate_limit": None,
        "enabled": True, "event_types": "SMS_STATUS"})
    c.call("PATCH", f"/v1/webhooks/{wid}", body={"name": "x", "id": "wh_1"}, expect=422)
    c.call("PATCH", f"/v1/webhooks/{wid}", raw="{oops", expect=400)
    c.call("PATCH", f"/v1/webhooks/{NO_WEBHOOK}", body={}, expect=404)
    c.call("POST", f"/v1/webhooks/{wid}/secret", expect=200)
    c.call("POST", f"/v1/webhooks/{wid}/secret", body={"grace": "0s"}, expect=200)
    c.call("POST", f"/v1/webhooks/{wid}/secret", body={"grace": "31d"}, expect=422)
    c.call("POST", f"/v1/webhooks/{NO_WEBHOOK}/secret", expect=404)
    for t in (None, "SMS_INBOUND", "OPT_OUT", "LINK_HIT", "WHATSAPP_STATUS"):
        c.call("POST", f"/v1/webhooks/{wid}/test", body=None if t is None else {"event_type": t}, expect=202)
    c.call("POST", f"/v1/webhooks/{pid}/test", body={"event_type": "MMS_INBOUND"}, expect=202)
    c.call("POST", f"/v1/webhooks/{wid}/test", body={"event_type": "NOPE"}, expect=422)
    c.call("POST", f"/v1/webhooks/{NO_WEBHOOK}/test", expect=404)
    c.wait("the test events delivered to the webhook", lambda: c.call(
        "GET", f"/v1/deliveries?state=delivered&destination={wid}", expect=200).json)
    c.wait("the paused webhook's test event waiting", lambda: c.call(
        "GET", f"/v1/deliveries?state=pending&destination={pid}", expect=200).json)
    c.call("GET", f"/v1/webhooks/{pid}", expect=200)
    c.call("GET", "/v1/webhooks", expect=200)
    c.call("DELETE", f"/v1/webhooks/{pid}", raw="{oops", expect=400)
    gone = c.call("DELETE", f"/v1/webhooks/{pid}", expect=200).json
    if gone and not gone.get("cancelled"):
        c.fail(f"DELETE of the paused webhook cancelled nothing: {gone}")
    c.call("DELETE", f"/v1/webhooks/{pid}", expect=404)
    c.call("GET", f"/v1/webhooks/{pid}", expect=404)
    c.wait("the paused webhook's jobs dead-lettered as cancelled", lambda: c.call(
        "GET", f"/v1/deliveries?destination={pid}", expect=200).json, timeout=10)
    c.call("DELETE", f"/v1/webhooks/{wid}", expect=200)
    c.call("GET", "/v1/webhooks", expect=200)
    c.call("GET", "/v1/destinations", expect=200)

    # Conventions of the document's introduction (no operation of their own).
    c.probe("GET", "/v1/nothing-here", 404)
    c.probe("DELETE", "/v1/destinations", 404)
    c.probe("PUT", "/v1/webhooks", 405)
    c.probe("POST", f"/v1/webhooks/{NO_WEBHOOK}", 405)


# --- coverage and report --------------------------------------------------


def coverage(c):
    for key, statuses in c.calls.items():
        method, template = key
        op = f"{method} {template}"
        ok = sorted({s for s in statuses if 200 <= s < 300})
        if not ok:
            c.fail(f"{op}: documented, never answered 2xx (not exercised)", key)
            continue
        for status in ok:
            _, ptr = c.spec.response(method, template, status)
            schema = c.spec.at(ptr).get("content", {}).get("application/json", {}).get("schema", {})
            if schema.get("type") == "array" and key not in c.nonempty:
                c.fail(f"{op}: only ever answered [] (its items were never checked)", key)
        for where, name in c.spec.parameters(method, template):
            if where == "query" and (method, template, name) not in c.params_sent:
                c.fail(f"{op}: query parameter `{name}` documented, never sent", key)


def report(c):
    head = ("METHOD", "PATH", "CALLS", "STATUSES (status x count)", "RESULT")
    rows = []
    for key in sorted(c.calls, key=lambda k: (k[1], k[0])):
        statuses = c.calls[key]
        seen = " ".join(f"{s}x{statuses.count(s)}" for s in sorted(set(statuses))) or "-"
        rows.append((*key, str(len(statuses)), seen, "FAIL" if key in c.failed_ops else "ok"))
    for method, path, status, ok in c.probes:
        rows.append((method, path, "1", f"{status} (convention, not an operation)", "ok" if ok else "FAIL"))
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    total = sum(len(s) for s in c.calls.values())
    print(f"\n{len(c.calls)} documented operations, {total} calls checked, {len(c.failures)} failure(s)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("spec", help="the OpenAPI document (docs/openapi.yaml)")
    ap.add_argument("admin", help="the admin API's base URL (http://127.0.0.1:8081)")
    ap.add_argument("ingress", help="the ingress base URL (http://127.0.0.1:8080)")
    ap.add_argument("token", nargs="?", help="admin.token, if one is configured")
    ap.add_argument("--webhook-url", default="http://127.0.0.1:9/unreachable",
                    help="where the webhooks it creates deliver (a receiver answering 200)")
    args = ap.parse_args()
    c = Checker(Spec(args.spec), args.admin, args.ingress, args.token)
    try:
        scenario(c, args.webhook_url)
    except Exception:  # a dead router, a bug here: fail with the story so far
        c.fail("the check stopped: " + traceback.format_exc().strip().splitlines()[-1])
        traceback.print_exc()
    coverage(c)
    report(c)
    if c.failures:
        print("\nFAILURES:")
        for f in c.failures:
            print("  - " + f)
        sys.exit(1)


if __name__ == "__main__":
    main()
