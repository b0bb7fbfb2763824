"""Native test harness for Python plugins: runs a plugin's `handle` on raw
HTTP fixture files exactly as the router would (same fixture format, route
matching and public URL rules as `plugins/sdk/src/fixture.rs`, `route.rs`
and `testing.rs`), in plain CPython, no wasm runtime.

Fixture files (`fixtures/*.http`):

    POST /api/v1/smsCallback HTTP/1.1
    Host: hooks.example.com
    Content-Type: application/x-www-form-urlencoded

    MessageSid=SM123&MessageStatus=delivered

Lines may end in CRLF or LF. Without `Content-Length` the body is the rest
of the file minus one trailing newline. Naming convention (as
`switchboard plugin test --check`): `reject-*` must be refused, `ack-*`
accepted (no event needed), every other one accepted with at least one
event or action.

In a plugin's unit tests (`test_*.py` beside `app.py`, plain unittest):

    from switchboard_plugin.testing import Harness
    H = Harness.for_dir(os.path.dirname(__file__))

    class T(unittest.TestCase):
        def test_delivered(self):
            ev, d = H.delivery("status-delivered.http")
            self.assertEqual(d.state, sp.DeliveryState.DELIVERED)

From the command line (what `plugins/build-python.sh --test` runs):

    python -m switchboard_plugin.testing [--check] [--unit] PLUGIN_DIR [FIXTURE...]

prints each fixture's reply and events as JSON (like `switchboard plugin
test`), `--check` fails unless every fixture follows the naming
convention, `--unit` also runs the plugin's `test_*.py`; the last line is
`N passed, N failed`.
"""

import importlib.util
import json
import os
import sys
import unittest

import switchboard_plugin as sp
from componentize_py_types import Err
from switchboard_plugin import wit

#: The router's default route prefix.
DEFAULT_PREFIX = "/api/v1"
#: The arrival time requests get by default (2023-11-14T22:13:20Z).
RECEIVED_AT = 1_700_000_000_000


# ---------------------------------------------------------------- fixtures


class FixtureError(ValueError):
    pass


class Fixture:
    """One parsed request file."""

    def __init__(self, method, target, headers, body):
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body

    @classmethod
    def parse(cls, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        head, rest = _split_head(data)
        try:
            head = head.decode("utf-8")
        except UnicodeDecodeError:
            raise FixtureError("request head is not UTF-8") from None
        lines = head.splitlines()
        if not lines or not lines[0].strip():
            raise FixtureError("empty request")
        parts = lines[0].split()
        if len(parts) < 2:
            raise FixtureError("no request target")
        method, target = parts[0].upper(), parts[1]
        if not target.startswith("/"):
            raise FixtureError(f"request target `{target}` must start with `/`")
        headers = []
        for line in lines[1:]:
            k, sep, v = line.partition(":")
            if not sep:
                raise FixtureError(f"bad header line `{line}`")
            headers.append((k.strip(), v.strip()))
        declared = next((v for k, v in headers if k.lower() == "content-length"), None)
        if declared is not None:
            if not declared.isdigit():
                raise FixtureError(f"bad Content-Length `{declared}`")
            n = int(declared)
            if n > len(rest):
                raise FixtureError(f"Content-Length {n} but only {len(rest)} body bytes")
            body = rest[:n]
        elif rest.endswith(b"\r\n"):
            body = rest[:-2]
        elif rest.endswith(b"\n"):
            body = rest[:-1]
        else:
            body = rest
        return cls(method, target, headers, bytes(body))

    @classmethod
    def load(cls, path):
        with open(path, "rb") as f:
            data = f.read()
        try:
            return cls.parse(data)
        except FixtureError as e:
            raise FixtureError(f"{path}: {e}") from None

    def header(self, name):
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    def path(self):
        return self.target.split("?", 1)[0]

    def query(self):
        return self.target.partition("?")[2]


def _split_head(data):
    i = 0
    while True:
        j = data.find(b"\n", i)
        if j < 0:
            raise FixtureError("no blank line after the headers")
        if data[j + 1 : j + 2] == b"\n":
            return data[:j], data[j + 2 :]
        if data[j + 1 : j + 3] == b"\r\n":
            return data[:j], data[j + 3 :]
        i = j + 1


# ---------------------------------------------------------------- routes


def percent_decode(s):
    """Decodes `%XX` escapes; None if one is malformed or the result is not UTF-8."""
    out = bytearray()
    b = s.encode("utf-8")
    i = 0
    while i < len(b):
        if b[i] == 0x25:
            h = b[i + 1 : i + 3]
            if len(h) != 2:
                return None
            try:
                out.append(int(h, 16))
            except ValueError:
                return None
            i += 3
        else:
            out.append(b[i])
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return None


class RoutePattern:
    """A route such as `/smsCallback/{app_code}`, matched as the host does."""

    def __init__(self, text):
        if not text.startswith("/"):
            raise ValueError(f"route `{text}` must start with `/`")
        self.text = text
        self.segments = []
        for seg in text[1:].split("/"):
            if not seg:
                raise ValueError(f"route `{text}` has an empty segment")
            if seg.startswith("{") and seg.endswith("}"):
                name = seg[1:-1]
                if not name or not all(c.isascii() and (c.islower() or c.isdigit() or c == "_") for c in name):
                    raise ValueError(f"route `{text}`: bad capture name `{name}`")
                self.segments.append((True, name))
            elif any(c in seg for c in "{}?#%"):
                raise ValueError(f"route `{text}`: segment `{seg}` mixes text and a capture")
            else:
                self.segments.append((False, seg))

    def matches(self, path):
        """The captures as pairs, or None when the path does not match."""
        if not path.startswith("/"):
            return None
        parts = path[1:].split("/")
        caps = []
        for i, (capture, text) in enumerate(self.segments):
            if i >= len(parts):
                return None
            part = parts[i]
            if not capture:
                if part != text:
                    return None
                continue
            value = percent_decode(part)
            if value is None or value in ("", ".", "..") or any(c in value for c in "/\\\0"):
                return None
            caps.append((text, value))
        rest = parts[len(self.segments) :]
        if rest and rest != [""]:
            return None
        return caps


def request_for(plugin, fixture, received_at=RECEIVED_AT, prefix=DEFAULT_PREFIX):
    """The contract request for `fixture` as served under `prefix` by a router
    whose public URL is `https://<Host header>`; `FixtureError` if no route
    of the plugin serves it."""
    try:
        method = wit.Method[fixture.method]
    except KeyError:
        raise FixtureError(f"unsupported method {fixture.method}") from None
    path = fixture.path()
    if not path.startswith(prefix + "/"):
        raise FixtureError(f"path `{path}` is not under {prefix}")
    rel = path[len(prefix) :]
    info = plugin.describe()
    for r in info.routes:
        if method not in r.methods:
            continue
        caps = RoutePattern(r.path).matches(rel)
        if caps is not None:
            break
    else:
        raise FixtureError(f"no route of `{info.name}` serves {fixture.method} {rel}")
    host = fixture.header("host") or "hooks.example.com"
    return wit.HttpRequest(
        method=method,
        url=f"https://{host}{fixture.target}",
        path=rel,
        query=fixture.query(),
        headers=[(k.lower(), v) for k, v in fixture.headers],
        body=fixture.body,
        params=caps,
        route=r.path,
        received_at=received_at,
        remote_addr="127.0.0.1",
    )


# ---------------------------------------------------------------- plugins


def load_plugin(plugin_dir):
    """Imports `<plugin_dir>/app.py` and returns an instance of its exported
    `Plugin` class (what the component exports)."""
    plugin_dir = os.path.abspath(plugin_dir)
    if plugin_dir not in sys.path:
        sys.path.insert(0, plugin_dir)
    name = "switchboard_app_" + "".join(c if c.isalnum() else "_" for c in os.path.basename(plugin_dir))
    mod = sys.modules.get(name)
    if mod is None:
        spec = importlib.util.spec_from_file_location(name, os.path.join(plugin_dir, "app.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    cls = getattr(mod, "Plugin", None)
    if cls is None:
        raise ImportError(f"{plugin_dir}/app.py has no `Plugin` (use `Plugin = switchboard_plugin.export(MyPlugin)`)")
    return cls()


def _instance(plugin):
    return plugin() if isinstance(plugin, type) else plugin


def call(plugin, req, config=()):
    """Calls the exported `handle` on a contract request; returns the
    `Outcome` or raises the SDK's `PluginError` for a refusal."""
    plugin = _instance(plugin)
    try:
        return plugin.handle(req, wit.Context(config=[(k, v) for k, v in config]))
    except Err as e:
        raise sp.error_from_wit(e.value) from None


def run(plugin, fixture, config=(), received_at=RECEIVED_AT):
    """Runs fixture text or bytes (or a `Fixture`) through the plugin."""
    plugin = _instance(plugin)
    fx = fixture if isinstance(fixture, Fixture) else Fixture.parse(fixture)
    return call(plugin, request_for(plugin, fx, received_at), config)


def _parse_flat_toml(text):
    out = []
    lines = iter(text.splitlines())
    for line in lines:
        if line.lstrip().startswith("#") or "=" not in line:
            continue
        k, _, v = line.partition("=")
        v = v.strip()
        if v == '"""':
            block = []
            for more in lines:
                if more.strip() == '"""':
                    break
                block.append(more)
            value = "\n".join(block)
        else:
            value = v.strip('"')
        out.append((k.strip(), value))
    return out


def fixture_config(plugin_dir):
    """The settings of `<plugin_dir>/fixtures/config.toml` (a flat table of
    strings), or none if there is no such file."""
    path = os.path.join(plugin_dir, "fixtures", "config.toml")
    try:
        with open(path, encoding="utf-8") as f:
            return _parse_flat_toml(f.read())
    except FileNotFoundError:
        return []


def fixture_names(plugin_dir):
    d = os.path.join(plugin_dir, "fixtures")
    return sorted(n for n in os.listdir(d) if n.endswith(".http"))


def convention_problem(name, result):
    """Why a fixture's result breaks the naming convention, or None.
    `result` is an `Outcome` or a `PluginError`."""
    refused = isinstance(result, sp.PluginError)
    if name.startswith("reject-"):
        return None if refused else "was accepted"
    if refused:
        return f"was refused: {type(result).__name__}: {result.message}"
    if not name.startswith("ack-") and not result.events and not result.actions:
        return "gave no event (name it `ack-*` if that is right)"
    return None


def check_fixtures(plugin, plugin_dir, config=None, received_at=RECEIVED_AT):
    """Runs every `fixtures/*.http` through the plugin with
    `fixtures/config.toml` (or `config`) and raises `AssertionError` unless
    all follow the naming convention. Returns the number of fixtures."""
    plugin = _instance(plugin)
    cfg = fixture_config(plugin_dir) if config is None else list(config)
    names = fixture_names(plugin_dir)
    problems = []
    for name in names:
        fx = Fixture.load(os.path.join(plugin_dir, "fixtures", name))
        try:
            result = run(plugin, fx, cfg, received_at)
        except sp.PluginError as e:
            result = e
        problem = convention_problem(name, result)
        if problem:
            problems.append(f"{name} {problem}")
    if problems:
        raise AssertionError("; ".join(problems))
    return len(names)


def serve_certificate(url, pem):
    """Makes `switchboard_plugin.fetch_certificate(url)` answer `pem` natively."""
    sp._certificates[url] = pem


def extra(ev, key):
    """The value of `key` in an event's `extra` (the first), or None."""
    return next((v for k, v in ev.extra if k == key), None)


def has_extra(ev, key, value):
    return any(k == key and v == value for k, v in ev.extra)


def delivery_status(ev):
    """The delivery status an event carries; AssertionError for another kind."""
    if not isinstance(ev.kind, wit.EventKind_DeliveryStatus):
        raise AssertionError(f"event `{ev.id}` is not a delivery status: {ev.kind!r}")
    return ev.kind.value


def inbound_message(ev):
    """The inbound message an event carries; AssertionError for another kind."""
    if not isinstance(ev.kind, wit.EventKind_InboundMessage):
        raise AssertionError(f"event `{ev.id}` is not an inbound message: {ev.kind!r}")
    return ev.kind.value


class Harness:
    """One plugin under test with its config and the reply it owes every
    accepted callback (`reply=(status, body)`), or None when it leaves the
    reply to the host's default (`accept_reply`)."""

    def __init__(self, plugin, plugin_dir, config=None, reply=None):
        self.plugin = _instance(plugin)
        self.plugin_dir = plugin_dir
        self.config = fixture_config(plugin_dir) if config is None else list(config)
        self.reply = reply

    @classmethod
    def for_dir(cls, plugin_dir, config=None, reply=None):
        return cls(load_plugin(plugin_dir), plugin_dir, config, reply)

    def fixture(self, name):
        with open(os.path.join(self.plugin_dir, "fixtures", name), "rb") as f:
            return f.read()

    def run(self, fixture, received_at=RECEIVED_AT):
        """Outcome, or raises the `PluginError` (for `reject-*` checks)."""
        return run(self.plugin, fixture, self.config, received_at)

    def refusal(self, fixture):
        """The `PluginError` a fixture (text or name) is refused with."""
        if isinstance(fixture, str) and fixture.endswith(".http"):
            fixture = self.fixture(fixture)
        try:
            out = self.run(fixture)
        except sp.PluginError as e:
            return e
        raise AssertionError(f"accepted: {out!r}")

    def outcome(self, fixture):
        """Runs fixture text; asserts it is accepted with the expected reply."""
        try:
            out = self.run(fixture)
        except sp.PluginError as e:
            raise AssertionError(f"refused: {type(e).__name__}: {e.message}") from None
        got = (out.reply.status, bytes(out.reply.body)) if out.reply is not None else None
        want = None if self.reply is None else (self.reply[0], sp._bytes(self.reply[1]))
        if got != want:
            raise AssertionError(f"reply {got!r}, want {want!r}")
        return out

    def events(self, name):
        return self.outcome(self.fixture(name)).events

    def one(self, fixture):
        events = self.outcome(fixture).events
        if len(events) != 1:
            raise AssertionError(f"want one event: {events!r}")
        return events[0]

    def delivery_of(self, fixture):
        ev = self.one(fixture)
        return ev, delivery_status(ev)

    def delivery(self, name):
        return self.delivery_of(self.fixture(name))

    def inbound(self, name):
        ev = self.one(self.fixture(name))
        return ev, inbound_message(ev)

    def check_fixtures(self, received_at=RECEIVED_AT):
        return check_fixtures(self.plugin, self.plugin_dir, self.config, received_at)


# ---------------------------------------------------------------- output


_STATUS = {"BadRequest": (400, "bad-request"), "Unauthorized": (403, "unauthorized"),
           "Unsupported": (422, "unsupported"), "Internal": (500, "internal")}


def _enum(e):
    return e.name.lower()


def kind_json(kind):
    """An event kind as JSON-ready data (field names as in the WIT)."""
    name = type(kind).__name__.split("_", 1)[1]
    rec = kind.value
    out = {}
    for field, value in vars(rec).items():
        key = field.rstrip("_").replace("_", "-")
        if hasattr(value, "name") and hasattr(value, "value") and not isinstance(value, (str, int)):
            value = _enum(value)
        elif isinstance(value, list):
            value = [vars(m) for m in value]
        out[key] = value
    kebab = "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")
    return {kebab: out}


def result_json(path, plugin, config):
    """One fixture's result as `switchboard plugin test` prints it (close)."""
    try:
        fx = Fixture.load(path)
        req = request_for(plugin, fx)
    except FixtureError as e:
        return {"fixture": path, "error": str(e)}
    try:
        out = call(plugin, req, config)
    except sp.PluginError as e:
        status, kind = _STATUS.get(type(e).__name__, (500, "internal"))
        return {"fixture": path, "route": req.route, "reply": {"status": status},
                "refused": {"kind": kind, "reason": e.message}, "events": []}
    reply = {"status": 200}
    if out.reply is not None:
        reply = {"status": out.reply.status, "headers": out.reply.headers,
                 "body": bytes(out.reply.body).decode("utf-8", "replace")}
    events = [{"id": ev.id, "kind": kind_json(ev.kind), "extra": ev.extra} for ev in out.events]
    actions = [{"confirm-subscription": vars(a.value)} for a in out.actions]
    return {"fixture": path, "route": req.route, "reply": reply, "events": events, "actions": actions}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in argv
    unit = "--unit" in argv
    quiet = "--quiet" in argv
    args = [a for a in argv if not a.startswith("--")]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    plugin_dir, fixtures = args[0], args[1:]
    plugin = load_plugin(plugin_dir)
    if not fixtures:
        fixtures = [os.path.join(plugin_dir, "fixtures", n) for n in fixture_names(plugin_dir)]
    config = fixture_config(plugin_dir)
    passed = failed = 0
    results = []
    for path in fixtures:
        res = result_json(path, plugin, config)
        results.append(res)
        if check:
            name = os.path.basename(path)
            if "error" in res:
                problem = res["error"]
            else:
                try:
                    result = run(plugin, Fixture.load(path), config)
                except sp.PluginError as e:
                    result = e
                problem = convention_problem(name, result)
            if problem:
                failed += 1
                print(f"FAIL fixture {name}: {problem}", file=sys.stderr)
            else:
                passed += 1
    if not quiet:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    if unit:
        suite = unittest.defaultTestLoader.discover(plugin_dir, pattern="test_*.py", top_level_dir=plugin_dir)
        res = unittest.TextTestRunner(stream=sys.stderr, verbosity=1).run(suite)
        bad = len(res.failures) + len(res.errors)
        failed += bad
        passed += res.testsRun - bad
    if check or unit:
        print(f"{os.path.basename(os.path.abspath(plugin_dir))}: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
