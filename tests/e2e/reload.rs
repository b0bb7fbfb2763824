//! Hot reload: plugins added, replaced and removed while the router runs,
//! with zero failed requests under load; a broken file never replaces a
//! working version.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::*;

/// The component with a custom section appended: same behaviour, another
/// digest, so the router sees a new version.
fn new_version(wasm: &[u8], n: u8) -> Vec<u8> {
    let name = b"switchboard-reload-test";
    let mut out = wasm.to_vec();
    out.push(0); // custom section
    out.push((1 + name.len() + 1) as u8);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.push(n);
    out
}

/// Writes next to the target and renames, as operators should: a reader
/// never sees a half-written file.
fn drop_in(dir: &std::path::Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

fn digest(router: &Router, plugin: &str) -> Option<String> {
    let reply = router.admin_call("GET", "/v1/plugins");
    let plugins: serde_json::Value = serde_json::from_str(&reply.body).ok()?;
    plugins
        .as_array()?
        .iter()
        .find(|p| p["name"] == plugin)
        .and_then(|p| p["digest"].as_str().map(str::to_owned))
}

fn wait_for_digest_change(router: &Router, plugin: &str, from: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(d) = digest(router, plugin).filter(|d| d != from) {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "{plugin} was not reloaded:\n{}",
            router.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn replacing_a_plugin_under_load_fails_no_request() {
    let sink = Sink::start();
    let router = Arc::new(Router::start(&["twilio"], &http_destination(&sink.url())));
    let plugins = router.dir.join("plugins");
    let original = std::fs::read(plugins.join("twilio.wasm")).unwrap();
    let first = digest(&router, "twilio").unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (router, stop, ok, failed) =
                (router.clone(), stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                let fx = fixture("twilio", "status-delivered.http");
                while !stop.load(Ordering::Relaxed) {
                    if router.send(&fx).status == 200 {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();

    // Two new versions by file watch, one more by the admin call.
    std::thread::sleep(Duration::from_millis(300));
    drop_in(&plugins, "twilio.wasm", &new_version(&original, 1));
    let second = wait_for_digest_change(&router, "twilio", &first);
    drop_in(&plugins, "twilio.wasm", &new_version(&original, 2));
    let third = wait_for_digest_change(&router, "twilio", &second);
    std::fs::write(plugins.join("twilio.wasm"), &original).unwrap();
    let reply = router.admin_call("POST", "/v1/reload");
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("\"replaced\""), "{}", reply.body);
    let fourth = wait_for_digest_change(&router, "twilio", &third);
    assert_eq!(fourth, first);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!("3 reloads under load: {ok} requests answered 200, {failed} failed");
    assert!(ok > 50, "too little load: {ok}");
    assert_eq!(failed, 0, "{}", router.log());
}

#[test]
fn added_removed_and_broken_plugins() {
    let sink = Sink::start();
    let router = Router::start(&["twilio", "mysmsgate"], &http_destination(&sink.url()));
    let plugins = router.dir.join("plugins");
    let mysmsgate = std::fs::read(plugins.join("mysmsgate.wasm")).unwrap();
    let report = fixture("mysmsgate", "delivered.http");

    // Removed: its routes are gone.
    std::fs::remove_file(plugins.join("mysmsgate.wasm")).unwrap();
    let reply = router.admin_call("POST", "/v1/reload");
    assert!(
        reply.body.contains("\"removed\": [\n    \"mysmsgate\""),
        "{}",
        reply.body
    );
    assert_eq!(router.send(&report).status, 404);

    // Added back: served again.
    drop_in(&plugins, "mysmsgate.wasm", &mysmsgate);
    router.admin_call("POST", "/v1/reload");
    assert_eq!(router.send(&report).status, 200);

    // A broken build replacing twilio (SIGHUP this time): refused, and the
    // working version keeps serving.
    let before = digest(&router, "twilio").unwrap();
    drop_in(&plugins, "twilio.wasm", b"\0asm this is not a component");
    router.signal(1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !router.log().contains("previous version keeps serving") {
        assert!(Instant::now() < deadline, "{}", router.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(digest(&router, "twilio").as_deref(), Some(before.as_str()));
    assert_eq!(
        router.send(&fixture("twilio", "status-sent.http")).status,
        200
    );
}

#[test]
fn config_reload_applies_routes_and_new_destinations_and_refuses_a_bad_file() {
    let (a, b) = (Sink::start(), Sink::start());
    let dest = |name: &str, sink: &Sink| {
        format!(
            "[destinations.{name}]\nkind = \"http\"\nurl = \"{}\"\nallow_http = true\nallow_addresses = [\"127.0.0.1\"]\n",
            sink.url()
        )
    };
    let only_failures = format!(
        "{}\n[[routes]]\nname = \"failures\"\nmatch = {{ state = [\"failed\"] }}\nto = [\"a\"]\n",
        dest("a", &a)
    );
    let router = Router::start(&["mysmsgate"], &only_failures);
    assert_eq!(
        router.send(&mysmsgate_report("c1", "delivered")).status,
        200
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        a.count(),
        0,
        "a delivered report matched a failures-only route"
    );

    // Every event, to a and to a destination that did not exist.
    let everything = format!(
        "{}{}\n[[routes]]\nname = \"all\"\nto = [\"a\", \"b\"]\n",
        dest("a", &a),
        dest("b", &b)
    );
    let path = router.dir.join("config.toml");
    std::fs::write(&path, config(&["mysmsgate"], &everything)).unwrap();
    let reply = router.admin_call("POST", "/v1/reload");
    let report: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(report["config"], "reloaded", "{report}");
    assert_eq!(
        report["destinations_added"],
        serde_json::json!(["b"]),
        "{report}"
    );
    assert_eq!(
        router.send(&mysmsgate_report("c2", "delivered")).status,
        200
    );
    assert_eq!(a.wait_for(1, Duration::from_secs(5)).len(), 1);
    assert_eq!(b.wait_for(1, Duration::from_secs(5)).len(), 1);

    // A broken file is refused whole; the running config keeps working.
    std::fs::write(&path, "[server]\nlisten = 12\n").unwrap();
    let reply = router.admin_call("POST", "/v1/reload");
    let report: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert!(
        report["config"].as_str().unwrap().starts_with("refused: "),
        "{report}"
    );
    assert!(
        report["config"].as_str().unwrap().contains("server.listen"),
        "{report}"
    );
    assert_eq!(
        router.send(&mysmsgate_report("c3", "delivered")).status,
        200
    );
    assert_eq!(b.wait_for(2, Duration::from_secs(5)).len(), 2);
}

#[test]
fn a_changed_destination_applies_live_and_a_removed_one_keeps_its_jobs() {
    let (old, new) = (Sink::start(), Sink::start());
    let dest = |sink: &Sink, extra: &str| {
        format!(
            "[destinations.crm]\nkind = \"http\"\nurl = \"{}\"\nallow_http = true\nallow_addresses = [\"127.0.0.1\"]\n{extra}\n\
             [[routes]]\nname = \"all\"\nto = [\"crm\"]\n",
            sink.url()
        )
    };
    let router = Router::start(&["mysmsgate"], &dest(&old, ""));
    let path = router.dir.join("config.toml");
    let reload = |text: &str| -> serde_json::Value {
        std::fs::write(&path, config(&["mysmsgate"], text)).unwrap();
        serde_json::from_str(&router.admin_call("POST", "/v1/reload").body).unwrap()
    };
    assert_eq!(router.send(&mysmsgate_report("d1", "sent")).status, 200);
    assert_eq!(old.wait_for(1, Duration::from_secs(5)).len(), 1);

    // Same name, new URL, a static header and a retry schedule: no
    // restart needed.
    let report = reload(&dest(
        &new,
        "headers = { x-tenant = \"acme\" }\nretry_schedule = [\"0s\", \"2s\"]",
    ));
    assert_eq!(
        report["destinations_changed"],
        serde_json::json!(["crm"]),
        "{report}"
    );
    assert_eq!(report["restart_needed"], serde_json::json!([]), "{report}");
    assert_eq!(router.send(&mysmsgate_report("d2", "sent")).status, 200);
    let got = new.wait_for(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1, "{}", router.log());
    assert_eq!(got[0].header("x-tenant"), Some("acme"));
    assert_eq!(
        old.count(),
        1,
        "the old URL got a delivery after the reload"
    );

    // The new URL fails now: d3 waits 2 s for its retry when the
    // destination is removed. Its job stays pending...
    new.status.store(500, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(router.send(&mysmsgate_report("d3", "sent")).status, 200);
    new.wait_for_hits(2, Duration::from_secs(5));
    let report = reload("");
    assert_eq!(
        report["destinations_removed"],
        serde_json::json!(["crm"]),
        "{report}"
    );
    let pending = router.cli_json(&["deliveries", "--pending"]);
    assert_eq!(pending.as_array().map(Vec::len), Some(1), "{pending:#}");
    assert_eq!(pending[0]["event"]["data"]["message_id"], "d3");
    // ... and is delivered once the destination is configured again.
    new.status.store(200, std::sync::atomic::Ordering::SeqCst);
    let report = reload(&dest(&new, ""));
    assert_eq!(
        report["destinations_added"],
        serde_json::json!(["crm"]),
        "{report}"
    );
    let got = new.wait_for(2, Duration::from_secs(5));
    assert_eq!(got.len(), 2, "{}", router.log());
    assert_eq!(got[1].json["data"]["message_id"], "d3");
}
