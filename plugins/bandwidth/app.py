"""Bandwidth Messaging v2: SMS/MMS status callbacks and inbound messages.
See README.md beside this file. Built with componentize-py
(`plugins/build-python.sh`); tested natively with `test_app.py`."""

import switchboard_plugin as sp
from switchboard_plugin import Channel, DeliveryState

VERSION = "0.1.0"

#: `type` of outbound message events.
STATUSES = {
    # MMS and group messages only, when MMS delivery receipts are enabled:
    # the message is on its way to the carrier.
    "message-sending": DeliveryState.QUEUED,
    "message-delivered": DeliveryState.DELIVERED,
    "message-failed": DeliveryState.FAILED,
}

#: `type` of an inbound message.
RECEIVED = "message-received"

#: `message.channel` of multichannel messages.
CHANNELS = {"sms": Channel.SMS, "mms": Channel.MMS, "rbm": Channel.RCS}

#: Paths mapped onto the normalized events; everything else goes to `extra`
#: with its dotted path (`message.owner`, `message.segmentCount`, ...).
MAPPED = (
    "type",
    "time",
    "to",
    "errorCode",
    "message.id",
    "message.from",
    "message.media",
    "message.tag",
    "message.channel",
)
#: Inbound messages also map their text.
MAPPED_INBOUND = MAPPED + ("message.text",)


class Bandwidth:
    def describe(self):
        return sp.plugin_info(
            "bandwidth",
            VERSION,
            "Bandwidth Messaging v2 SMS and MMS status callbacks and inbound messages",
            routes=[
                sp.route(
                    "POST",
                    "/bandwidthCallback",
                    "status callback (the application's status / outbound callback URL)",
                ),
                sp.route(
                    "POST",
                    "/bandwidthIncoming/{app_code}",
                    "inbound message (the application's inbound callback URL); status callbacks sent here are handled too",
                ),
            ],
            # Bandwidth does not sign callbacks: it authenticates them with
            # basic auth set on the application, which the host checks
            # (`[plugins.bandwidth.protect] basic_auth`). No key to require.
            config_keys=[],
        )

    def handle(self, req, config):
        if not req.looks_like_json():
            raise sp.BadRequest("Bandwidth callbacks are JSON arrays; the body is not JSON")
        return sp.outcome([to_event(item, i) for i, item in enumerate(sp.json_items(req))])


def text_field(obj, key):
    """A trimmed non-empty scalar as text, or None."""
    return sp.json_field(obj, key)


def to_event(item, index):
    message = item.get("message")
    if not isinstance(message, dict):
        raise sp.BadRequest(f"event {index}: missing object `message`")
    kind = text_field(item, "type")
    if kind is None:
        raise sp.BadRequest(f"event {index}: missing field `type`")
    message_id = text_field(message, "id")
    if message_id is None:
        raise sp.BadRequest(f"event {index}: missing field `message.id`")
    recipients = [r for r in message.get("to") or [] if isinstance(r, str)]
    if isinstance(message.get("to"), str):
        recipients = [message["to"]]
    media = [m for m in message.get("media") or [] if isinstance(m, str) and m.strip()]
    channel = CHANNELS.get((text_field(message, "channel") or "").lower())
    if channel is None:
        channel = Channel.MMS if media else Channel.SMS
    occurred_at = sp.parse_datetime(text_field(item, "time") or "")
    # The event's `to`: the recipient of this copy of the message.
    to = text_field(item, "to") or (recipients[0] if len(recipients) == 1 else None)

    if kind == RECEIVED:
        sender = text_field(message, "from")
        if sender is None:
            raise sp.BadRequest(f"event {index}: missing field `message.from`")
        # Our number: the event's `to`, else the owner of this copy.
        ours = to or text_field(message, "owner") or (recipients[0] if recipients else "")
        text = message.get("text")
        msg = sp.inbound_message(
            message_id,
            sender,
            ours,
            text if isinstance(text, str) else "",
            media=[sp.media(u.strip()) for u in media],
            channel=channel,
            occurred_at=occurred_at,
        )
        return sp.event(message_id, msg, sp.flatten("", item, MAPPED_INBOUND))

    error_code = item.get("errorCode")
    error_code = sp.json_scalar(error_code) if error_code is not None else None
    if error_code is not None and sp.is_no_error(error_code):
        error_code = None
    status = sp.delivery_status(
        message_id,
        sp.map_status(STATUSES, kind),
        kind,
        error_code=error_code,
        from_=text_field(message, "from"),
        to=to,
        channel=channel,
        occurred_at=occurred_at,
        message_ref=text_field(message, "tag"),
    )
    # Bandwidth may resend an event (at-least-once): (id, type) is the event;
    # a group message has one event per recipient, so its `to` is part of it.
    event_id = f"{message_id}:{kind}"
    if len(recipients) > 1 and to:
        event_id += f":{to}"
    return sp.event(event_id, status, sp.flatten("", item, MAPPED))


Plugin = sp.export(Bandwidth)
