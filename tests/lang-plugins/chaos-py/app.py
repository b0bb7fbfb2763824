"""A Python plugin that misbehaves on purpose, one way per path, so the
end-to-end fault tests can prove a Python plugin that loops, exhausts its
memory or raises is cut off like the Rust `chaos` plugin
(tests/plugins/chaos). `/chaosPy/ok` behaves, emitting one delivery event.
Built with `plugins/build-python.sh --dir tests/lang-plugins/chaos-py
--out dist/test-plugins/chaos-py.wasm`."""

import sys

import switchboard_plugin as sp
from switchboard_plugin import DeliveryState


class ChaosPy:
    def describe(self):
        return sp.plugin_info(
            "chaos-py",
            "0.1.0",
            "test plugin (Python): loops, memory bombs, exceptions, errors, noise",
            routes=[sp.route("POST", "/chaosPy/{mode}", "misbehave as `mode` says")],
            config_keys=[],
            # As the Rust chaos plugin: what the provider hears when the
            # callback is quarantined.
            accept_reply=sp.reply_text(202, "accepted"),
        )

    def handle(self, req, config):
        mode = req.param("mode", "")
        if mode == "ok":
            mid = req.query().get("id") or "m1"
            ds = sp.delivery_status(mid, DeliveryState.DELIVERED, "DELIVRD")
            return sp.outcome([sp.event(mid, ds)])
        if mode == "loop":
            x = 0
            while True:
                x += 1
        if mode == "oom":
            hoard = []
            while True:
                hoard.append(bytearray(b"\x01" * (1 << 20)))
        if mode == "panic":
            raise RuntimeError("chaos-py plugin raised on purpose")
        if mode == "error":
            raise sp.Internal("chaos-py reports an internal error")
        if mode == "noisy":
            print("chaos-py says hello on stdout")
            print("chaos-py says hello on stderr", file=sys.stderr)
            return sp.outcome([])
        raise sp.Unsupported(f"unknown mode `{mode}`")


Plugin = sp.export(ChaosPy)
