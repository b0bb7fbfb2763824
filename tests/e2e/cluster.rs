//! Several routers on one NATS JetStream store: a real `nats-server -js`
//! on loopback (installed by `./dev test`), real router processes, real
//! callbacks spread across them. The operations tests of the sled store
//! (dead letters and redrive, replay after a fixed plugin) run here again
//! on JetStream.

use std::collections::{HashMap, HashSet};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// A `nats-server -js` with its own port and store directory.
pub struct Nats {
    child: Option<Child>,
    pub port: u16,
    monitor: u16,
    dir: tempfile::TempDir,
}

fn nats_server() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/nats-server");
    if sbin.exists() {
        sbin
    } else {
        PathBuf::from("nats-server")
    }
}

impl Nats {
    pub fn start() -> Nats {
        let port = Sink::reserve_port().port();
        let monitor = Sink::reserve_port().port();
        let mut n = Nats {
            child: None,
            port,
            monitor,
            dir: tempfile::tempdir().unwrap(),
        };
        n.spawn();
        n
    }

    fn spawn(&mut self) {
        let child = Command::new(nats_server())
            .args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-m")
            .arg(self.monitor.to_string())
            .arg("-sd")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("nats.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start nats-server ({e}): `./dev test` installs it (apt-get install nats-server)")
            });
        self.child = Some(child);
        // Ready when the health check says JetStream is up.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.monitor)) {
                use std::io::{Read, Write};
                let _ = s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                if out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not become healthy"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the server the way an operator does (SIGTERM: it writes out
    /// what it acknowledged; a single server killed with SIGKILL may lose
    /// its last writes, which is what `replicas = 3` is for).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port and store directory.
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// `[store]` for routers sharing this server (short lease: a dead
    /// instance's shards move on within seconds).
    pub fn store_toml(&self) -> String {
        format!(
            "[store]\nkind = \"jetstream\"\nservers = [\"nats://127.0.0.1:{}\"]\nshards = 8\nlease = \"3s\"\n\n",
            self.port
        )
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

fn cluster(nats: &Nats, sink: &Sink, n: usize) -> Vec<Router> {
    // Fast retries, and no breaker: a throttling destination must not
    // hold the test for a cool-down.
    let settings = r#"retry_schedule = ["0s", "100ms", "200ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms"]
breaker_threshold = 100"#;
    let extra = format!(
        "{}{}",
        nats.store_toml(),
        sink_destination(&sink.url(), settings)
    );
    (0..n)
        .map(|_| Router::start(&["mysmsgate"], &extra))
        .collect()
}

/// Sends until the router answers 200 (bounded): a provider retrying.
fn deliver_callback(r: &Router, fx: &switchboard_plugin_sdk::fixture::Fixture) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = r.send(fx).status;
        if status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never acknowledged (last {status})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn delivered_by(r: &Router) -> u64 {
    r.admin_call("GET", "/metrics")
        .body
        .lines()
        .find(|l| {
            l.starts_with(r#"switchboard_deliveries_total{destination="sink",outcome="delivered"}"#)
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn instances_share_one_queue_exactly_once_per_webhook_id() {
    let nats = Nats::start();
    let sink = Sink::start();
    let routers = cluster(&nats, &sink, 3);
    // 240 callbacks spread over the three instances, from 8 threads.
    std::thread::scope(|s| {
        for t in 0..8 {
            let routers = &routers;
            s.spawn(move || {
                for i in (t..240).step_by(8) {
                    let r = &routers[i % 3];
                    deliver_callback(r, &mysmsgate_report(&format!("c-{i}"), "delivered"));
                }
            });
        }
    });
    // 40 of them resent by the provider, each to another instance.
    for i in 0..40 {
        deliver_callback(
            &routers[(i + 1) % 3],
            &mysmsgate_report(&format!("c-{i}"), "delivered"),
        );
    }
    // 10 messages whose `sent` and `delivered` reach different instances.
    for i in 0..10 {
        let id = format!("o-{i}");
        deliver_callback(&routers[i % 3], &mysmsgate_report(&id, "sent"));
        deliver_callback(&routers[(i + 1) % 3], &mysmsgate_report(&id, "delivered"));
    }
    sink.wait_for(260, Duration::from_secs(60));
    // Anything delivered twice would arrive by now.
    std::thread::sleep(Duration::from_secs(1));
    let events = sink.events();
    let ids: HashSet<_> = events
        .iter()
        .map(|e| e.header("webhook-id").unwrap_or_default().to_owned())
        .collect();
    let per_instance: Vec<u64> = routers.iter().map(delivered_by).collect();
    println!(
        "cluster: {} deliveries, {} webhook-ids, per instance {per_instance:?}",
        events.len(),
        ids.len()
    );
    assert_eq!(ids.len(), 260, "every event delivered");
    assert_eq!(events.len(), 260, "none delivered twice");
    // One message's states arrive in order, whichever instance took them.
    let mut order: HashMap<String, Vec<String>> = HashMap::new();
    for e in &events {
        let id = e.json["data"]["message_id"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        if id.starts_with("o-") {
            order
                .entry(id)
                .or_default()
                .push(e.json["data"]["state"].as_str().unwrap_or("").to_owned());
        }
    }
    assert_eq!(order.len(), 10);
    for (id, states) in order {
        assert_eq!(states, ["sent", "delivered"], "{id}");
    }
    assert!(
        per_instance.iter().filter(|&&n| n > 0).count() >= 2,
        "deliveries were shared: {per_instance:?}"
    );

    // Every instance lists the same delivered jobs, most recent first,
    // each once: two more callbacks, the second once the first is recorded.
    let listed = |r: &Router, args: &[&str]| -> Vec<String> {
        let jobs = r.cli_json(&[&["deliveries", "--delivered"], args].concat());
        let ids = jobs.as_array().unwrap().iter();
        ids.map(|j| j["event_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut newest = Vec::new();
    for (n, message) in ["last-1", "last-2"].into_iter().enumerate() {
        deliver_callback(&routers[n], &mysmsgate_report(message, "delivered"));
        let events = sink.wait_for(261 + n, Duration::from_secs(10));
        let event = events
            .iter()
            .find(|e| e.json["data"]["message_id"] == message)
            .and_then(|e| e.header("webhook-id"))
            .unwrap_or_default()
            .to_owned();
        // Its delivered record is written just after the destination's 2xx.
        let deadline = Instant::now() + Duration::from_secs(10);
        while listed(&routers[2], &["--event", &event]).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        newest.insert(0, event);
    }
    let all = listed(&routers[0], &["--limit", "1000"]);
    assert_eq!(all.len(), 262);
    assert_eq!(all[..2], newest[..]);
    assert_eq!(listed(&routers[2], &["--limit", "2"]), newest);
    assert_eq!(
        all.iter().collect::<HashSet<_>>().len(),
        262,
        "listed twice"
    );
}

#[test]
fn a_killed_instance_loses_nothing_it_acknowledged() {
    let nats = Nats::start();
    let sink = Sink::start();
    // The destination throttles at first, so jobs are in flight (held,
    // mid-retry) on both instances when one dies.
    sink.answer(&[(503, Some("1")); 8]);
    let mut routers = cluster(&nats, &sink, 2);
    let mut acked = Vec::new();
    let started = Instant::now();
    for i in 0..200 {
        let id = format!("k-{i}");
        let fx = mysmsgate_report(&id, "delivered");
        if i == 100 {
            routers[0].kill9();
        }
        let r = if i < 100 {
            &routers[i % 2]
        } else {
            &routers[1]
        };
        if r.send(&fx).status == 200 {
            acked.push(id);
        }
    }
    println!(
        "cluster kill: 200 callbacks sent in {:?}",
        started.elapsed()
    );
    assert!(acked.len() >= 150, "only {} acknowledged", acked.len());
    let sent = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    let missing = loop {
        let got: HashSet<String> = sink
            .events()
            .iter()
            .filter_map(|e| e.json["data"]["message_id"].as_str().map(str::to_owned))
            .collect();
        let missing: Vec<_> = acked.iter().filter(|id| !got.contains(*id)).collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing.len();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    println!(
        "cluster kill: {} acknowledged, {} delivered, {missing} missing, {:?} after the last callback",
        acked.len(),
        sink.count(),
        sent.elapsed()
    );
    assert_eq!(missing, 0, "every acknowledged callback delivered");
}

#[test]
fn a_restarted_nats_server_is_survived() {
    let mut nats = Nats::start();
    let sink = Sink::start();
    let routers = cluster(&nats, &sink, 1);
    let r = &routers[0];
    for i in 0..20 {
        deliver_callback(r, &mysmsgate_report(&format!("n-{i}"), "delivered"));
    }
    sink.wait_for(20, Duration::from_secs(20));
    nats.stop();
    // Nothing can be kept: the provider is told to retry, never "ok".
    let status = r.send(&mysmsgate_report("n-down", "delivered")).status;
    assert!(status >= 500, "acknowledged without a store: {status}");
    nats.start_again();
    deliver_callback(r, &mysmsgate_report("n-down", "delivered"));
    for i in 20..40 {
        deliver_callback(r, &mysmsgate_report(&format!("n-{i}"), "delivered"));
    }
    let deadline = Instant::now() + Duration::from_secs(40);
    let ids = loop {
        let ids: HashSet<String> = sink
            .events()
            .iter()
            .filter_map(|e| e.json["data"]["message_id"].as_str().map(str::to_owned))
            .collect();
        if ids.len() >= 41 || Instant::now() > deadline {
            break ids;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let missing: Vec<String> = (0..40)
        .map(|i| format!("n-{i}"))
        .chain(["n-down".to_owned()])
        .filter(|id| !ids.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "not delivered after the restart: {missing:?}\n{}",
        r.log()
    );
}

#[test]
fn dead_letters_and_redrive_work_on_jetstream() {
    let nats = Nats::start();
    crate::forwarding::dead_letter_and_redrive(&nats.store_toml());
}

#[test]
fn replay_after_a_fixed_plugin_works_on_jetstream() {
    let nats = Nats::start();
    crate::replay::replay_after_a_fix(&nats.store_toml());
}

#[test]
fn a_rate_limit_holds_across_instances() {
    let nats = Nats::start();
    let sink = Sink::start();
    let extra = format!(
        "{}{}",
        nats.store_toml(),
        sink_destination(&sink.url(), "rate_limit = 40\nconcurrency = 16")
    );
    let routers: Vec<Router> = (0..2)
        .map(|_| Router::start(&["mysmsgate"], &extra))
        .collect();
    // Each instance counts the live ones on its heartbeat (every 5 s).
    std::thread::sleep(Duration::from_secs(6));
    let n = 160;
    for i in 0..n {
        deliver_callback(
            &routers[i % 2],
            &mysmsgate_report(&format!("rl-{i}"), "sent"),
        );
    }
    let hits = sink.wait_for_hits(n, Duration::from_secs(20));
    assert_eq!(hits.len(), n);
    // After the small initial bursts (1/20 s worth on each instance).
    let span = hits[n - 1].at - hits[4].at;
    let rate = (n - 5) as f64 / span.as_secs_f64();
    let per_instance: Vec<u64> = routers.iter().map(delivered_by).collect();
    println!(
        "rate limit 40/s on 2 instances: measured {rate:.1}/s over {span:?}, per instance {per_instance:?}"
    );
    // Never above the limit (+10 %); a split limit may run a little under
    // it when one instance's share of the queue runs dry first.
    assert!(
        (30.0..=44.0).contains(&rate),
        "measured {rate:.1}/s for a limit of 40/s shared by two instances"
    );
    assert!(per_instance.iter().all(|&n| n > 0), "{per_instance:?}");
}

/// The max age of the bucket `KV_<name>` as the server holds it.
fn bucket_max_age(nats: &Nats, name: &str) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::connect(format!("nats://127.0.0.1:{}", nats.port))
            .await
            .unwrap();
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream(format!("KV_{name}")).await.unwrap();
        stream.info().await.unwrap().config.max_age
    })
}

/// JetStream keeps a stream's config as it was created: a router started
/// with another `store.retention` must apply it to the buckets that exist.
#[test]
fn a_changed_retention_applies_to_existing_buckets() {
    let nats = Nats::start();
    let with = |retention: &str| {
        Router::start(
            &["mysmsgate"],
            &format!("{}retention = \"{retention}\"\n", nats.store_toml()),
        )
    };
    let first = with("1h");
    assert_eq!(
        bucket_max_age(&nats, "switchboard-captures"),
        Duration::from_secs(3600)
    );
    drop(first);
    let second = with("2h");
    for bucket in ["captures", "events", "delivered", "states"] {
        assert_eq!(
            bucket_max_age(&nats, &format!("switchboard-{bucket}")),
            Duration::from_secs(7200),
            "{bucket}\n{}",
            second.log()
        );
    }
    // Buckets that keep records until they are handled stay unbounded.
    assert_eq!(bucket_max_age(&nats, "switchboard-dead"), Duration::ZERO);
}
