//! Proof under fire (issue 7): SIGKILL at random moments under a load of
//! callbacks, a destination that fails in every way a network can, plugin
//! faults counted in the metrics, and a data directory that runs out of
//! space or goes read-only. Each test prints the counts it saw.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::support::*;

mod destinations;
mod storage;

/// Sends `req` to `addr` on a fresh connection; the reply's status, or
/// `None` if the connection failed (router down, killed mid-request).
fn try_send(addr: SocketAddr, req: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(req).ok()?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let head = std::str::from_utf8(buf.get(..12)?).ok()?;
    head.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Every acknowledged message id is in the router's store; returns what is stored.
fn assert_all_stored(acked: &BTreeSet<String>, router: &Router) -> BTreeSet<String> {
    let stored = stored_message_ids(router);
    let missing: Vec<_> = acked.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged, not stored: {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
    stored
}

/// Message ids of every accepted capture in the store, paging the admin API.
fn stored_message_ids(router: &Router) -> BTreeSet<String> {
    use base64::Engine as _;
    let mut ids = BTreeSet::new();
    let mut before = String::new();
    for _ in 0..100 {
        let page = router.admin_call(
            "GET",
            &format!("/v1/captures?plugin=mysmsgate&limit=1000{before}"),
        );
        assert_eq!(page.status, 200, "{}", page.body);
        let list: Vec<serde_json::Value> = serde_json::from_str(&page.body).unwrap();
        let Some(last) = list.last() else { break };
        before = format!("&before={}", last["id"]);
        for c in &list {
            // `status` is the tagged `CaptureStatus`: {"status": "accepted"}.
            if c["status"]["status"] != "accepted" {
                continue;
            }
            let body = base64::engine::general_purpose::STANDARD
                .decode(c["body"].as_str().unwrap_or_default())
                .unwrap_or_default();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            if let Some(id) = json["message_id"].as_str() {
                ids.insert(id.to_owned());
            }
        }
    }
    ids
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_callback() {
    let seed: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("crash test seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // The destination stays up: deliveries are under way when the router
    // dies, so some go out twice (killed after sending, before recording).
    let sink = Sink::start();
    let mut routers = vec![Router::start(
        &["mysmsgate"],
        &http_destination(&sink.url()),
    )];
    let dir = routers[0].dir.clone();
    let current = Arc::new(RwLock::new(routers[0].addr));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let sent = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let (current, stop, acked, sent) =
                (current.clone(), stop.clone(), acked.clone(), sent.clone());
            std::thread::spawn(move || {
                for i in 0..3000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let id = format!("kill{t}-{i}");
                    // Like a provider: a callback without a 2xx is sent
                    // again (a few times), to whichever router is up.
                    for _ in 0..5 {
                        let addr = *current.read().unwrap();
                        let req = mysmsgate_report(&id, "delivered").to_http(&addr.to_string());
                        sent.fetch_add(1, Ordering::SeqCst);
                        match try_send(addr, &req) {
                            Some(s) if (200..300).contains(&s) => {
                                acked.lock().unwrap().insert(id.clone());
                                break;
                            }
                            _ => std::thread::sleep(Duration::from_millis(30)),
                        }
                    }
                }
            })
        })
        .collect();
    let kills = 4;
    for round in 0..kills {
        // Under load: wait for acknowledgements from this incarnation.
        let before = acked.lock().unwrap().len();
        let deadline = Instant::now() + Duration::from_secs(10);
        while acked.lock().unwrap().len() < before + 20 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..800)));
        let at = acked.lock().unwrap().len();
        routers.last_mut().unwrap().kill9();
        println!("kill {} of {kills} after {at} acknowledged", round + 1);
        let next = Router::spawn(&dir);
        *current.write().unwrap() = next.addr;
        routers.push(next);
    }
    // Some load on the last incarnation too, then stop the providers.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    for s in senders {
        s.join().unwrap();
    }
    let router = routers.last().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 100, "too little load: {} acked", acked.len());

    // Every acknowledged callback is in the store ...
    let stored = assert_all_stored(&acked, router);
    // ... and its event reaches the destination.
    let message_of = |r: &Received| {
        r.json["data"]["message_id"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got: BTreeSet<String> = sink.events().iter().map(message_of).collect();
        if acked.is_subset(&got) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Anything still in flight lands before counting.
    std::thread::sleep(Duration::from_millis(300));
    let received = sink.events();
    let mut ids_per_message: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in &received {
        let webhook_id = r.header("webhook-id").unwrap_or("").to_owned();
        ids_per_message
            .entry(message_of(r))
            .or_default()
            .insert(webhook_id);
    }
    let lost: Vec<_> = acked
        .iter()
        .filter(|id| !ids_per_message.contains_key(*id))
        .collect();
    let unique: BTreeSet<&String> = ids_per_message.values().flatten().collect();
    println!(
        "SIGKILL x{kills}: {} sent, {} acknowledged, {} stored, {} delivered unique (by webhook-id), {} duplicates, {} delivered without an ack, {} lost",
        sent.load(Ordering::SeqCst),
        acked.len(),
        stored.len(),
        unique.len(),
        received.len() - unique.len(),
        ids_per_message
            .keys()
            .filter(|k| !acked.contains(*k))
            .count(),
        lost.len()
    );
    assert!(
        lost.is_empty(),
        "{} acknowledged, never delivered: {:?}\n{}",
        lost.len(),
        &lost[..lost.len().min(20)],
        router.log()
    );
    // A receiver deduplicating on webhook-id sees each callback once: every
    // resend and redelivery carried the same id.
    let split: Vec<_> = ids_per_message
        .iter()
        .filter(|(_, ids)| ids.len() != 1)
        .collect();
    assert!(
        split.is_empty(),
        "one callback, several webhook-ids: {split:?}"
    );
    assert_eq!(unique.len(), ids_per_message.len());
}

/// Polls `f` every 50 ms until it returns `Some`, at most `within`.
fn wait_until<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of one metric line (`name{labels}`) in a Prometheus text, 0 if absent.
fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[test]
fn plugin_faults_are_bounded_isolated_and_counted_in_metrics() {
    let sink = Sink::start();
    let router = Router::start(&["twilio", "chaos"], &http_destination(&sink.url()));
    // Mode, and the `kind` it is counted as in switchboard_plugin_failures_total.
    let modes = [
        ("loop", "timeout"),
        ("oom", "oom"),
        ("stack", "trap"),
        ("panic", "trap"),
        ("hugereply", "invalid-output"),
        ("badstatus", "invalid-output"),
        ("flood", "invalid-output"),
        ("error", "error"),
    ];
    let mut want: BTreeMap<&str, u64> = BTreeMap::new();
    for (mode, kind) in modes {
        let started = Instant::now();
        let reply = router.send_raw(
            format!("POST /api/v1/chaos/{mode} HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}").as_bytes(),
        );
        let took = started.elapsed();
        // Quarantined and answered with the plugin's accept reply.
        assert_eq!(reply.status, 202, "{mode}: {reply:?}");
        assert!(took < Duration::from_secs(5), "{mode} took {took:?}");
        println!("chaos {mode}: {} in {took:?}", reply.status);
        *want.entry(kind).or_default() += 1;
        // The other plugin keeps serving.
        assert_eq!(
            router.post("twilio", "status-sent.http"),
            200,
            "after {mode}"
        );
        let metrics = router.admin_call("GET", "/metrics").body;
        for (kind, n) in &want {
            let series =
                format!("switchboard_plugin_failures_total{{plugin=\"chaos\",kind=\"{kind}\"}}");
            assert_eq!(
                metric(&metrics, &series),
                *n,
                "after {mode}: {series}\n{metrics}"
            );
        }
    }
    let metrics = router.admin_call("GET", "/metrics").body;
    let quarantined = metrics
        .lines()
        .filter(|l| {
            l.starts_with("switchboard_requests_total{plugin=\"chaos\"")
                && l.contains("status=\"202\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum::<u64>();
    assert_eq!(quarantined, modes.len() as u64, "{metrics}");
    assert!(
        !metrics.contains("plugin_failures_total{plugin=\"twilio\""),
        "{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            r#"switchboard_requests_total{plugin="twilio",route="/smsCallback",status="200"}"#
        ),
        modes.len() as u64,
        "{metrics}"
    );
    // Every failed call is kept for replay.
    let kept = router.cli_json(&["captures", "--status", "quarantined"]);
    assert_eq!(kept.as_array().unwrap().len(), modes.len(), "{kept:#}");
}

#[test]
fn a_sleeping_plugin_is_bounded_by_the_call_timeout() {
    let router = Router::start(&["twilio", "chaos"], "");
    let started = Instant::now();
    let reply = router.send_raw(
        b"POST /api/v1/chaos/sleep?ms=3000 HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
    );
    let took = started.elapsed();
    println!("chaos sleep 3 s: {} in {took:?}", reply.status);
    let metrics = router.admin_call("GET", "/metrics").body;
    println!(
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("plugin_failures_total{"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        took < Duration::from_secs(2),
        "{took:?} {reply:?}\n{}",
        router.log()
    );
}
