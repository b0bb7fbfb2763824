"""What an operator writes instead of Switchboard, in Python: the Flask
handler of MySMSGate's webhook guide (shared/seeds/003), pointed at Twilio's
status callback, extended to verify X-Twilio-Signature (as Twilio's own
RequestValidator does) and to append the event to a file. The guide's
print() lines are left out: they would only slow it down.

Run by the benchmark under gunicorn (2 sync workers) and Flask's dev server.
"""
import base64
import hashlib
import hmac
import json
import os
import time

from flask import Flask, abort, request

AUTH_TOKEN = os.environ["TWILIO_AUTH_TOKEN"].encode()
# The URL Twilio called (behind a proxy, not the one Flask sees).
PUBLIC_URL = os.environ.get("PUBLIC_URL", "https://hooks.example.com")
EVENTS_FILE = os.environ["EVENTS_FILE"]
# FSYNC=1: make the event durable before answering, like Switchboard.
FSYNC = os.environ.get("FSYNC") == "1"

app = Flask(__name__)


def valid_signature(url, params, signature):
    """Twilio: base64(HMAC-SHA1(auth token, URL + each POST parameter's
    name and value, sorted by name))."""
    data = url + "".join(k + v for k, v in sorted(params.items(multi=True)))
    expected = hmac.new(AUTH_TOKEN, data.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(base64.b64encode(expected).decode(), signature or "")


@app.route("/api/v1/smsCallback", methods=["POST"])
def sms_status():
    url = PUBLIC_URL + request.full_path.rstrip("?")
    if not valid_signature(url, request.form, request.headers.get("X-Twilio-Signature")):
        abort(403)
    event = {
        "provider": "twilio",
        "message_id": request.form.get("MessageSid"),
        "status": request.form.get("MessageStatus"),
        "received_at": time.time(),
        "params": request.form.to_dict(),
    }
    with open(EVENTS_FILE, "a") as f:
        f.write(json.dumps(event) + "\n")
        if FSYNC:
            f.flush()
            os.fsync(f.fileno())
    return "", 200


if __name__ == "__main__":
    app.run(port=int(os.environ.get("PORT", "5000")))
