#!/usr/bin/env python3
"""Regenerates ../fixtures/*.http and ../fixtures/config.toml.

Every fixture is a real SNS HTTP(S) delivery, signed with the test key in
this directory (test-key.pem, self-signed certificate test-cert.pem) exactly
as SNS signs: the canonical string-to-sign of the message, RSA PKCS#1 v1.5
with SHA1 (SignatureVersion 1) or SHA256 (SignatureVersion 2), base64.
The key is a throwaway made with

    openssl req -x509 -newkey rsa:2048 -nodes -keyout test-key.pem \
        -out test-cert.pem -days 36500 -subj "/CN=sns.amazonaws.com/O=Switchboard test (not Amazon)"

Run from anywhere: python3 plugins/aws-sns/fixtures-src/gen.py
Needs python3 (stdlib only) and the openssl command.
"""

import base64
import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures")

ACCOUNT = "123456789012"
STATUS_TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:sms-delivery-status"
INBOUND_TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:sms-inbound"
OTHER_TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:someone-elses-topic"
CERT_URL = (
    "https://sns.us-east-1.amazonaws.com/"
    "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
)
SUB_ARN = STATUS_TOPIC + ":2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"

NOTIFICATION_KEYS = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
CONFIRMATION_KEYS = [
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
]


def string_to_sign(msg):
    keys = NOTIFICATION_KEYS if msg["Type"] == "Notification" else CONFIRMATION_KEYS
    out = ""
    for k in keys:
        if k in msg:
            out += f"{k}\n{msg[k]}\n"
    return out.encode("utf-8")


def sign(msg):
    digest = "-sha1" if msg["SignatureVersion"] == "1" else "-sha256"
    sig = subprocess.run(
        ["openssl", "dgst", digest, "-sign", os.path.join(HERE, "test-key.pem")],
        input=string_to_sign(msg),
        capture_output=True,
        check=True,
    ).stdout
    return base64.b64encode(sig).decode()


def envelope(kind, message_id, topic, message, timestamp, version="1", subject=None, token=None):
    """The JSON document SNS posts, fields in SNS's own order."""
    msg = {"Type": kind, "MessageId": message_id}
    if token is not None:
        msg["Token"] = token
    msg["TopicArn"] = topic
    if subject is not None:
        msg["Subject"] = subject
    msg["Message"] = message
    if kind != "Notification":
        msg["SubscribeURL"] = (
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
            f"&TopicArn={topic}&Token={token}"
        )
    msg["Timestamp"] = timestamp
    msg["SignatureVersion"] = version
    msg["Signature"] = sign(msg)
    msg["SigningCertURL"] = CERT_URL
    if kind == "Notification":
        msg["UnsubscribeURL"] = (
            "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"
            f"&SubscriptionArn={SUB_ARN}"
        )
    return msg


def write(name, msg, tamper=None, header_type=None):
    body = json.dumps(msg, indent=2, ensure_ascii=False, separators=(",", " : "))
    if tamper:
        old, new = tamper
        assert old in body, (name, old)
        body = body.replace(old, new, 1)
    headers = [
        "POST /api/v1/awsSmsCallback HTTP/1.1",
        "Host: hooks.example.com",
        f"x-amz-sns-message-type: {header_type or msg['Type']}",
        f"x-amz-sns-message-id: {msg['MessageId']}",
        f"x-amz-sns-topic-arn: {msg['TopicArn']}",
    ]
    if msg["Type"] == "Notification":
        headers.append(f"x-amz-sns-subscription-arn: {SUB_ARN}")
    headers += [
        "Content-Type: text/plain; charset=UTF-8",
        "Connection: Keep-Alive",
        "User-Agent: Amazon Simple Notification Service Agent",
        "Accept-Encoding: gzip,deflate",
    ]
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        f.write("\n".join(headers) + "\n\n" + body + "\n")


def eum(event_type, status, description, message_id, ts, extra=None, to="+14255550156"):
    """An AWS End User Messaging SMS (pinpoint-sms-voice-v2) event record."""
    rec = {
        "eventType": event_type,
        "eventVersion": "1.0",
        "eventTimestamp": ts,
        "isFinal": status not in ("PENDING", "QUEUED", "SUCCESSFUL"),
        "originationPhoneNumber": "+12065550152",
        "destinationPhoneNumber": to,
        "isoCountryCode": "US",
        "isInternationalSend": False,
        "mcc": "310",
        "mnc": "800",
        "carrierName": "T-Mobile USA, Inc.",
        "messageId": message_id,
        "messageRequestTimestamp": ts - 1400,
        "messageEncoding": "GSM",
        "messageType": "TRANSACTIONAL",
        "messageStatus": status,
        "messageStatusDescription": description,
        "context": {"order": "A-1042"},
        "totalMessageParts": 1,
        "totalMessagePrice": 0.00581,
        "totalCarrierFee": 0.00302,
    }
    if extra:
        rec.update(extra)
    return json.dumps(rec, separators=(",", ":"))


def main():
    os.makedirs(OUT, exist_ok=True)
    ts = "2023-11-14T22:13:05.123Z"
    mid = "0e7b0a7c-3f1d-4c6e-9a53-2b7d1c1f5a01"

    delivered = eum(
        "TEXT_DELIVERED", "DELIVERED", "Message has been accepted by phone", mid, 1699999984871
    )
    write(
        "eum-text-delivered-v1.http",
        envelope("Notification", "5f0b8c7a-1111-5a2b-9c3d-000000000001", STATUS_TOPIC, delivered, ts),
    )
    write(
        "eum-text-successful-v2.http",
        envelope(
            "Notification",
            "5f0b8c7a-1111-5a2b-9c3d-000000000002",
            STATUS_TOPIC,
            eum(
                "TEXT_SUCCESSFUL",
                "SUCCESSFUL",
                "Message has been accepted by phone carrier",
                mid,
                1699999983200,
            ),
            ts,
            version="2",
        ),
    )
    write(
        "eum-text-pending.http",
        envelope(
            "Notification",
            "5f0b8c7a-1111-5a2b-9c3d-000000000003",
            STATUS_TOPIC,
            eum("TEXT_PENDING", "PENDING", "Message is pending delivery", mid, 1699999982000),
            ts,
            version="2",
        ),
    )
    write(
        "eum-text-carrier-unreachable.http",
        envelope(
            "Notification",
            "5f0b8c7a-1111-5a2b-9c3d-000000000004",
            STATUS_TOPIC,
            eum(
                "TEXT_CARRIER_UNREACHABLE",
                "CARRIER_UNREACHABLE",
                "The destination carrier is temporarily unreachable",
                "7a1c2e3f-0000-4b4b-8c8c-0000000000a4",
                1699999985000,
            ),
            ts,
            version="2",
        ),
    )
    write(
        "eum-text-invalid.http",
        envelope(
            "Notification",
            "5f0b8c7a-1111-5a2b-9c3d-000000000005",
            STATUS_TOPIC,
            eum(
                "TEXT_INVALID",
                "INVALID",
                "The destination phone number is not valid",
                "7a1c2e3f-0000-4b4b-8c8c-0000000000a5",
                1699999985500,
                to="+14255550000",
            ),
            ts,
            version="2",
        ),
    )
    write(
        "eum-text-ttl-expired.http",
        envelope(
            "Notification",
            "5f0b8c7a-1111-5a2b-9c3d-000000000006",
            STATUS_TOPIC,
            eum(
                "TEXT_TTL_EXPIRED",
                "TTL_EXPIRED",
                "The message could not be delivered within its time to live",
                "7a1c2e3f-0000-4b4b-8c8c-0000000000a6",
                1699999986000,
            ),
            ts,
            version="2",
        ),
    )
    write(
        "eum-media-delivered.http",
        envelope(
            "Notification",
            "5f0b8c7a-1111-5a2b-9c3d-000000000007",
            STATUS_TOPIC,
            eum(
                "MEDIA_DELIVERED",
                "DELIVERED",
                "Message has been accepted by phone",
                "7a1c2e3f-0000-4b4b-8c8c-0000000000a7",
                1699999987000,
                extra={"mediaUrls": ["s3://example-bucket/cat.jpg"], "messageEncoding": None},
            ),
            ts,
            version="2",
        ),
    )
    legacy_ok = json.dumps(
        {
            "notification": {
                "messageId": "34d9b400-c6dd-5444-820d-fbeb0f1f54cf",
                "timestamp": "2023-11-14 22:12:58.412",
            },
            "delivery": {
                "phoneCarrier": "Verizon Wireless",
                "mnc": 480,
                "numberOfMessageParts": 1,
                "destination": "+15555550123",
                "priceInUSD": 0.00645,
                "smsType": "Transactional",
                "mcc": 311,
                "providerResponse": "Message has been accepted by phone carrier",
                "dwellTimeMs": 599,
                "dwellTimeMsUntilDeviceAck": 1344,
            },
            "status": "SUCCESS",
        },
        separators=(",", ":"),
    )
    write(
        "sns-sms-success.http",
        envelope(
            "Notification",
            "5f0b8c7a-1111-5a2b-9c3d-000000000008",
            STATUS_TOPIC,
            legacy_ok,
            ts,
            subject="SMS delivery status",
        ),
    )
    legacy_fail = json.dumps(
        {
            "notification": {
                "messageId": "1077257a-92f7-5a5e-b4ea-dc1d6e0c4a4b",
                "timestamp": "2023-11-14 22:12:59.004",
            },
            "delivery": {
                "mnc": 0,
                "numberOfMessageParts": 1,
                "destination": "+15555550199",
                "priceInUSD": 0.00645,
                "smsType": "Promotional",
                "mcc": 0,
                "providerResponse": "Unknown error attempting to reach phone",
                "dwellTimeMs": 1420,
                "dwellTimeMsUntilDeviceAck": 1692,
            },
            "status": "FAILURE",
        },
        separators=(",", ":"),
    )
    write(
        "sns-sms-failure.http",
        envelope(
            "Notification", "5f0b8c7a-1111-5a2b-9c3d-000000000009", STATUS_TOPIC, legacy_fail, ts
        ),
    )
    inbound = json.dumps(
        {
            "originationNumber": "+14255550182",
            "destinationNumber": "+12125550101",
            "messageKeyword": "JOIN",
            "messageBody": "Yes please, Zürich at 10 ✓",
            "inboundMessageId": "cae173d2-66b9-564c-8309-21f858e9fb84",
            "previousPublishedMessageId": "0e7b0a7c-3f1d-4c6e-9a53-2b7d1c1f5a01",
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )
    write(
        "inbound-sms.http",
        envelope("Notification", "5f0b8c7a-1111-5a2b-9c3d-00000000000a", INBOUND_TOPIC, inbound, ts, version="2"),
    )
    stop = json.dumps(
        {
            "originationNumber": "+14255550183",
            "destinationNumber": "+12125550101",
            "messageKeyword": "STOP",
            "messageBody": "stop",
            "inboundMessageId": "d1e2f3a4-66b9-564c-8309-21f858e9fb85",
            "previousPublishedMessageId": "7a1c2e3f-0000-4b4b-8c8c-0000000000a5",
        },
        separators=(",", ":"),
    )
    write(
        "inbound-stop-opt-out.http",
        envelope("Notification", "5f0b8c7a-1111-5a2b-9c3d-00000000000b", INBOUND_TOPIC, stop, ts, version="2"),
    )
    token = (
        "2336412f37fb687f5d51e6e2425dacbbae5b6f46fd9e7a7c4f3d1e8a"
        "b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9"
    )
    confirm = envelope(
        "SubscriptionConfirmation",
        "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        STATUS_TOPIC,
        "You have chosen to subscribe to the topic "
        f"{STATUS_TOPIC}.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
        "2023-11-14T22:13:01.000Z",
        token=token,
    )
    write("subscription-confirmation.http", confirm)
    unsubscribe = envelope(
        "UnsubscribeConfirmation",
        "47138184-6831-46b8-8f7c-afc488602d7d",
        STATUS_TOPIC,
        "You have chosen to deactivate subscription "
        f"{SUB_ARN}.\nTo cancel this operation and restore the subscription, visit the SubscribeURL included in this message.",
        "2023-11-14T22:13:02.000Z",
        token=token[::-1],
    )
    write("ack-unsubscribe-confirmation.http", unsubscribe)

    # Refused: the Message was changed after signing.
    write(
        "reject-tampered-message.http",
        envelope("Notification", "5f0b8c7a-1111-5a2b-9c3d-00000000000c", STATUS_TOPIC, delivered, ts),
        tamper=("TEXT_DELIVERED", "TEXT_BLOCKED"),
    )
    # Refused: the certificate would come from a host that is not SNS.
    evil = envelope("Notification", "5f0b8c7a-1111-5a2b-9c3d-00000000000d", STATUS_TOPIC, delivered, ts)
    evil["SigningCertURL"] = "https://sns.evil.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
    write("reject-cert-url-not-sns.http", evil)
    # Refused: correctly signed, but for a topic the operator did not allow.
    write(
        "reject-topic-not-allowed.http",
        envelope("Notification", "5f0b8c7a-1111-5a2b-9c3d-00000000000e", OTHER_TOPIC, delivered, ts),
    )
    # Refused: a confirmation whose SubscribeURL points elsewhere (signed).
    bad_confirm = dict(confirm)
    bad_confirm["MessageId"] = "165545c9-2a5c-472c-8df2-7ff2be2b3b1c"
    bad_confirm["SubscribeURL"] = "https://attacker.example.net/?Action=ConfirmSubscription"
    bad_confirm["Signature"] = sign(bad_confirm)
    write("reject-subscribe-url-not-sns.http", bad_confirm)

    with open(os.path.join(HERE, "test-cert.pem"), encoding="utf-8") as f:
        cert = f.read().strip()
    with open(os.path.join(OUT, "config.toml"), "w", encoding="utf-8") as f:
        f.write(
            f'allowed_topics = "{STATUS_TOPIC},{INBOUND_TOPIC}"\n'
            'timestamp_tolerance_secs = "0"\n'
            f'certificate_pem = """\n{cert}\n"""\n'
        )


if __name__ == "__main__":
    main()
