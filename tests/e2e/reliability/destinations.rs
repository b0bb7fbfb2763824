//! A destination that fails in every way a network can: nothing is lost,
//! nothing sticks, nothing is retried forever.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::wait_until;
use crate::support::*;

/// How the faulty destination treats one attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// A whole answer: status and optional `Retry-After`.
    Answer(u16, Option<&'static str>),
    /// Answers 200, but only after this long (beyond the router's timeout).
    Slow(Duration),
    /// Writes half a status line and headers, then closes the connection.
    HalfHead,
}

/// One attempt the faulty destination saw.
#[derive(Debug, Clone)]
struct Seen {
    message_id: String,
    webhook_id: String,
    fault: Fault,
}

type Plan = Arc<dyn Fn(&str, usize) -> Fault + Send + Sync>;

/// A destination whose answer depends on the message and on how many
/// attempts for it came before (`plan(message_id, attempt_index)`).
struct FaultySink {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FaultySink {
    fn start_on(listener: TcpListener, plan: Plan) -> FaultySink {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, plan) = (state.clone(), plan.clone());
                std::thread::spawn(move || serve_faults(stream, &seen, &plan));
            }
        });
        FaultySink { seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Attempts for one message, in order.
    fn of(&self, message_id: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.message_id == message_id)
            .collect()
    }
}

fn serve_faults(stream: TcpStream, seen: &Mutex<Vec<Seen>>, plan: &Plan) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let (mut len, mut webhook_id) = (0usize, String::new());
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let Some((k, v)) = h.trim_end().split_once(':') else {
                break;
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().unwrap_or(0),
                "webhook-id" => webhook_id = v.trim().to_owned(),
                _ => {}
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let message_id = json["data"]["message_id"].as_str().unwrap_or("").to_owned();
        let fault = {
            let mut seen = seen.lock().unwrap();
            let before = seen.iter().filter(|s| s.message_id == message_id).count();
            let fault = plan(&message_id, before);
            seen.push(Seen {
                message_id,
                webhook_id,
                fault,
            });
            fault
        };
        let (code, retry_after) = match fault {
            Fault::Answer(code, retry_after) => (code, retry_after),
            Fault::Slow(d) => {
                std::thread::sleep(d);
                (200, None)
            }
            Fault::HalfHead => {
                let _ = out.write_all(b"HTTP/1.1 200 OK\r\ncontent-ty");
                let _ = out.shutdown(std::net::Shutdown::Both);
                return;
            }
        };
        let extra = retry_after.map_or(String::new(), |v| format!("retry-after: {v}\r\n"));
        let resp = format!("HTTP/1.1 {code} X\r\n{extra}content-length: 2\r\n\r\nok");
        if out.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn destination_faults_lose_nothing_stick_nothing_and_retry_nothing_forever() {
    // Ten attempts, about 2 s in all; a 500 ms timeout per attempt.
    let schedule = r#"["0s", "100ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms"]"#;
    let attempts = 10;
    let addr = Sink::reserve_port();
    let router = Router::start(
        &["mysmsgate"],
        &format!(
            "[destinations.sink]\nkind = \"http\"\nurl = \"http://{addr}/hook\"\nallow_http = true\n\
             allow_addresses = [\"127.0.0.1\"]\ntimeout = \"500ms\"\nretry_schedule = {schedule}\n\
             breaker_threshold = 1000\n\n[[routes]]\nname = \"all\"\nto = [\"sink\"]\n"
        ),
    );
    let send = |id: &str| {
        assert_eq!(
            router.send(&mysmsgate_report(id, "delivered")).status,
            200,
            "{id}"
        )
    };

    // 1. Down: nothing listens. The callbacks are acknowledged all the same
    // and their deliveries wait, failing, in the schedule.
    let down = ["down-1", "down-2", "down-3"];
    for id in down {
        send(id);
    }
    let failing = wait_until(Duration::from_secs(5), || {
        let p = router.cli_json(&["deliveries", "--pending"]);
        let list = p.as_array()?;
        let tried = list
            .iter()
            .filter(|j| j["attempts"].as_array().is_some_and(|a| a.len() >= 2))
            .count();
        (list.len() == down.len() && tried == down.len()).then_some(p)
    })
    .expect("deliveries to a down destination were not retried");
    let refused = failing[0]["attempts"][0]["error"].as_str().unwrap_or("");
    println!("while down: {refused}");

    // 2. Up, and faulty: each message meets its own fault first.
    let plan: Plan = Arc::new(|id: &str, n: usize| match (id, n) {
        ("slow-1", 0 | 1) => Fault::Slow(Duration::from_millis(1500)),
        ("half-1", 0 | 1) => Fault::HalfHead,
        ("error-1", 0..=2) => Fault::Answer(500, None),
        ("throttle-1", 0) => Fault::Answer(429, Some("1")),
        ("dead-1", _) => Fault::Answer(500, None),
        _ => Fault::Answer(200, None),
    });
    let sink = FaultySink::start_on(TcpListener::bind(addr).unwrap(), plan);
    let faulty = ["slow-1", "half-1", "error-1", "throttle-1", "ok-1"];
    for id in faulty.iter().chain(&["dead-1"]) {
        send(id);
    }
    let expected: Vec<&str> = down.iter().chain(&faulty).copied().collect();
    // A slow 200 comes after the router gave up on it: not a delivery.
    let delivered = |s: &Seen| s.fault == Fault::Answer(200, None);
    let done = wait_until(Duration::from_secs(20), || {
        let ok: BTreeSet<String> = sink
            .seen()
            .iter()
            .filter(|s| delivered(s))
            .map(|s| s.message_id.clone())
            .collect();
        let dead = router.admin_call("GET", "/v1/deliveries?state=dead").body;
        (expected.iter().all(|id| ok.contains(*id)) && dead.contains("dead-1")).then_some(())
    });
    let seen = sink.seen();
    assert!(
        done.is_some(),
        "not all delivered / dead-lettered: {seen:#?}\n{}",
        router.log()
    );

    // Nothing lost, and once delivered never sent again.
    for id in &expected {
        let hits = sink.of(id);
        let oks = hits.iter().filter(|s| delivered(s)).count();
        assert_eq!(oks, 1, "{id}: {hits:?}");
        assert_eq!(
            hits.last().map(|s| s.fault),
            Some(Fault::Answer(200, None)),
            "{id}: {hits:?}"
        );
        // One webhook-id for all attempts: a receiver that processed the
        // slow attempt anyway can drop the later one.
        let ids: BTreeSet<&str> = hits.iter().map(|s| s.webhook_id.as_str()).collect();
        assert_eq!(ids.len(), 1, "{id}: {hits:?}");
    }
    assert_eq!(sink.of("slow-1").len(), 3);
    assert_eq!(sink.of("half-1").len(), 3);
    assert_eq!(sink.of("error-1").len(), 4);
    assert_eq!(sink.of("throttle-1").len(), 2);

    // Nothing retried forever: the always-failing one is dead after the
    // schedule, every attempt recorded, and no attempt after that.
    let dead: serde_json::Value =
        serde_json::from_str(&router.admin_call("GET", "/v1/deliveries?state=dead").body).unwrap();
    let dead = dead.as_array().unwrap();
    assert_eq!(dead.len(), 1, "{dead:#?}");
    assert_eq!(dead[0]["event"]["data"]["message_id"], "dead-1");
    let tried = dead[0]["attempts"].as_array().unwrap();
    assert_eq!(tried.len(), attempts, "{tried:#?}");
    assert!(tried.iter().all(|a| a["status"] == 500), "{tried:#?}");
    let (code, table, _) = router.cli(&["deliveries"]);
    assert_eq!(code, 0);
    assert!(table.contains("HTTP 500"), "{table}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sink.of("dead-1").len(), attempts);

    // Nothing stuck: no pending job, an empty backlog.
    assert_eq!(
        router.cli_json(&["deliveries", "--pending"]),
        serde_json::json!([])
    );
    let metrics = router.admin_call("GET", "/metrics").body;
    assert!(
        metrics.contains(r#"switchboard_backlog{destination="sink"} 0"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"switchboard_deliveries_total{destination="sink",outcome="dead"} 1"#),
        "{metrics}"
    );
    let by_fault = |f: fn(&Fault) -> bool| seen.iter().filter(|s| f(&s.fault)).count();
    println!(
        "destination faults: {} attempts seen by the destination ({} slow, {} cut mid-response, {} HTTP 5xx, {} HTTP 429), {} delivered, 1 dead after {attempts} attempts",
        sink.seen().len(),
        by_fault(|f| matches!(f, Fault::Slow(_))),
        by_fault(|f| *f == Fault::HalfHead),
        by_fault(|f| matches!(f, Fault::Answer(500..=599, _))),
        by_fault(|f| matches!(f, Fault::Answer(429, _))),
        expected.len(),
    );
}
