#!/usr/bin/env python3
"""Regenerates ../fixtures/*.http, signed with X-Plivo-Signature-V3 under
the test auth token of ../fixtures/config.toml, the way Plivo's official
libraries compute it (plivo-python `plivo/utils/signature_v3.py`):

    base = scheme://host/path
    GET:  base + ("?" + sorted "k=v" of the query joined by "&" if any)
    POST: base + "?" + sorted query ("" if none) + ("." if a query) +
          sorted POST params as "kv" concatenated  (no params: like GET)
    signature = base64(HMAC-SHA256(auth_token, that + "." + nonce))

Run from anywhere: python3 plugins/plivo/fixtures-src/gen.py (stdlib only).
"""

import base64
import hashlib
import hmac
import os
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures")
TOKEN = "fixture-plivo-auth-token"
PUBLIC = "https://hooks.example.com"


def signed_url(url, post):
    base, _, query = url.partition("?")
    q = sorted(urllib.parse.parse_qsl(query, keep_blank_values=True))
    qs = "&".join(f"{k}={v}" for k, v in q)
    if not post:
        return base + ("?" + qs if qs else "")
    out = base + "?" + qs + ("." if qs else "")
    return out + "".join(f"{k}{v}" for k, v in sorted(post))


def v3(url, post, nonce, token=TOKEN):
    msg = (signed_url(url, post) + "." + nonce).encode("utf-8")
    return base64.b64encode(hmac.new(token.encode(), msg, hashlib.sha256).digest()).decode()


def v2(url, nonce, token=TOKEN):
    msg = (url.partition("?")[0] + nonce).encode("utf-8")
    return base64.b64encode(hmac.new(token.encode(), msg, hashlib.sha256).digest()).decode()


def write(name, method, target, params, nonce, token=TOKEN, tamper=None):
    url = PUBLIC + target
    body = ""
    if method == "GET":
        target = target + "?" + urllib.parse.urlencode(params)
        url = PUBLIC + target
        sig = v3(url, [], nonce, token)
    else:
        body = urllib.parse.urlencode(params)
        sig = v3(url, params, nonce, token)
    if tamper:
        body = body.replace(*tamper)
    lines = [
        f"{method} {target} HTTP/1.1",
        "Host: hooks.example.com",
    ]
    if method == "POST":
        lines.append("Content-Type: application/x-www-form-urlencoded")
    lines += [
        f"X-Plivo-Signature-V2: {v2(url, nonce, token)}",
        f"X-Plivo-Signature-V2-Nonce: {nonce}",
        f"X-Plivo-Signature-V3: {sig}",
        f"X-Plivo-Signature-V3-Nonce: {nonce}",
        "Accept-Encoding: gzip",
    ]
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n\n" + body + "\n")


def status(uuid, status, error="", times=(), kind="sms", to="14155550123", extra=()):
    p = [
        ("From", "14155550100"),
        ("MCC", "310"),
        ("MNC", "260"),
        ("MessageUUID", uuid),
        ("ParentMessageUUID", uuid),
        ("PartInfo", "1 of 1"),
        ("PowerpackUUID", ""),
        ("Sequence", str(1 + len(times))),
        ("Status", status),
        ("To", to),
        ("TotalAmount", "0.00500"),
        ("TotalRate", "0.00500"),
        ("Type", kind),
        ("Units", "1"),
        ("ErrorCode", error),
        ("MessageTime", "2023-11-14 22:12:50.114031"),
    ]
    names = ["QueuedTime", "SentTime", "DeliveryReportTime"]
    for name, t in zip(names, times):
        p.append((name, t))
    return p + list(extra)


def main():
    os.makedirs(OUT, exist_ok=True)
    cb = "/api/v1/plivoCallback"
    uuid = "db3ce55a-7f1d-11ee-9c2e-0242ac110003"
    q = "2023-11-14 22:12:50.301247"
    s = "2023-11-14 22:12:51.093184"
    d = "2023-11-14 22:12:58.000000"
    write("status-queued.http", "POST", cb, status(uuid, "queued", times=[q]), "17339905521930471113")
    write("status-sent.http", "POST", cb, status(uuid, "sent", times=[q, s]), "27339905521930471114")
    write(
        "status-delivered.http",
        "POST",
        cb,
        status(uuid, "delivered", "000", [q, s, d]),
        "37339905521930471115",
    )
    write(
        "status-undelivered.http",
        "POST",
        cb,
        status("e41d6c0e-7f1d-11ee-9c2e-0242ac110004", "undelivered", "80", [q, s, d]),
        "47339905521930471116",
    )
    write(
        "status-failed.http",
        "POST",
        cb,
        status("f0a2b6c4-7f1d-11ee-9c2e-0242ac110005", "failed", "50", [q]),
        "57339905521930471117",
    )
    write(
        "status-whatsapp-read.http",
        "POST",
        cb,
        status(
            "0a9f4c2e-7f1e-11ee-9c2e-0242ac110006",
            "read",
            "",
            [q, s, d],
            kind="whatsapp",
            extra=[
                ("ConversationID", "d3a1c5f0b2e4a6c8e0f2a4c6e8a0c2e4"),
                ("ConversationOrigin", "utility"),
                ("ConversationExpirationTimestamp", "1700086370"),
            ],
        ),
        "67339905521930471118",
    )
    write(
        "status-delivered-get.http",
        "GET",
        cb,
        status("1b2c3d4e-7f1e-11ee-9c2e-0242ac110007", "delivered", "000", [q, s, d]),
        "77339905521930471119",
    )
    inc = "/api/v1/plivoIncoming/shop1"
    write(
        "inbound-sms.http",
        "POST",
        inc,
        [
            ("From", "14155550123"),
            ("MessageIntent", ""),
            ("MessageUUID", "2f7a9c1e-7f1e-11ee-8d1a-0242ac110008"),
            ("PowerpackUUID", ""),
            ("Text", "Hi! Is the café open on Sunday? ☕"),
            ("To", "14155550100"),
            ("TotalAmount", "0"),
            ("TotalRate", "0"),
            ("Type", "sms"),
            ("Units", "1"),
        ],
        "87339905521930471120",
    )
    write(
        "inbound-mms.http",
        "POST",
        inc,
        [
            ("Body", "Here is the receipt"),
            ("ContentType", "image/jpeg"),
            ("From", "14155550123"),
            ("Media0", "https://media.plivo.com/Account/MAXXXXXXXXXXXXXXXXXX/Media/0a1b2c3d-receipt.jpg"),
            ("Media1", "https://media.plivo.com/Account/MAXXXXXXXXXXXXXXXXXX/Media/4e5f6a7b-back.jpg"),
            ("MediaCount", "2"),
            ("MessageUUID", "3a8b0d2f-7f1e-11ee-8d1a-0242ac110009"),
            ("PowerpackUUID", ""),
            ("To", "14155550100"),
            ("TotalAmount", "0.00000"),
            ("TotalRate", "0.00000"),
            ("Type", "mms"),
            ("Units", "1"),
        ],
        "97339905521930471121",
    )
    write(
        "inbound-optout.http",
        "POST",
        inc,
        [
            ("From", "14155550199"),
            ("MessageIntent", "optout"),
            ("MessageUUID", "4b9c1e3a-7f1e-11ee-8d1a-0242ac11000a"),
            ("PowerpackUUID", ""),
            ("Text", "STOP"),
            ("To", "14155550100"),
            ("TotalAmount", "0"),
            ("TotalRate", "0"),
            ("Type", "sms"),
            ("Units", "1"),
        ],
        "10733990552193047112",
    )
    write(
        "reject-bad-signature.http",
        "POST",
        cb,
        status(uuid, "delivered", "000", [q, s, d]),
        "11733990552193047113",
        token="not-the-fixture-token",
    )
    write(
        "reject-tampered-status.http",
        "POST",
        cb,
        status("f0a2b6c4-7f1d-11ee-9c2e-0242ac110005", "failed", "50", [q]),
        "12733990552193047114",
        tamper=("Status=failed", "Status=delivered"),
    )
    with open(os.path.join(OUT, "config.toml"), "w", encoding="utf-8") as f:
        f.write(f'auth_token = "{TOKEN}"\n')


if __name__ == "__main__":
    main()
