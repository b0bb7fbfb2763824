//! Operating commands against a running router: captures, events, plugins,
//! and replay of rejected callbacks once the config is fixed (duplicates
//! still not forwarded twice).

use std::time::Duration;

use crate::support::*;

fn with_secret(secret: &str, sink: &Sink) -> String {
    config(
        &[],
        &format!(
            "[plugins.mysmsgate]\nsecret = \"{secret}\"\n\n{}",
            http_destination(&sink.url())
        ),
    )
}

#[test]
fn rejected_callbacks_are_replayed_after_a_fix_and_forwarded_once() {
    let sink = Sink::start();
    let mut router =
        Router::start_with_config(&["mysmsgate"], &with_secret("wrong-secret-123", &sink));
    for id in ["rp1", "rp2", "rp3"] {
        assert_eq!(router.send(&mysmsgate_report(id, "delivered")).status, 403);
    }
    let rejected = router.cli_json(&["captures", "--status", "rejected"]);
    assert_eq!(rejected.as_array().unwrap().len(), 3, "{rejected:#}");
    assert_eq!(rejected[0]["plugin"], "mysmsgate");

    // The operator fixes the secret and restarts.
    assert_eq!(router.terminate(), Some(0));
    std::fs::write(
        router.dir.join("config.toml"),
        with_secret("fixture-secret", &sink),
    )
    .unwrap();
    let router = Router::spawn(&router.dir);

    let out = router.cli_json(&["replay", "--plugin", "mysmsgate", "--status", "rejected"]);
    let results = out.as_array().unwrap();
    assert_eq!(results.len(), 3, "{out:#}");
    assert!(
        results
            .iter()
            .all(|r| r["before"] == "rejected" && r["after"] == "accepted" && r["events"] == 1),
        "{out:#}"
    );
    // Oldest first, as they arrived.
    let ids: Vec<u64> = results
        .iter()
        .map(|r| r["capture"].as_u64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let got = sink.wait_for(3, Duration::from_secs(5));
    let mut msgs: Vec<_> = got
        .iter()
        .map(|r| r.json["data"]["message_id"].as_str().unwrap().to_owned())
        .collect();
    msgs.sort();
    assert_eq!(msgs, vec!["rp1", "rp2", "rp3"]);

    // Replaying again changes nothing downstream: the events are duplicates.
    let again = router.cli_json(&["replay", "--capture", &ids[0].to_string()]);
    assert_eq!(again[0]["after"], "accepted");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sink.count(), 3);

    let events = router.cli_json(&["events"]);
    assert_eq!(events.as_array().unwrap().len(), 3, "{events:#}");
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["duplicates"].as_u64() >= Some(1))
    );
    let plugins = router.cli_json(&["plugins"]);
    assert_eq!(plugins[0]["name"], "mysmsgate");
    // One live callback too (the counters are the running process's).
    assert_eq!(router.send(&mysmsgate_report("rp4", "sent")).status, 200);
    sink.wait_for(4, Duration::from_secs(5));
    let wants = [
        r#"switchboard_requests_total{plugin="mysmsgate",route="/mySmsGateCallback",status="200"} 1"#,
        r#"switchboard_events_total{provider="mysmsgate",kind="delivery-status",state="delivered",disposition="routed"} 3"#,
        r#"disposition="duplicate"} 1"#,
        r#"switchboard_deliveries_total{destination="sink",outcome="delivered"} 4"#,
        r#"switchboard_backlog{destination="sink"} 0"#,
        "switchboard_plugin_call_seconds_bucket",
        "switchboard_store_size_bytes",
        r#"switchboard_rule_matches_total{route="all"} 4"#,
    ];
    // The sink answering comes just before the router counts the delivery.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let metrics = loop {
        let m = router.admin_call("GET", "/metrics").body;
        if wants.iter().all(|w| m.contains(w)) || std::time::Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for want in wants {
        assert!(metrics.contains(want), "{want} not in\n{metrics}");
    }
    let (code, table, _) = router.cli(&["captures"]);
    assert_eq!(code, 0);
    assert!(
        table.contains("CAPTURE") && table.contains("mysmsgate"),
        "{table}"
    );
}

#[test]
fn captures_refused_by_protection_are_not_replayable() {
    let sink = Sink::start();
    let cfg = config(
        &[],
        &format!(
            "[plugins.mysmsgate]\nsecret = \"fixture-secret\"\n[plugins.mysmsgate.protect]\nallow_ips = [\"203.0.113.0/24\"]\n\n{}",
            http_destination(&sink.url())
        ),
    );
    let router = Router::start_with_config(&["mysmsgate"], &cfg);
    assert_eq!(router.send(&mysmsgate_report("p1", "sent")).status, 403);
    let out = router.cli_json(&["replay", "--status", "rejected"]);
    assert!(
        out[0]["error"].as_str().unwrap().contains("protection"),
        "{out:#}"
    );
    assert_eq!(out[0]["after"], "rejected");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.count(), 0);
}

#[test]
fn the_admin_api_wants_its_token_when_one_is_set() {
    let sink = Sink::start();
    let cfg = format!(
        "[admin]\ntoken = \"admin-token-for-tests\"\n\n{}",
        http_destination(&sink.url())
    );
    let router = Router::start(&["mysmsgate"], &cfg);
    assert_eq!(router.admin_call("GET", "/v1/destinations").status, 401);
    assert_eq!(router.admin_call("GET", "/metrics").status, 401);
    let ok = router.admin_call_with(
        "GET",
        "/v1/destinations",
        &[("authorization", "Bearer admin-token-for-tests")],
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    let wrong = router.admin_call_with(
        "GET",
        "/v1/destinations",
        &[("authorization", "Bearer nope")],
    );
    assert_eq!(wrong.status, 401);
}

#[test]
fn sigterm_under_load_loses_nothing_acknowledged() {
    use std::sync::{Arc, Mutex};
    let sink = Sink::start();
    let mut router = Router::start(&["mysmsgate"], &http_destination(&sink.url()));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let addr = router.addr;
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let acked = acked.clone();
            std::thread::spawn(move || {
                for i in 0..400 {
                    let id = format!("term{t}-{i}");
                    let req = mysmsgate_report(&id, "delivered").to_http(&addr.to_string());
                    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
                        return;
                    };
                    use std::io::{Read, Write};
                    if s.write_all(&req).is_err() {
                        return;
                    }
                    let mut buf = Vec::new();
                    let _ = s.read_to_end(&mut buf);
                    if buf.starts_with(b"HTTP/1.1 200") {
                        acked.lock().unwrap().push(id);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(router.terminate(), Some(0), "{}", router.log());
    for s in senders {
        s.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 10,
        "too little load before the stop: {}",
        acked.len()
    );
    // Whatever was acknowledged is delivered, now or after the restart.
    let _restarted = Router::spawn(&router.dir);
    let got = sink.wait_for(acked.len(), Duration::from_secs(20));
    let delivered: std::collections::BTreeSet<String> = got
        .iter()
        .map(|r| r.json["data"]["message_id"].as_str().unwrap().to_owned())
        .collect();
    let lost: Vec<_> = acked.iter().filter(|id| !delivered.contains(*id)).collect();
    println!(
        "SIGTERM under load: {} acknowledged, {} delivered, {} lost",
        acked.len(),
        delivered.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged but not delivered: {lost:?}");
}
