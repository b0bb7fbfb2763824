#!/usr/bin/env python3
"""Regenerates ../fixtures/*.http and ../fixtures/config.toml.

Telnyx signs `telnyx-timestamp + "|" + raw body` with Ed25519 and sends the
base64 signature in `telnyx-signature-ed25519`. The fixtures are signed with
the throwaway key in this directory (test-key.pem, made with
`openssl genpkey -algorithm ed25519 -out test-key.pem`); its public key,
base64 as the Telnyx portal shows one, goes to config.toml.

Run from anywhere: python3 plugins/telnyx/fixtures-src/gen.py
Needs python3 (stdlib only) and the openssl command.
"""

import base64
import json
import os
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures")
KEY = os.path.join(HERE, "test-key.pem")


def public_key():
    der = subprocess.run(
        ["openssl", "pkey", "-in", KEY, "-pubout", "-outform", "DER"],
        capture_output=True,
        check=True,
    ).stdout
    return base64.b64encode(der[-32:]).decode()


def sign(data):
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        sig = subprocess.run(
            ["openssl", "pkeyutl", "-sign", "-inkey", KEY, "-rawin", "-in", f.name],
            capture_output=True,
            check=True,
        ).stdout
    return base64.b64encode(sig).decode()


def write(name, target, doc, timestamp, tamper=None, bad_key=False):
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    sig = sign(f"{timestamp}|{body}".encode())
    if bad_key:
        sig = base64.b64encode(bytes(64)).decode()
    if tamper:
        assert tamper[0] in body
        body = body.replace(*tamper)
    lines = [
        f"POST {target} HTTP/1.1",
        "Host: hooks.example.com",
        "Content-Type: application/json",
        "User-Agent: telnyx-webhooks",
        f"telnyx-signature-ed25519: {sig}",
        f"telnyx-timestamp: {timestamp}",
    ]
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n\n" + body + "\n")


def outbound(event_type, event_id, occurred, status, msg_id="40385f64-5717-4562-b3fc-2c963f66afa6",
             errors=(), to=None, kind="SMS", completed=None):
    to = to or [
        {
            "phone_number": "+13125550124",
            "status": status,
            "carrier": "T-MOBILE USA, INC.",
            "line_type": "Wireless",
        }
    ]
    return {
        "data": {
            "event_type": event_type,
            "id": event_id,
            "occurred_at": occurred,
            "payload": {
                "completed_at": completed,
                "cost": {"amount": "0.0040", "currency": "USD"},
                "direction": "outbound",
                "encoding": "GSM-7",
                "errors": list(errors),
                "from": {
                    "carrier": "TELNYX LLC",
                    "line_type": "VoIP",
                    "phone_number": "+13125550100",
                },
                "id": msg_id,
                "media": [],
                "messaging_profile_id": "40017f8e-49bd-4f16-9e3d-ef103f916228",
                "organization_id": "b448f9cc-a842-4784-98e9-03c1a5872950",
                "parts": 1,
                "received_at": "2023-11-14T22:12:55.101+00:00",
                "record_type": "message",
                "sent_at": "2023-11-14T22:12:55.532+00:00",
                "subject": None,
                "tags": ["order-1042"],
                "text": "Your order A-1042 has shipped.",
                "to": to,
                "type": kind,
                "valid_until": "2023-11-14T23:12:55.101+00:00",
                "webhook_failover_url": None,
                "webhook_url": "https://hooks.example.com/api/v1/telnyxCallback",
            },
            "record_type": "event",
        },
        "meta": {"attempt": 1, "delivered_to": "https://hooks.example.com/api/v1/telnyxCallback"},
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    cb = "/api/v1/telnyxCallback"
    write(
        "message-sent.http",
        cb,
        outbound("message.sent", "b301ed3f-1490-491f-995f-6e64e69674d4",
                 "2023-11-14T22:12:55.540+00:00", "sent"),
        1699999975,
    )
    write(
        "message-finalized-delivered.http",
        cb,
        outbound("message.finalized", "86f3a5d2-9c0b-4a1e-8d2f-0b4e6c8a1f3d",
                 "2023-11-14T22:12:58.221+00:00", "delivered",
                 completed="2023-11-14T22:12:58.201+00:00"),
        1699999978,
    )
    write(
        "message-finalized-delivery-failed.http",
        cb,
        outbound(
            "message.finalized",
            "5b0e7a33-4c1d-4f8e-9a2b-6d3c1e0f9b7a",
            "2023-11-14T22:13:01.004+00:00",
            "delivery_failed",
            msg_id="7a3c9e21-0d4b-4c6f-8e1a-2b5d7f9c0e13",
            errors=[{"code": "40008", "title": "Undeliverable",
                     "detail": "The message was not delivered by the carrier."}],
            completed="2023-11-14T22:13:00.988+00:00",
        ),
        1699999981,
    )
    write(
        "message-finalized-sending-failed.http",
        cb,
        outbound(
            "message.finalized",
            "c2d4e6f8-1a3b-4c5d-9e7f-0a1b2c3d4e5f",
            "2023-11-14T22:12:56.010+00:00",
            "sending_failed",
            msg_id="9d1e3f5a-2b4c-4d6e-8f0a-1c3e5a7b9d2f",
            errors=[{"code": "40300", "title": "Blocked as spam - temporary",
                     "detail": "Message has been flagged as spam by the carrier."}],
        ),
        1699999976,
    )
    write(
        "message-finalized-group-mms.http",
        cb,
        outbound(
            "message.finalized",
            "e5f7a9b1-3c5d-4e7f-9a1b-2c4d6e8f0a1b",
            "2023-11-14T22:13:04.500+00:00",
            None,
            msg_id="3f5a7c9e-1b3d-4f6a-8c0e-2a4c6e8a0c2e",
            kind="MMS",
            to=[
                {"phone_number": "+13125550124", "status": "delivered",
                 "carrier": "T-MOBILE USA, INC.", "line_type": "Wireless"},
                {"phone_number": "+13125550125", "status": "delivery_unconfirmed",
                 "carrier": "VERIZON WIRELESS", "line_type": "Wireless"},
            ],
        ),
        1699999984,
    )
    inc = "/api/v1/telnyxIncoming/shop1"
    inbound = {
        "data": {
            "event_type": "message.received",
            "id": "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
            "occurred_at": "2023-11-14T22:13:06.123+00:00",
            "payload": {
                "cc": [],
                "completed_at": None,
                "cost": {"amount": "0.0000", "currency": "USD"},
                "direction": "inbound",
                "encoding": "UCS-2",
                "errors": [],
                "from": {"carrier": "T-Mobile USA", "line_type": "long_code",
                         "phone_number": "+13125550124"},
                "id": "b0c7e8cb-6227-4c74-9f32-c7f80c30934b",
                "media": [],
                "messaging_profile_id": "40017f8e-49bd-4f16-9e3d-ef103f916228",
                "organization_id": "b448f9cc-a842-4784-98e9-03c1a5872950",
                "parts": 1,
                "received_at": "2023-11-14T22:13:06.101+00:00",
                "record_type": "message",
                "sent_at": None,
                "subject": "",
                "tags": [],
                "text": "Danke! Kommt es bis Freitag? 📦",
                "to": [{"carrier": "Telnyx", "line_type": "Wireless",
                        "phone_number": "+13125550100", "status": "webhook_delivered"}],
                "type": "SMS",
                "valid_until": None,
                "webhook_failover_url": None,
                "webhook_url": "https://hooks.example.com/api/v1/telnyxIncoming/shop1",
            },
            "record_type": "event",
        },
        "meta": {"attempt": 1, "delivered_to": "https://hooks.example.com/api/v1/telnyxIncoming/shop1"},
    }
    write("message-received-sms.http", inc, inbound, 1699999986)
    mms = json.loads(json.dumps(inbound))
    mms["data"]["id"] = "1ddd8c65-5ef4-4cdb-b76b-4eb2fdd888a1"
    mms["data"]["payload"].update(
        id="c1d8f9dc-7338-4d85-a043-d8a91d41a45c",
        type="MMS",
        text="Photo of the damaged box",
        media=[{
            "content_type": "image/jpeg",
            "hash_sha256": "13e1a4b8d5b6c4f0e5e8f5d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b1",
            "size": 48213,
            "url": "https://media.telnyx.com/b0c7e8cb-6227-4c74-9f32-c7f80c30934b/box.jpg",
        }],
    )
    write("message-received-mms.http", inc, mms, 1699999987)
    write(
        "reject-bad-signature.http",
        cb,
        outbound("message.finalized", "86f3a5d2-9c0b-4a1e-8d2f-0b4e6c8a1f3e",
                 "2023-11-14T22:12:58.221+00:00", "delivered"),
        1699999978,
        bad_key=True,
    )
    write(
        "reject-tampered-body.http",
        cb,
        outbound("message.finalized", "5b0e7a33-4c1d-4f8e-9a2b-6d3c1e0f9b7b",
                 "2023-11-14T22:13:01.004+00:00", "delivery_failed"),
        1699999981,
        tamper=('"status":"delivery_failed"', '"status":"delivered"'),
    )
    with open(os.path.join(OUT, "config.toml"), "w", encoding="utf-8") as f:
        f.write(f'public_key = "{public_key()}"\ntimestamp_tolerance_secs = "0"\n')


if __name__ == "__main__":
    main()
