//! The delivery engine against local destinations: retry schedule and
//! Retry-After, 410 disabling, dead letters and redrive, rate limit, circuit
//! breaker, SSRF guard, Standard Webhooks signatures, transforms.

use std::time::{Duration, Instant};

use crate::support::*;

fn gaps(hits: &[Hit]) -> Vec<Duration> {
    hits.windows(2).map(|w| w[1].at - w[0].at).collect()
}

#[test]
fn retry_schedule_and_retry_after_are_honoured() {
    let sink = Sink::start();
    sink.answer(&[(500, None), (429, Some("1")), (200, None)]);
    let router = Router::start(
        &["mysmsgate"],
        &sink_destination(
            &sink.url(),
            r#"retry_schedule = ["0s", "400ms", "400ms", "400ms"]"#,
        ),
    );
    assert_eq!(
        router.send(&mysmsgate_report("m1", "delivered")).status,
        200
    );
    let hits = sink.wait_for_hits(3, Duration::from_secs(10));
    assert_eq!(
        hits.iter().map(|h| h.status).collect::<Vec<_>>(),
        vec![500, 429, 200]
    );
    let g = gaps(&hits);
    // 400 ms ± 20 % jitter, then the 1 s the destination asked for.
    assert!(
        g[0] >= Duration::from_millis(300) && g[0] < Duration::from_millis(900),
        "{g:?}"
    );
    assert!(
        g[1] >= Duration::from_millis(950),
        "Retry-After ignored: {g:?}"
    );
    // Same webhook-id on every attempt, so the receiver can deduplicate.
    assert!(
        hits.iter()
            .all(|h| h.event_id == hits[0].event_id && !h.event_id.is_empty())
    );
}

#[test]
fn dead_letter_keeps_every_attempt_and_redrive_delivers_it() {
    dead_letter_and_redrive("");
}

/// Also run on the JetStream store (`cluster.rs`): `store` is its TOML.
pub fn dead_letter_and_redrive(store: &str) {
    let sink = Sink::start();
    sink.status.store(500, std::sync::atomic::Ordering::SeqCst);
    let router = Router::start(
        &["mysmsgate"],
        &format!(
            "{store}{}",
            sink_destination(&sink.url(), r#"retry_schedule = ["0s", "100ms"]"#)
        ),
    );
    assert_eq!(
        router.send(&mysmsgate_report("dead1", "failed")).status,
        200
    );
    sink.wait_for_hits(2, Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(5);
    let dead = loop {
        let dead = router.cli_json(&["deliveries"]);
        if dead.as_array().is_some_and(|a| !a.is_empty()) || Instant::now() > deadline {
            break dead;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let job = &dead[0];
    let attempts = job["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{dead:#}");
    assert!(
        attempts
            .iter()
            .all(|a| a["status"] == 500 && a["response"] == "ok")
    );
    assert!(attempts.iter().all(|a| a["latency_ms"].is_u64()));
    assert_eq!(job["event"]["data"]["message_id"], "dead1");
    // The table view names it too.
    let (code, table, _) = router.cli(&["deliveries"]);
    assert_eq!(code, 0);
    assert!(
        table.contains("HTTP 500") && table.contains("sink"),
        "{table}"
    );

    sink.status.store(200, std::sync::atomic::Ordering::SeqCst);
    let out = router.cli_json(&["redrive", "--destination", "sink"]);
    assert_eq!(out["redriven"].as_array().unwrap().len(), 1, "{out}");
    let got = sink.wait_for(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json["data"]["message_id"], "dead1");
    assert_eq!(router.cli_json(&["deliveries"]), serde_json::json!([]));

    // Delivered now: found by its event id, with its whole history.
    let event = job["event_id"].as_str().unwrap().to_owned();
    let by_event = ["deliveries", "--delivered", "--event", event.as_str()];
    let deadline = Instant::now() + Duration::from_secs(5);
    let delivered = loop {
        let d = router.cli_json(&by_event);
        if d.as_array().is_some_and(|a| !a.is_empty()) || Instant::now() > deadline {
            break d;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let d = delivered.as_array().unwrap();
    assert_eq!(d.len(), 1, "{delivered:#}");
    assert_eq!(
        (&d[0]["id"], &d[0]["destination"]),
        (&job["id"], &job["destination"])
    );
    let statuses: Vec<_> = d[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_u64())
        .collect();
    assert_eq!(statuses, [Some(500), Some(500), Some(200)], "{delivered:#}");
    let other = ["deliveries", "--delivered", "--event", "evt_none"];
    assert_eq!(router.cli_json(&other), serde_json::json!([]));
    let (code, table, _) = router.cli(&["deliveries", "--delivered"]);
    assert!(code == 0 && table.contains("HTTP 200"), "{table}");
}

#[test]
fn gone_disables_the_destination_and_its_events_wait_for_the_operator() {
    let sink = Sink::start();
    sink.answer(&[(410, None)]);
    // A name that must be encoded in the admin API's URL.
    let name = "crm & co/west";
    let config = sink_destination(&sink.url(), "concurrency = 1")
        .replace("[destinations.sink]", &format!("[destinations.\"{name}\"]"))
        .replace(r#"to = ["sink"]"#, &format!("to = [\"{name}\"]"));
    let router = Router::start(&["mysmsgate"], &config);
    assert_eq!(router.send(&mysmsgate_report("g1", "sent")).status, 200);
    sink.wait_for_hits(1, Duration::from_secs(5));
    for id in ["g2", "g3"] {
        assert_eq!(router.send(&mysmsgate_report(id, "sent")).status, 200);
    }
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        sink.hits().len(),
        1,
        "a disabled destination got deliveries"
    );
    let status = router.cli_json(&["destinations"]);
    let sink_status = &status[0];
    assert!(
        sink_status["disabled"].as_str().unwrap().contains("410"),
        "{status:#}"
    );
    assert_eq!(sink_status["backlog"], 3, "{status:#}");
    // Nothing was dead-lettered.
    assert_eq!(router.cli_json(&["deliveries"]), serde_json::json!([]));

    assert_eq!(sink_status["name"], name, "{status:#}");
    let (code, out, err) = router.cli(&["destinations", "enable", name]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("enabled"), "{out}");
    let got = sink.wait_for(3, Duration::from_secs(5));
    let mut ids: Vec<_> = got
        .iter()
        .map(|r| r.json["data"]["message_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["g1", "g2", "g3"]);
}

#[test]
fn rate_limit_holds_across_workers() {
    let sink = Sink::start();
    let router = Router::start(
        &["mysmsgate"],
        &sink_destination(&sink.url(), "rate_limit = 40\nconcurrency = 16"),
    );
    let n = 120;
    for i in 0..n {
        assert_eq!(
            router
                .send(&mysmsgate_report(&format!("r{i}"), "sent"))
                .status,
            200
        );
    }
    let hits = sink.wait_for_hits(n, Duration::from_secs(15));
    assert_eq!(hits.len(), n);
    // Measured after the small initial burst (1/20 s worth).
    let span = hits[n - 1].at - hits[2].at;
    let rate = (n - 3) as f64 / span.as_secs_f64();
    println!("rate limit 40/s: measured {rate:.1}/s over {span:?}");
    assert!(
        (36.0..=44.0).contains(&rate),
        "measured {rate:.1}/s for a limit of 40/s"
    );
}

#[test]
fn breaker_pauses_a_failing_destination_and_recovers_without_loss() {
    let sink = Sink::start();
    sink.status.store(500, std::sync::atomic::Ordering::SeqCst);
    // Three quick attempts each: without the breaker's pause every job
    // would be dead within a second.
    let router = Router::start(
        &["mysmsgate"],
        &sink_destination(
            &sink.url(),
            "retry_schedule = [\"0s\", \"50ms\", \"50ms\"]\nbreaker_threshold = 3\nbreaker_cooldown = \"1s\"\nconcurrency = 4",
        ),
    );
    for id in ["b1", "b2", "b3", "b4"] {
        assert_eq!(router.send(&mysmsgate_report(id, "sent")).status, 200);
    }
    let first = sink.wait_for_hits(3, Duration::from_secs(5));
    let opened = first[2].at;
    std::thread::sleep(Duration::from_millis(300));
    let status = router.cli_json(&["destinations"]);
    assert_eq!(status[0]["breaker"], "open", "{status:#}");
    assert_eq!(status[0]["backlog"], 4, "{status:#}");
    std::thread::sleep(Duration::from_millis(400));
    let during: Vec<_> = sink.hits().into_iter().filter(|h| h.at > opened).collect();
    assert!(during.len() <= 1, "attempts while open: {}", during.len());
    // One probe after the cool-down (fails: reopens for 2 s), then the
    // destination recovers and the next probe closes the breaker.
    let probe = sink.wait_for_hits(first.len() + 1, Duration::from_secs(3));
    assert!(probe.len() > first.len());
    sink.status.store(200, std::sync::atomic::Ordering::SeqCst);
    let got = sink.wait_for(4, Duration::from_secs(8));
    let mut ids: Vec<_> = got
        .iter()
        .map(|r| r.json["data"]["message_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["b1", "b2", "b3", "b4"], "{}", router.log());
    assert_eq!(router.cli_json(&["deliveries"]), serde_json::json!([]));
    assert!(router.log().contains("circuit breaker open"));
}

#[test]
fn private_addresses_are_refused_without_the_allow_list() {
    let sink = Sink::start();
    // A literal loopback address: refused when the config is loaded.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &[],
        &format!(
            "[destinations.sink]\nkind = \"http\"\nurl = \"{}\"\nallow_http = true\n\n[[routes]]\nname = \"all\"\nto = [\"sink\"]\n",
            sink.url()
        ),
    );
    std::fs::write(dir.path().join("config.toml"), cfg).unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    let out = check_config(&dir.path().join("config.toml"), &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("destinations.sink.url") && err.contains("loopback"),
        "{err}"
    );

    // A host name that resolves to loopback: refused after DNS resolution.
    let url = format!("http://localhost:{}/hook", sink.addr.port());
    let router = Router::start(
        &["mysmsgate"],
        &format!(
            "[destinations.sink]\nkind = \"http\"\nurl = \"{url}\"\nallow_http = true\n\n[[routes]]\nname = \"all\"\nto = [\"sink\"]\n"
        ),
    );
    assert_eq!(router.send(&mysmsgate_report("s1", "sent")).status, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    let pending = loop {
        let p = router.cli_json(&["deliveries", "--pending"]);
        if p[0]["attempts"].as_array().is_some_and(|a| !a.is_empty()) || Instant::now() > deadline {
            break p;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let error = pending[0]["attempts"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains("loopback"), "{pending:#}");
    assert_eq!(sink.hits().len(), 0);
}

/// Verifies a delivery with the Standard Webhooks Python library when it
/// is installed (`./dev test` installs it), else with a stdlib
/// implementation of the spec: either way, not our Rust code.
pub(crate) fn verify_in_python(r: &Received, secret: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("body"), &r.body).unwrap();
    let headers: serde_json::Map<String, serde_json::Value> = r
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("webhook-"))
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    std::fs::write(
        dir.path().join("headers"),
        serde_json::to_vec(&headers).unwrap(),
    )
    .unwrap();
    let script = r#"
import base64, hashlib, hmac, json, sys, time
body = open(sys.argv[1], "rb").read()
headers = json.load(open(sys.argv[2]))
secret = sys.argv[3]
try:
    from standardwebhooks.webhooks import Webhook
except ImportError:
    Webhook = None
if Webhook:
    Webhook(secret).verify(body.decode(), headers)
    print("verified by standardwebhooks")
else:
    key = base64.b64decode(secret[len("whsec_"):])
    signed = ("%s.%s." % (headers["webhook-id"], headers["webhook-timestamp"])).encode() + body
    want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert abs(time.time() - int(headers["webhook-timestamp"])) < 300, "stale timestamp"
    sigs = [s.split(",", 1)[1] for s in headers["webhook-signature"].split(" ")]
    assert any(hmac.compare_digest(want, s) for s in sigs), "no signature matches"
    print("verified by the spec (stdlib)")
"#;
    let venv = root().join("target/pyenv/bin/python");
    let python = if venv.exists() {
        venv
    } else {
        "python3".into()
    };
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(dir.path().join("body"))
        .arg(dir.path().join("headers"))
        .arg(secret)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn deliveries_carry_standard_webhooks_signatures_for_every_secret() {
    let new = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let old = "whsec_c2VjcmV0LWJlaW5nLXJvdGF0ZWQtb3V0LW5vdw==";
    let sink = Sink::start();
    sink.answer(&[(500, None)]);
    let router = Router::start(
        &["mysmsgate"],
        &sink_destination(
            &sink.url(),
            &format!(
                "signing_secret = [\"{new}\", \"{old}\"]\nretry_schedule = [\"0s\", \"200ms\"]\nheaders = {{ x-team = \"sms\" }}"
            ),
        ),
    );
    assert_eq!(
        router.send(&mysmsgate_report("sig1", "delivered")).status,
        200
    );
    let got = sink.wait_for(1, Duration::from_secs(5));
    let r = &got[0];
    assert_eq!(r.header("x-team"), Some("sms"));
    let sigs: Vec<&str> = r.header("webhook-signature").unwrap().split(' ').collect();
    assert_eq!(sigs.len(), 2, "one signature per secret");
    // Each secret alone verifies (receivers mid-rotation hold either).
    for secret in [new, old] {
        let how = verify_in_python(r, secret);
        println!("{how}");
    }
    let hits = sink.hits();
    assert_eq!(hits.len(), 2);
    assert_eq!(
        hits[0].event_id, hits[1].event_id,
        "webhook-id changed across a retry"
    );
}

#[test]
fn a_route_transform_shapes_the_forwarded_json() {
    let sink = Sink::start();
    let extra = format!(
        "[destinations.crm]\nkind = \"http\"\nurl = \"{}\"\nallow_http = true\nallow_addresses = [\"127.0.0.1/32\"]\n\n\
         [[routes]]\nname = \"crm\"\nto = [\"crm\"]\n\
         transform = {{ template = {{ phone = \"{{data.to}}\", status = \"{{data.state}}\", note = \"{{provider}} says {{data.message_id}} is {{data.state}}\", source = \"switchboard\" }} }}\n",
        sink.url()
    );
    let router = Router::start(&["mysmsgate"], &extra);
    assert_eq!(
        router.send(&mysmsgate_report("t1", "delivered")).status,
        200
    );
    let got = sink.wait_for(1, Duration::from_secs(5));
    assert_eq!(
        got[0].json,
        serde_json::json!({
            "phone": "+61400000000", "status": "delivered",
            "note": "mysmsgate says t1 is delivered", "source": "switchboard"
        })
    );
}
