"""Unit tests of the Bandwidth plugin, run natively by
`python -m switchboard_plugin.testing --unit plugins/bandwidth`
(`plugins/build-python.sh --test`)."""

import os
import unittest

import switchboard_plugin as sp
from switchboard_plugin import Channel, DeliveryState
from switchboard_plugin.testing import Harness, check_fixtures, extra, has_extra

HERE = os.path.dirname(os.path.abspath(__file__))
# Bandwidth wants a 2xx and nothing else: every outcome leaves the reply to
# the host (200, empty body).
H = Harness.for_dir(HERE)

ACCEPT = "POST /api/v1/bandwidthCallback HTTP/1.1\nHost: h\nContent-Type: application/json\n\n"


class Bandwidth(unittest.TestCase):
    def test_every_fixture_follows_the_naming_convention(self):
        self.assertGreaterEqual(check_fixtures(H.plugin, HERE), 12)

    def test_describe(self):
        info = H.plugin.describe()
        self.assertEqual(info.name, "bandwidth")
        self.assertEqual([r.path for r in info.routes], ["/bandwidthCallback", "/bandwidthIncoming/{app_code}"])
        self.assertTrue(all(r.methods == [sp.Method.POST] for r in info.routes))
        # No signature: nothing required, so the host expects per-mount protection.
        self.assertEqual(info.config_keys, [])
        self.assertEqual((info.accept_reply.status, info.accept_reply.body), (200, b""))

    def test_sending_is_queued_mms_with_tag(self):
        ev, d = H.delivery("status-sending-mms.http")
        self.assertEqual(ev.id, "1710440416020x7mt3wq5fxo6xzb4:message-sending")
        self.assertEqual(d.state, DeliveryState.QUEUED)
        self.assertEqual(d.provider_status, "message-sending")
        self.assertEqual(d.channel, Channel.MMS)
        self.assertEqual((d.from_, d.to), ("+15005550006", "+15558675310"))
        self.assertEqual(d.message_ref, "order-4711")
        self.assertEqual(d.occurred_at, 1710440416120)
        self.assertIsNone(d.error_code)
        self.assertTrue(has_extra(ev, "description", "Message is sending to carrier"))
        self.assertTrue(has_extra(ev, "message.applicationId", "93de2206-9669-4e07-948d-329f4b722ee2"))

    def test_delivered(self):
        ev, d = H.delivery("status-delivered.http")
        self.assertEqual(ev.id, "1710440411784yq2xbzt7o4wcxsk3:message-delivered")
        self.assertEqual(d.state, DeliveryState.DELIVERED)
        self.assertEqual(d.channel, Channel.SMS)
        self.assertEqual(d.occurred_at, 1710440417503)
        self.assertEqual(extra(ev, "message.segmentCount"), "1")
        self.assertEqual(extra(ev, "message.to"), '["+15558675310"]')
        self.assertEqual(extra(ev, "message.direction"), "out")
        for mapped in ("type", "time", "to", "message.id", "message.from", "message.tag", "errorCode"):
            self.assertIsNone(extra(ev, mapped), mapped)

    def test_failed_keeps_error_code_and_description(self):
        ev, d = H.delivery("status-failed.http")
        self.assertEqual(d.state, DeliveryState.FAILED)
        self.assertEqual(d.error_code, "4432")
        self.assertEqual(d.to, "+52345678903")
        self.assertEqual(d.occurred_at, 1710440416000)
        self.assertEqual(extra(ev, "description"), "forbidden to country")

    def test_group_delivery_is_one_event_per_recipient(self):
        ev, d = H.delivery("status-delivered-group-mms.http")
        self.assertEqual(ev.id, "1710440700120pq8sj3gkzu2c0n5d:message-delivered:+15558675311")
        self.assertEqual(d.to, "+15558675311")
        self.assertEqual(d.channel, Channel.MMS)

    def test_batch_gives_one_event_per_item(self):
        events = H.events("batch-delivered-and-failed.http")
        self.assertEqual(len(events), 2)
        first, second = (sp.kind_of(e) for e in events)
        self.assertEqual((first.state, first.error_code, first.message_ref),
                         (DeliveryState.DELIVERED, None, "campaign-spring"))
        self.assertEqual((second.state, second.error_code), (DeliveryState.FAILED, "4720"))
        self.assertNotEqual(events[0].id, events[1].id)

    def test_inbound_sms(self):
        ev, m = H.inbound("inbound-sms.http")
        self.assertEqual(ev.id, "f1708c12-e76e-40f8-9958-db3dbd3a957e")
        self.assertEqual((m.from_, m.to), ("+15558675310", "+15005550006"))
        self.assertEqual(m.text, "Hello from the handset \u2713")
        self.assertEqual((m.channel, m.media), (Channel.SMS, []))
        self.assertEqual(m.occurred_at, 1710441331656)
        self.assertEqual(extra(ev, "description"), "Incoming message received")
        self.assertIsNone(extra(ev, "message.text"))

    def test_inbound_mms_has_media(self):
        ev, m = H.inbound("inbound-mms.http")
        self.assertEqual(m.channel, Channel.MMS)
        self.assertEqual(m.text, "Look at this")
        self.assertEqual([x.url for x in m.media], [
            "https://messaging.bandwidth.com/api/v2/users/9900000/media/1710441612004kd9w2nbq7xz3m5aj/0/IMG_0042.jpg",
            "https://messaging.bandwidth.com/api/v2/users/9900000/media/1710441612004kd9w2nbq7xz3m5aj/1/0.smil",
        ])
        self.assertTrue(all(x.content_type is None for x in m.media))

    def test_inbound_group_message_goes_to_our_number(self):
        ev, m = H.inbound("inbound-group-mms.http")
        self.assertEqual(m.to, "+15005550006")
        self.assertEqual(extra(ev, "message.to"), '["+15005550006","+15558675311"]')

    def test_refusals(self):
        for name, fragment in [
            ("reject-not-json.http", "not JSON"),
            ("reject-malformed-json.http", "invalid JSON"),
            ("reject-empty-array.http", "empty JSON array"),
            ("reject-missing-message-id.http", "message.id"),
        ]:
            e = H.refusal(name)
            self.assertIsInstance(e, sp.BadRequest, name)
            self.assertIn(fragment, e.message, name)

    def test_odd_items(self):
        for body, fragment in [
            ('[{"type":"message-delivered"}]', "message"),
            ('[{"message":{"id":"m1"}}]', "type"),
            ('[1]', "item 0"),
            ('"x"', "neither"),
            ('[{"type":"message-received","message":{"id":"m1"}}]', "message.from"),
        ]:
            e = H.refusal(ACCEPT + body)
            self.assertIsInstance(e, sp.BadRequest, body)
            self.assertIn(fragment, e.message, body)

    def test_single_object_unknown_type_and_zero_error(self):
        body = '{"type":"message-read","errorCode":0,"time":"bad","message":{"id":"m1","to":"+1555","channel":"RBM"}}'
        ev, d = H.delivery_of(ACCEPT + body)
        self.assertEqual(ev.id, "m1:message-read")
        self.assertEqual((d.state, d.provider_status), (DeliveryState.UNKNOWN, "message-read"))
        self.assertEqual((d.error_code, d.to, d.channel, d.occurred_at), (None, "+1555", Channel.RCS, None))


class Sdk(unittest.TestCase):
    """The SDK's helpers agree with the Rust SDK."""

    def test_stable_ids_match_the_rust_sdk(self):
        self.assertEqual(sp.stable_id(["+1", "", "x"]), "687a7673a0851ea532661602")
        self.assertEqual(sp.short_hash(["+1", "", "x"]), "7d594d358e08ddd0432f7e77")
        self.assertNotEqual(sp.stable_id(["ab", "c"]), sp.stable_id(["a", "bc"]))

    def test_hmac_vectors_and_constant_time_compare(self):
        mac = sp.hmac_sha256("Jefe", "what do ya want for nothing?")
        self.assertEqual(mac.hex(), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        self.assertEqual(sp.hmac_sha1("Jefe", "what do ya want for nothing?").hex(),
                         "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        self.assertTrue(sp.verify_hex(mac.hex().upper(), mac))
        self.assertFalse(sp.verify_hex(mac[:31].hex(), mac))
        self.assertFalse(sp.verify_hex("zz", mac))
        self.assertTrue(sp.verify_base64(sp.b64encode(mac), mac))
        self.assertFalse(sp.verify_base64("not base64!", mac))

    def test_forms_and_charsets(self):
        p = sp.Params.parse(b"text=%CF%F0%E8+%E2&n=1&bad=%zz&plus=1%2B1", "windows-1251")
        self.assertEqual((p.get("text"), p.get("n"), p.get("bad"), p.get("plus")), ("При в", "1", "%zz", "1+1"))
        self.assertEqual(p.extra(["text", "n"]), [("bad", "%zz"), ("plus", "1+1")])
        self.assertEqual(sp.map_status({"DELIVRD": DeliveryState.DELIVERED}, " delivrd "), DeliveryState.DELIVERED)
        self.assertEqual(sp.map_status({}, "x"), DeliveryState.UNKNOWN)
        self.assertTrue(all(sp.is_no_error(c) for c in ["", "0", "000"]))
        self.assertFalse(any(sp.is_no_error(c) for c in ["1", "001"]))

    def test_datetimes(self):
        self.assertEqual(sp.parse_datetime("2023-11-14T22:13:20Z"), 1_700_000_000_000)
        self.assertEqual(sp.parse_datetime("2023-11-14T23:13:20.5+01:00"), 1_700_000_000_500)
        self.assertEqual(sp.parse_datetime("2023-11-14 22:13:20", 60), 1_699_996_400_000)
        for bad in ["", "2023-11-14", "2023-13-14T22:13:20Z", "2023-11-14T22:13:20+1", "٢٠٢٣-11-14T22:13:20Z"]:
            self.assertIsNone(sp.parse_datetime(bad), bad)
        self.assertEqual([sp.parse_offset(v) for v in ["+10:00", "-0530", "3", "Z", "Europe/Paris"]],
                         [600, -330, 180, 0, None])

    def test_json_fields(self):
        v = {"id": "m1", "status": {"name": "DELIVERED", "group": 3}, "to": ["a", "b"], "n": None, "e": {}}
        self.assertEqual(sp.flatten("", v, ("id", "status.name")), [("status.group", "3"), ("to", '["a","b"]')])
        self.assertEqual(sp.scalars("", v), [("id", "m1"), ("status.name", "DELIVERED"), ("status.group", "3"),
                                             ("to.0", "a"), ("to.1", "b")])
        self.assertEqual(sp.json_text({"a": [1, True, None, "x\"é\n"]}), '{"a":[1,true,null,"x\\"é\\n"]}')


if __name__ == "__main__":
    unittest.main()
