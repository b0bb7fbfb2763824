//! One twilio `handle` call in a fresh wasm instance (what the router pays
//! per callback), beside the same parser compiled natively, for the
//! fixture and for signed bodies of 0.5, 4 and 32 KB.

use std::path::Path;
use std::time::{Duration, Instant};

use switchboard::plugin::wit::HttpRequest;
use switchboard_plugin_sdk::fixture::Fixture;

use super::TOKEN;
use super::reqs::twilio;

struct Case {
    name: String,
    req: switchboard_plugin_sdk::types::HttpRequest,
    token: &'static str,
    calls: usize,
}

pub fn bench(root: &Path) -> anyhow::Result<()> {
    use switchboard::plugin::{Limits, Runtime};
    use switchboard_plugin_sdk::testing::request_for;

    let fx = Fixture::load(root.join("plugins/twilio/fixtures/status-delivered.http"))
        .map_err(anyhow::Error::msg)?;
    let mut cases = vec![Case {
        name: format!("fixture ({} B)", fx.body.len()),
        req: request_for::<twilio::Twilio>(&fx, 0).map_err(anyhow::Error::msg)?,
        token: "fixture-auth-token",
        calls: 20_000,
    }];
    for (size, calls) in [(512, 20_000), (4096, 10_000), (32 << 10, 3_000)] {
        // Host `hooks.example.com`: the URL the SDK rebuilds is the signed one.
        let wire = twilio(1, "hooks.example.com", size)
            .get(0)
            .map(|r| r.into_owned())
            .unwrap_or_default();
        let fx = Fixture::parse(&wire).map_err(anyhow::Error::msg)?;
        cases.push(Case {
            name: format!("{} KB body", size as f64 / 1024.0),
            req: request_for::<twilio::Twilio>(&fx, 0).map_err(anyhow::Error::msg)?,
            token: TOKEN,
            calls,
        });
    }

    let runtime = Runtime::new(Limits::default(), None)?;
    let plugin = runtime.load(&root.join("dist/plugins/twilio.wasm"))?;
    println!("## Plugin call: twilio status callback (verify HMAC-SHA1 + parse + normalize)\n");
    println!(
        "| request | wasm median µs | wasm p99 µs | native median µs | native p99 µs | wasm / native |"
    );
    println!("|---|---|---|---|---|---|");
    let mut first = None;
    for case in &cases {
        let config = vec![("auth_token".to_string(), case.token.to_string())];
        let (req, ctx) = (
            to_host(&case.req),
            switchboard::plugin::wit::Context {
                config: config.clone(),
            },
        );
        let wasm = timed(case.calls, || {
            let out = plugin.handle(1, &req, &ctx);
            assert!(matches!(out, Ok(Ok(_))), "plugin call failed: {out:?}");
        });
        let native_ctx = switchboard_plugin_sdk::types::Context { config };
        let native = timed(case.calls, || {
            let (r, c) = (case.req.clone(), native_ctx.clone());
            assert!(switchboard_plugin_sdk::run::<twilio::Twilio>(r, c).is_ok());
        });
        let q = |v: &[Duration], p: f64| v[((v.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1}x |",
            case.name,
            q(&wasm, 0.5),
            q(&wasm, 0.99),
            q(&native, 0.5),
            q(&native, 0.99),
            q(&wasm, 0.5) / q(&native, 0.5)
        );
        if first.is_none() {
            super::summary::note("plugin_median_us", q(&wasm, 0.5));
            super::summary::note("plugin_p99_us", q(&wasm, 0.99));
            super::summary::note("native_median_us", q(&native, 0.5));
        }
        first.get_or_insert(q(&wasm, 0.5));
    }
    println!(
        "\nTarget: fresh-instance median <= 60 µs for the fixture: {:.1} µs ({})\n",
        first.unwrap_or(f64::NAN),
        if first.is_some_and(|m| m <= 60.0) {
            "met"
        } else {
            "MISSED"
        }
    );
    Ok(())
}

/// Sorted durations of `n` calls, after a warm-up of `n / 20`.
fn timed(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    let warm = n / 20;
    let mut out = Vec::with_capacity(n);
    for i in 0..n + warm {
        let t = Instant::now();
        f();
        let took = t.elapsed();
        if i >= warm {
            out.push(took);
        }
    }
    out.sort_unstable();
    out
}

/// The SDK's request (guest bindings) as the host's bindgen type.
pub(crate) fn to_host(r: &switchboard_plugin_sdk::types::HttpRequest) -> HttpRequest {
    use switchboard::plugin::wit::Method;
    HttpRequest {
        method: match r.method {
            switchboard_plugin_sdk::Method::Get => Method::Get,
            _ => Method::Post,
        },
        url: r.url.clone(),
        path: r.path.clone(),
        query: r.query.clone(),
        headers: r.headers.clone(),
        body: r.body.clone(),
        params: r.params.clone(),
        route: r.route.clone(),
        received_at: r.received_at,
        remote_addr: r.remote_addr.clone(),
    }
}
