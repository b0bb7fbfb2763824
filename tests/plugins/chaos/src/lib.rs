//! A plugin that misbehaves on purpose, one way per path, so the end-to-end
//! tests can prove that a bad plugin fails only its own request.
//! `/chaos/ok` behaves, emitting one delivery event.

use switchboard_plugin_sdk::types::Route;
use switchboard_plugin_sdk::*;

pub struct Chaos;
switchboard_plugin_sdk::export_plugin!(Chaos);

impl Plugin for Chaos {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "chaos".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "test plugin: loops, memory bombs, panics, sleeps, garbage output".into(),
            routes: vec![Route::new(
                &[Method::Get, Method::Post],
                "/chaos/{mode}",
                "misbehave as `mode` says",
            )],
            config_keys: vec![],
            accept_reply: reply_text(202, "accepted"),
        }
    }

    fn handle(req: &Request, _config: &Config) -> Result<Outcome, PluginError> {
        match req.param("mode").unwrap_or("") {
            "ok" => {
                let id = req.query().get("id").unwrap_or("m1").to_owned();
                let ds = DeliveryStatus::new(&id, DeliveryState::Delivered, "DELIVRD");
                Ok(Outcome::events(vec![Event::new(
                    id,
                    EventKind::DeliveryStatus(ds),
                )]))
            }
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "oom" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "stack" => Ok(Outcome::events(vec![Event::new(
                recurse(std::hint::black_box(1)).to_string(),
                EventKind::DeliveryStatus(DeliveryStatus::new("x", DeliveryState::Sent, "x")),
            )])),
            "panic" => panic!("chaos plugin panicked on purpose"),
            "noisy" => {
                println!("chaos says hello on stdout");
                eprintln!("chaos says hello on stderr");
                Ok(Outcome::events(vec![]))
            }
            "flood" => {
                // More events than the host accepts from one request (1000 by default).
                let events = (0..2_000)
                    .map(|i| {
                        let ds = DeliveryStatus::new(&format!("m{i}"), DeliveryState::Sent, "x");
                        Event::new(format!("e{i}"), EventKind::DeliveryStatus(ds))
                    })
                    .collect();
                Ok(Outcome::events(events))
            }
            "hugereply" => {
                Ok(Outcome::events(vec![]).with_reply(reply_text(200, &"x".repeat(4 << 20))))
            }
            "sleep" => {
                // Plugins get frozen clocks; the sleep is the host's to bound.
                let ms = req
                    .query()
                    .get("ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(3000);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                Ok(Outcome::events(vec![]))
            }
            "badstatus" => Ok(Outcome::events(vec![]).with_reply(reply(42))),
            "error" => Err(PluginError::Internal(
                "chaos reports an internal error".into(),
            )),
            other => Err(unsupported(format!("unknown mode `{other}`"))),
        }
    }
}

fn recurse(n: u64) -> u64 {
    let pad = std::hint::black_box([n; 64]);
    if pad[3] == 0 {
        0
    } else {
        recurse(n + 1) + pad[7]
    }
}
