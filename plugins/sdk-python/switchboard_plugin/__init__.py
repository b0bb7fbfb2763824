"""Switchboard plugin SDK for Python: what `plugins/sdk` (Rust) does for
plugin authors, for plugins built with componentize-py.

A plugin is a module (`app.py`) with a class that has `describe()` and
`handle(req, config)`, exported under the name componentize-py looks for:

    import switchboard_plugin as sp

    class MyProvider:
        def describe(self):
            return sp.plugin_info("myprovider", "0.1.0", "...", routes=[...])

        def handle(self, req: sp.Request, config: sp.Config) -> sp.Outcome:
            p = sp.fields(req)
            ...
            raise sp.BadRequest("missing field `id`")   # -> 400, kept

    Plugin = sp.export(MyProvider)

`handle` is a pure function of the request and the config: no clock (use
`req.received_at`), no network, no files. Raising `BadRequest`,
`Unauthorized`, `Unsupported` or `Internal` refuses the callback as the
WIT's `plugin-error` does; any other exception traps, like a Rust panic
(the host quarantines the capture and answers the plugin's accept reply).

Helpers, by Rust SDK module:
  request  Request (header, param, query, form, params, json, text),
           Params (get, get_ci, get_any, require, opt, extra), Config
  fields   fields, records, flatten, scalars, json_field, json_text,
           Picker, stable_id, short_hash
  status   map_status, is_no_error
  sign     hmac_sha1, hmac_sha256, sha256_hex, constant_time_eq,
           verify_hex, verify_base64, b64encode, b64decode
  time     parse_datetime, parse_offset, utc_offset
  build    route, config_key, plugin_info, reply, reply_text, reply_with,
           outcome, event, delivery_status, inbound_message, media
  testing  switchboard_plugin.testing: fixtures and a native harness

Inside the component only the modules imported when it was built exist:
componentize-py snapshots the interpreter after importing `app`, and a
module first imported while handling a request fails with
ModuleNotFoundError (`datetime`, `urllib`, `xml`, codecs such as
`cp1251`, ...). Import what you use at the top of `app.py`; this module
imports and warms up what its own helpers need (`warm_up`).

The WIT types come from the bindings componentize-py generates
(`wit_world`); natively (unit tests) the same generated files are imported
from the bindings directory `plugins/build-python.sh` writes.
"""

import base64 as _base64
import binascii as _binascii
import codecs as _codecs
import hashlib as _hashlib
import hmac as _hmac
import json as _json
import sys as _sys
import warnings as _warnings  # noqa: F401  hmac's pure-Python path imports it lazily

from componentize_py_types import Err as _Err
from wit_world import exports as _exports
from wit_world.imports import host as _host
from wit_world.imports import types as wit

# The contract's types under short names.
Method = wit.Method
DeliveryState = wit.DeliveryState
Channel = wit.Channel
Route = wit.Route
ConfigKey = wit.ConfigKey
PluginInfo = wit.PluginInfo
HttpRequest = wit.HttpRequest
HttpResponse = wit.HttpResponse
DeliveryStatus = wit.DeliveryStatus
InboundMessage = wit.InboundMessage
Media = wit.Media
OptOut = wit.OptOut
LinkHit = wit.LinkHit
Subscription = wit.Subscription
Event = wit.Event
Outcome = wit.Outcome
LogLevel = _host.LogLevel

#: True inside the component (componentize-py's CPython targets WASI).
IN_WASM = _sys.platform == "wasi"


# ---------------------------------------------------------------- errors


class PluginError(Exception):
    """A refused callback; subclasses map to the WIT `plugin-error` cases."""

    status = 500

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    def to_wit(self):
        raise NotImplementedError


class BadRequest(PluginError):
    """Malformed or incomplete request: 400, the capture kept as rejected."""

    status = 400

    def to_wit(self):
        return wit.PluginError_BadRequest(self.message)


class Unauthorized(PluginError):
    """Missing or invalid signature or credentials: 403."""

    status = 403

    def to_wit(self):
        return wit.PluginError_Unauthorized(self.message)


class Unsupported(PluginError):
    """Well-formed but not something this plugin handles: 422."""

    status = 422

    def to_wit(self):
        return wit.PluginError_Unsupported(self.message)


class Internal(PluginError):
    """The plugin itself failed: 500, the capture quarantined for replay."""

    def to_wit(self):
        return wit.PluginError_Internal(self.message)


def error_from_wit(err):
    """The SDK exception for a WIT `plugin-error` value."""
    for cls, wcls in (
        (BadRequest, wit.PluginError_BadRequest),
        (Unauthorized, wit.PluginError_Unauthorized),
        (Unsupported, wit.PluginError_Unsupported),
        (Internal, wit.PluginError_Internal),
    ):
        if isinstance(err, wcls):
            return cls(err.value)
    return Internal(repr(err))


# ---------------------------------------------------------------- export


def run(impl, raw_req, ctx):
    """Runs `impl.handle` on the raw contract values; what the export glue
    and the native harness both call. Returns an `Outcome` or raises a
    `PluginError`."""
    out = impl.handle(Request(raw_req), Config(ctx.config))
    if not isinstance(out, wit.Outcome):
        raise TypeError(f"handle() returned {type(out).__name__}, want an Outcome")
    return out


def export(cls):
    """The class componentize-py instantiates for the exported `plugin`
    interface: assign it to the module-level name `Plugin` of the app."""
    impl = cls()

    class Plugin(_exports.Plugin):
        plugin = impl

        def describe(self):
            return impl.describe()

        def handle(self, req, ctx):
            try:
                return run(impl, req, ctx)
            except PluginError as e:
                raise _Err(e.to_wit())

    Plugin.__name__ = Plugin.__qualname__ = "Plugin"
    return Plugin


# ---------------------------------------------------------------- host


def log(level, message):
    """Logs through the host (tagged with plugin name and capture id there);
    natively prints to stderr. `level` is a `LogLevel` or its name."""
    if isinstance(level, str):
        level = LogLevel[level.upper()]
    if IN_WASM:
        _host.log(level, message)
    else:
        print(f"[{level.name.lower()}] {message}", file=_sys.stderr)


_certificates = {}


def fetch_certificate(url):
    """A provider's signing certificate (PEM) by URL, fetched and cached by
    the host (see `fetch-certificate` in the WIT). Raises `Internal` when
    the host could not fetch it. Natively it answers from
    `testing.serve_certificate`."""
    if IN_WASM:
        try:
            return _host.fetch_certificate(url)
        except _Err as e:
            raise Internal(f"certificate {url}: {e.value}") from None
    if url in _certificates:
        return _certificates[url]
    raise Internal(f"no certificate served for {url} (testing.serve_certificate)")


# ---------------------------------------------------------------- request


def unescape_form(data):
    """One form-encoded name or value (bytes) to its bytes: `+` is a space,
    `%XX` a byte; malformed escapes are kept as written."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c == 0x25 and i + 2 < n and _is_hex(data[i + 1]) and _is_hex(data[i + 2]):
            out.append(int(data[i + 1 : i + 3], 16))
            i += 3
            continue
        out.append(0x20 if c == 0x2B else c)
        i += 1
    return bytes(out)


def _is_hex(c):
    return 0x30 <= c <= 0x39 or 0x41 <= c <= 0x46 or 0x61 <= c <= 0x66


def _decode(raw, charset):
    cs = (charset or "utf-8").strip().lower()
    try:
        return raw.decode(cs, "replace")
    except LookupError:
        return raw.decode("utf-8", "replace")


class Params:
    """Ordered name/value pairs (query string, form body, flattened JSON).
    Lookups return the last value of a name, as the Rust SDK does."""

    __slots__ = ("pairs",)

    def __init__(self, pairs=()):
        self.pairs = [(str(k), str(v)) for k, v in pairs]

    @classmethod
    def parse(cls, data, charset=None):
        """Parses `a=1&b=2` (form encoding, escapes decoded in `charset`,
        UTF-8 by default; invalid bytes become U+FFFD)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        pairs = []
        for part in data.split(b"&"):
            if not part:
                continue
            k, _, v = part.partition(b"=")
            pairs.append((_decode(unescape_form(k), charset), _decode(unescape_form(v), charset)))
        return cls(pairs)

    @classmethod
    def from_json(cls, value):
        """The top-level scalar fields of a JSON object (numbers and booleans
        as JSON text, null and containers left out)."""
        pairs = []
        if isinstance(value, dict):
            for k, v in value.items():
                s = json_scalar(v)
                if s is not None:
                    pairs.append((k, s))
        return cls(pairs)

    def get(self, name, default=None):
        for k, v in reversed(self.pairs):
            if k == name:
                return v
        return default

    def get_ci(self, name):
        low = name.lower()
        for k, v in reversed(self.pairs):
            if k.lower() == low:
                return v
        return None

    def get_any(self, names):
        """The first non-empty value among several names (case ignored)."""
        for n in names:
            v = self.get_ci(n)
            if v:
                return v
        return None

    def require(self, name):
        """A non-empty value, or `BadRequest` naming the missing field."""
        v = self.get(name)
        if not v:
            raise BadRequest(f"missing field `{name}`")
        return v

    def opt(self, name):
        """A non-empty trimmed value, or None."""
        v = self.get(name)
        v = v.strip() if v is not None else None
        return v or None

    def extra(self, known):
        """Pairs whose names are not in `known`: the provider's extra fields."""
        known = set(known)
        return [(k, v) for k, v in self.pairs if k not in known]

    def __iter__(self):
        return iter(self.pairs)

    def __len__(self):
        return len(self.pairs)

    def __contains__(self, name):
        return any(k == name for k, _ in self.pairs)

    def __eq__(self, other):
        return isinstance(other, Params) and self.pairs == other.pairs

    def __repr__(self):
        return f"Params({self.pairs!r})"


class Config:
    """The plugin's settings from `[plugins.<name>]`."""

    def __init__(self, pairs=()):
        self.pairs = list(pairs)

    def get(self, key, default=None):
        for k, v in self.pairs:
            if k == key:
                return v
        return default

    def require(self, key):
        """A value, or `Internal`: the host checks required keys at start-up,
        so a missing one is a host misconfiguration."""
        v = self.get(key)
        if v is None:
            raise Internal(f"config key `{key}` is not set")
        return v

    def flag(self, key, default=False):
        v = self.get(key)
        if v is None:
            return default
        return v.lower() in ("true", "1", "yes")


class Request:
    """One callback, with helpers for the places providers put their fields.
    Query, form and merged parameters are parsed once, on first use."""

    def __init__(self, raw):
        self.raw = raw
        self._query = self._form = self._params = None

    method = property(lambda self: self.raw.method)
    url = property(lambda self: self.raw.url, doc="The public URL called (what signatures cover).")
    path = property(lambda self: self.raw.path)
    route = property(lambda self: self.raw.route)
    body = property(lambda self: bytes(self.raw.body))
    received_at = property(lambda self: self.raw.received_at, doc="Arrival, ms since the epoch.")
    remote_addr = property(lambda self: self.raw.remote_addr)

    @property
    def is_get(self):
        return self.raw.method == Method.GET

    def header(self, name, default=None):
        """First header with this name (case-insensitive)."""
        low = name.lower()
        for k, v in self.raw.headers:
            if k.lower() == low:
                return v
        return default

    def headers(self, name):
        """Every value of a header, in arrival order."""
        low = name.lower()
        return [v for k, v in self.raw.headers if k.lower() == low]

    def param(self, name, default=None):
        """A route capture such as `app_code`."""
        for k, v in self.raw.params:
            if k == name:
                return v
        return default

    @property
    def app_code(self):
        return self.param("app_code")

    def content_type(self):
        """The media type of the body, lower-cased, without parameters."""
        v = self.header("content-type") or ""
        return v.split(";", 1)[0].strip().lower()

    def charset(self):
        """The `charset` parameter of `Content-Type`, lower-cased, or None."""
        v = self.header("content-type") or ""
        for p in v.split(";")[1:]:
            k, _, val = p.partition("=")
            if k.strip().lower() == "charset":
                return val.strip().strip('"').lower()
        return None

    def query(self):
        if self._query is None:
            self._query = Params.parse(self.raw.query.encode("utf-8"))
        return self._query

    def form(self):
        """The body as `application/x-www-form-urlencoded` parameters,
        decoded in the `charset` of its `Content-Type` (UTF-8 when none)."""
        if self._form is None:
            self._form = Params.parse(self.body, self.charset())
        return self._form

    def params(self):
        """The query, then the form body for POST (body wins on lookup)."""
        if self._params is None:
            p = Params(self.query().pairs)
            if not self.is_get and not self.looks_like_json():
                p.pairs.extend(self.form().pairs)
            self._params = p
        return self._params

    def looks_like_json(self):
        """True when the body is JSON by content type or by its first byte."""
        if self.content_type().endswith("json"):
            return True
        first = self.body.lstrip()[:1]
        return first in (b"{", b"[")

    def json(self):
        """The body parsed as JSON; `BadRequest` when it is not."""
        try:
            return _json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise BadRequest(f"invalid JSON body: {e}") from None

    def text(self):
        """The body as UTF-8 text; `BadRequest` when it is not."""
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("body is not valid UTF-8") from None

    def decoded_text(self):
        """The body in the charset of its `Content-Type`, invalid bytes as U+FFFD."""
        return _decode(self.body, self.charset())


# ---------------------------------------------------------------- fields


def json_scalar(v):
    """The text of a JSON scalar: strings as they are, numbers and booleans
    as JSON writes them, None for null and containers."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return _json.dumps(v)
    return None


def json_text(v):
    """A JSON value as compact JSON text (what serde_json writes, except
    that floats are written as Python writes them)."""
    return _json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def json_field(obj, key):
    """A trimmed, non-empty scalar field of a JSON object as text, or None."""
    if not isinstance(obj, dict):
        return None
    s = json_scalar(obj.get(key))
    s = s.strip() if s is not None else None
    return s or None


def _with_object(base, obj):
    p = Params(base.pairs)
    for k, v in obj.items():
        s = json_scalar(v)
        if s is not None:
            p.pairs.append((k, s))
        elif v is not None:
            p.pairs.append((k, json_text(v)))
    return p


def fields(req):
    """The callback's fields wherever the provider put them: the query (GET),
    the query then a form body (POST), or the query then a JSON object body
    (scalars as text, nested values as JSON text, nulls left out)."""
    if req.is_get or not req.looks_like_json():
        return Params(req.params().pairs)
    obj = req.json()
    if not isinstance(obj, dict):
        raise BadRequest("JSON body is not an object")
    return _with_object(req.query(), obj)


def records(req):
    """Like `fields`, but a JSON array body is a batch: one `Params` per
    object (each with the query's fields too); an empty array or an item
    that is not an object is `BadRequest`."""
    if req.is_get or not req.looks_like_json():
        return [fields(req)]
    body = req.json()
    if not isinstance(body, list):
        return [fields(req)]
    if not body:
        raise BadRequest("empty JSON array")
    out = []
    for i, item in enumerate(body):
        if not isinstance(item, dict):
            raise BadRequest(f"JSON array item {i} is not an object")
        out.append(_with_object(req.query(), item))
    return out


def json_items(req):
    """The JSON body as a list of objects: an array of objects (a batch) or
    one object. `BadRequest` for anything else, an empty array included."""
    body = req.json()
    if isinstance(body, dict):
        return [body]
    if not isinstance(body, list):
        raise BadRequest("JSON body is neither an object nor an array")
    if not body:
        raise BadRequest("empty JSON array")
    for i, item in enumerate(body):
        if not isinstance(item, dict):
            raise BadRequest(f"JSON array item {i} is not an object")
    return body


def flatten(prefix, v, skip=(), out=None):
    """Nested JSON as `prefix.a.b` = scalar pairs appended to `out` (arrays
    as JSON text, nulls left out), skipping the dotted paths in `skip` and
    everything under them. Returns `out`."""
    if out is None:
        out = []
    if isinstance(v, dict):
        for k, child in v.items():
            path = f"{prefix}.{k}" if prefix else k
            if path not in skip:
                flatten(path, child, skip, out)
    elif isinstance(v, list):
        out.append((prefix, json_text(v)))
    else:
        s = json_scalar(v)
        if s is not None:
            out.append((prefix, s))
    return out


def scalars(prefix, v):
    """Every scalar of a JSON value under its dotted path below `prefix`,
    array items by index (`media.0.url`); nulls and empty containers give
    nothing."""
    out = []

    def walk(v, path):
        join = (lambda k: f"{path}.{k}") if path else (lambda k: str(k))
        if isinstance(v, dict):
            for k, c in v.items():
                walk(c, join(k))
        elif isinstance(v, list):
            for i, c in enumerate(v):
                walk(c, join(i))
        else:
            s = json_scalar(v)
            if s is not None:
                out.append((path, s))

    walk(v, prefix)
    return out


class Picker:
    """Picks fields by any of their usual names and remembers which ones it
    used, so that everything else can go to `extra`."""

    def __init__(self, params):
        self.params = params
        self.used = []

    def _find(self, names, nonempty):
        for name in names:
            low = name.lower()
            for k, v in reversed(self.params.pairs):
                if k.lower() == low and (not nonempty or v.strip()):
                    self.used.append(k)
                    return v
        return None

    def pick(self, names):
        """The first non-empty (trimmed) value among `names` (case ignored)."""
        v = self._find(names, True)
        return v.strip() if v is not None else None

    def pick_raw(self, names):
        """Like `pick`, but the value as it is, even empty (message text)."""
        return self._find(names, False)

    def unpick(self):
        """Returns the last picked field to `extra`."""
        if self.used:
            self.used.pop()

    def has(self, names):
        return any(self.params.get_ci(n) is not None for n in names)

    def extra(self):
        """Every field not used, in arrival order."""
        out, skipped = [], set()
        for k, v in reversed(self.params.pairs):
            if k in self.used and k not in skipped:
                skipped.add(k)
                continue
            out.append((k, v))
        out.reverse()
        return out


_M64 = (1 << 64) - 1


def stable_id(parts):
    """A stable id from the fields that identify an event whose provider
    sends none: the same 24 hex digits as the Rust SDK's `stable_id`."""
    a, b = 0xCBF29CE484222325, 0x84222325CBF29CE4
    prime = 0x00000100000001B3
    for i, part in enumerate(parts):
        for byte in part.encode("utf-8") + bytes([(0xFF - (i & 0xFF)) & 0xFF]):
            a = ((a ^ byte) * prime) & _M64
            b = ((b ^ byte) * prime) & _M64
            b = ((b << 5) | (b >> 59)) & _M64
    return f"{a >> 16:012x}{b >> 16:012x}"


def short_hash(parts):
    """The first 24 hex digits of SHA-256 of the parts joined by newlines."""
    return sha256_hex("\n".join(parts).encode("utf-8"))[:24]


# ---------------------------------------------------------------- status


def map_status(table, raw):
    """Looks a provider status up in `table` (a dict or pairs of provider
    status -> DeliveryState), ignoring case and surrounding whitespace;
    `DeliveryState.UNKNOWN` for anything not in it (keep the raw one)."""
    raw = (raw or "").strip().lower()
    items = table.items() if isinstance(table, dict) else table
    for k, state in items:
        if k.lower() == raw:
            return state
    return DeliveryState.UNKNOWN


def is_no_error(code):
    """True for an error code that means "no error": empty, `0`, `000`."""
    return all(c == "0" for c in str(code).strip())


FINAL_STATES = frozenset(
    (
        DeliveryState.DELIVERED,
        DeliveryState.READ,
        DeliveryState.UNDELIVERED,
        DeliveryState.FAILED,
        DeliveryState.EXPIRED,
    )
)


def is_final(state):
    """Final states never regress."""
    return state in FINAL_STATES


# ---------------------------------------------------------------- sign


def _bytes(x):
    return x.encode("utf-8") if isinstance(x, str) else bytes(x)


def hmac_sha1(key, msg):
    return _hmac.new(_bytes(key), _bytes(msg), _hashlib.sha1).digest()


def hmac_sha256(key, msg):
    return _hmac.new(_bytes(key), _bytes(msg), _hashlib.sha256).digest()


def sha256_hex(data):
    return _hashlib.sha256(_bytes(data)).hexdigest()


def b64encode(data):
    return _base64.b64encode(_bytes(data)).decode("ascii")


def b64decode(text):
    """Standard base64 to bytes, or None when it is not base64."""
    try:
        return _base64.b64decode(text.strip(), validate=True)
    except (_binascii.Error, ValueError):
        return None


def constant_time_eq(a, b):
    """Equality of two byte strings in time independent of where they differ."""
    return _hmac.compare_digest(_bytes(a), _bytes(b))


def verify_hex(received, expected):
    """A received hex signature (any case) against the expected bytes."""
    try:
        got = bytes.fromhex(received.strip())
    except ValueError:
        return False
    return constant_time_eq(got, expected)


def verify_base64(received, expected):
    """A received base64 signature against the expected bytes."""
    got = b64decode(received)
    return got is not None and constant_time_eq(got, expected)


# ---------------------------------------------------------------- time


def _days_from_civil(y, m, d):
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def unix_ms(y, mo, d, h, mi, s, offset_minutes=0):
    """Milliseconds since the epoch for a civil date-time at a UTC offset."""
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59 and s <= 60):
        return None
    days = _days_from_civil(y, mo, d)
    return (days * 86400 + h * 3600 + mi * 60 + s - offset_minutes * 60) * 1000


def _digits(s):
    return int(s) if s and s.isascii() and s.isdigit() else None


def parse_datetime(s, default_offset_minutes=0):
    """Parses `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|+HH:MM|+HHMM]` to ms since
    the epoch; a string without a zone is at `default_offset_minutes`.
    None for anything else (never an exception)."""
    if not isinstance(s, str):
        return None
    b = s.strip()
    if len(b) < 19 or not b.isascii() or b[10] not in "Tt " or b[4] != "-" or b[7] != "-":
        return None
    if b[13] != ":" or b[16] != ":":
        return None
    nums = [_digits(b[i:j]) for i, j in ((0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19))]
    if any(n is None for n in nums):
        return None
    rest, millis = b[19:], 0
    if rest.startswith("."):
        n = 1
        while n < len(rest) and rest[n].isdigit():
            n += 1
        millis = int((rest[1:n] + "000")[:3])
        rest = rest[n:]
    if rest == "":
        offset = default_offset_minutes
    elif rest in ("Z", "z"):
        offset = 0
    elif rest[0] in "+-":
        zone = rest[1:]
        if len(zone) == 5 and zone[2] == ":":
            zone = zone[:2] + zone[3:]
        if len(zone) != 4 or _digits(zone) is None:
            return None
        offset = int(zone[:2]) * 60 + int(zone[2:])
        offset = -offset if rest[0] == "-" else offset
    else:
        return None
    ms = unix_ms(*nums, offset)
    return None if ms is None else ms + millis


def parse_offset(v):
    """A UTC offset in minutes east of UTC: `+10:00`, `-0530`, `+3`, `Z`,
    `UTC` (and empty) for 0; None for anything else."""
    v = (v or "").strip()
    if v.lower() in ("", "z", "utc"):
        return 0
    sign = -1 if v[0] == "-" else 1
    rest = v[1:] if v[0] in "+-" else v
    d = rest.replace(":", "")
    if len(d) in (1, 2) and _digits(d) is not None:
        h, m = int(d), 0
    elif len(d) == 4 and _digits(d) is not None:
        h, m = int(d[:2]), int(d[2:])
    else:
        return None
    return sign * (h * 60 + m) if h <= 14 and m < 60 else None


def utc_offset(config, default=0):
    """The plugin's `utc_offset` setting in minutes, `default` when unset;
    `Internal` when it is not an offset (a configuration mistake)."""
    v = config.get("utc_offset")
    if v is None:
        return default
    off = parse_offset(v)
    if off is None:
        raise Internal(f"config `utc_offset` = `{v}` is not an offset like +03:00")
    return off


# ---------------------------------------------------------------- build


def _method(m):
    return m if isinstance(m, Method) else Method[str(m).upper()]


def route(methods, path, description=""):
    """A route: `route(["POST"], "/cb/{app_code}", "inbound")`."""
    if isinstance(methods, (str, Method)):
        methods = [methods]
    return Route(methods=[_method(m) for m in methods], path=path, description=description)


def config_key(name, required=False, secret=False, description=""):
    return ConfigKey(name=name, required=required, secret=secret, description=description)


def reply(status=200, body=b"", headers=()):
    """A reply with a status, optional headers and body."""
    return HttpResponse(status=status, headers=list(headers), body=_bytes(body))


def reply_text(status, body):
    """A `text/plain` reply, e.g. `reply_text(200, "OK")`."""
    return reply(status, body, [("content-type", "text/plain; charset=utf-8")])


def reply_with(status, content_type, body):
    """A reply with an explicit content type."""
    return reply(status, body, [("content-type", content_type)])


def plugin_info(name, version, description, routes, config_keys=(), accept_reply=None):
    """What `describe()` returns; the accept reply defaults to `200`, empty."""
    return PluginInfo(
        name=name,
        version=version,
        description=description,
        routes=list(routes),
        config_keys=list(config_keys),
        accept_reply=accept_reply if accept_reply is not None else reply(200),
    )


_KINDS = (
    (wit.DeliveryStatus, wit.EventKind_DeliveryStatus),
    (wit.InboundMessage, wit.EventKind_InboundMessage),
    (wit.OptOut, wit.EventKind_OptOut),
    (wit.LinkHit, wit.EventKind_LinkHit),
    (wit.Subscription, wit.EventKind_Subscription),
)


def event(id, kind, extra=()):
    """An event from its provider id and a record (`DeliveryStatus`,
    `InboundMessage`, `OptOut`, `LinkHit`, `Subscription`) or an already
    wrapped `EventKind_*`; `extra` is pairs of every unmapped field."""
    for rec, variant in _KINDS:
        if isinstance(kind, rec):
            kind = variant(kind)
            break
    return Event(id=id, kind=kind, extra=[(str(k), str(v)) for k, v in extra])


def kind_of(ev):
    """The record an event carries (unwrapped from its `EventKind_*`)."""
    return ev.kind.value


def confirm_subscription(topic, url):
    """The action asking the host to confirm a subscription by GET of `url`."""
    return wit.Action_ConfirmSubscription(wit.SubscriptionConfirmation(topic=topic, url=url))


def outcome(events=(), reply=None, actions=()):
    """The result of `handle`: events, the provider's reply (None for the
    default `200`, empty body) and actions."""
    return Outcome(events=list(events), reply=reply, actions=list(actions))


def delivery_status(
    message_id,
    state,
    provider_status,
    *,
    error_code=None,
    from_=None,
    to=None,
    channel=Channel.SMS,
    occurred_at=None,
    message_ref=None,
    campaign_id=None,
):
    """A `DeliveryStatus`; only the fields the provider has need naming."""
    return wit.DeliveryStatus(
        message_id=message_id,
        state=state,
        provider_status=provider_status,
        error_code=error_code,
        from_=from_,
        to=to,
        channel=channel,
        occurred_at=occurred_at,
        message_ref=message_ref,
        campaign_id=campaign_id,
    )


def media(url, content_type=None):
    return wit.Media(url=url, content_type=content_type)


def inbound_message(
    message_id,
    from_,
    to,
    text,
    *,
    media=(),
    channel=Channel.SMS,
    occurred_at=None,
    message_ref=None,
    campaign_id=None,
):
    """An `InboundMessage` (`media` is a list of `Media` or of URLs)."""
    items = [m if isinstance(m, wit.Media) else wit.Media(url=m, content_type=None) for m in media]
    return wit.InboundMessage(
        message_id=message_id,
        from_=from_,
        to=to,
        text=text,
        media=items,
        channel=channel,
        occurred_at=occurred_at,
        message_ref=message_ref,
        campaign_id=campaign_id,
    )


# ---------------------------------------------------------------- snapshot

#: Charsets whose codecs are loaded at import time, so that they exist in
#: the component (the legacy charsets SMS gateways send; see the Rust SDK's
#: `charset.rs`).
CHARSETS = ("utf-8", "ascii", "latin-1", "iso8859-15", "cp1252", "cp1251", "utf-16-be", "utf-16")


def warm_up(charsets=CHARSETS):
    """Runs every helper that imports modules lazily, and loads the codecs
    of `charsets`, so that all of it is in componentize-py's snapshot. Called
    on import; call it again with more charsets from `app.py` if needed."""
    for cs in charsets:
        _codecs.lookup(cs)
    hmac_sha1(b"k", b"m")
    hmac_sha256(b"k", b"m")
    constant_time_eq(b"a", b"a")
    verify_base64(b64encode(b"x"), b"x")
    json_text(_json.loads('{"a":[1,2.5,true,null,"x"]}'))
    parse_datetime("2023-11-14T22:13:20.5+01:00")
    Params.parse(b"a=%CF+b", "windows-1251")


warm_up()
