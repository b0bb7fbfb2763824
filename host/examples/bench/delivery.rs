//! Delivery throughput and latency.
//!
//! Throughput: callbacks pile up while the destination is down (its circuit
//! breaker holds them), then the receiver comes up and the backlog drains:
//! signed deliveries per second, first to last arrival. Beside it, the same
//! receiver driven directly by the plain load generator.
//!
//! Latency: callbacks at a steady rate to a healthy destination; for each,
//! the time from the router's 200 to the delivery reaching the receiver.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::load::Reqs;
use super::{CONNECTIONS, load, read_response, twilio_requests};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Arrival time of each delivery, by Twilio message id.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// An in-process receiver that answers 200 and notes each event's arrival.
async fn receiver(listener: tokio::net::TcpListener, arrivals: Arrivals) {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let arrivals = arrivals.clone();
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let arrivals = arrivals.clone();
                    async move {
                        let at = Instant::now();
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        if let Some(id) = message_id(&body) {
                            arrivals
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .entry(id)
                                .or_insert(at);
                        }
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from_static(b"OK"),
                        )))
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn message_id(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("\"message_id\":\"")? + 14;
    let len = text[start..].find('"')?;
    Some(text[start..start + len].to_owned())
}

/// Sends `reqs` over `conns` keep-alive connections, as fast as acked, and
/// notes when each was acked (by index).
async fn send_all(
    addr: SocketAddr,
    reqs: Arc<Vec<Vec<u8>>>,
    conns: usize,
    rate: Option<f64>,
) -> Vec<Option<Instant>> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let acks = Arc::new(Mutex::new(vec![None; reqs.len()]));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (reqs, next, acks) = (reqs.clone(), next.clone(), acks.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(mut s) = TcpStream::connect(addr).await else {
                return;
            };
            let _ = s.set_nodelay(true);
            let mut buf = vec![0u8; 64 << 10];
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(req) = reqs.get(i) else { break };
                if let Some(r) = rate {
                    tokio::time::sleep_until(
                        (start + Duration::from_secs_f64(i as f64 / r)).into(),
                    )
                    .await;
                }
                if s.write_all(req).await.is_err() {
                    break;
                }
                if read_response(&mut s, &mut buf).await == Some(200) {
                    acks.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(Instant::now());
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Arc::try_unwrap(acks)
        .map(|m| m.into_inner().unwrap_or_default())
        .unwrap_or_default()
}

async fn wait_for(arrivals: &Arrivals, n: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let got = arrivals.lock().unwrap_or_else(|p| p.into_inner()).len();
        if got >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// `perf record` (call graphs) on `pid` until interrupted, if asked for.
fn drain_profile(root: &Path, pid: u32) -> anyhow::Result<Option<std::process::Child>> {
    if !std::env::var("BENCH_PERF_DRAIN").is_ok_and(|v| v == "1") {
        return Ok(None);
    }
    let data = root.join("target/bench-drain.data");
    eprintln!("profiling the drain into {}", data.display());
    let child = super::perf::record(pid, &data, 999, true)
        .spawn()
        .map_err(|e| anyhow::anyhow!("perf: {e} (install linux-perf)"))?;
    Ok(Some(child))
}

pub async fn bench(root: &Path) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    // The receiver's port, reserved; nothing listens there yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let router = super::procs::router(
        root,
        &tmp.path().join("d"),
        Some(port),
        &format!(
            "concurrency = 64\nsigning_secret = \"{SECRET}\"\n\
             retry_schedule = [\"0s\", \"200ms\", \"200ms\", \"200ms\", \"200ms\", \"200ms\"]\n\
             breaker_threshold = 3\nbreaker_cooldown = \"1s\""
        ),
    )?;

    // 1. Backlog: the destination is down, the breaker opens, jobs wait.
    // BENCH_BACKLOG makes it longer (for a profile of the drain).
    let n = std::env::var("BENCH_BACKLOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30_000);
    let reqs = Arc::new(twilio_requests(n, "delivery"));
    let acks = send_all(router.1, reqs, 16, None).await;
    let acked = acks.iter().filter(|a| a.is_some()).count();
    let arrivals: Arrivals = Arc::default();
    // BENCH_PERF_DRAIN=1: `perf record` on the router while it drains.
    let perf = drain_profile(root, router.0.id())?;
    let listener = tokio::net::TcpListener::bind(port).await?;
    let recv = tokio::spawn(receiver(listener, arrivals.clone()));
    let got = wait_for(&arrivals, acked, Duration::from_secs(120)).await;
    let times: Vec<Instant> = arrivals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .copied()
        .collect();
    let (first, last) = (times.iter().min().copied(), times.iter().max().copied());
    let drain = match (first, last) {
        (Some(f), Some(l)) => l.duration_since(f).max(Duration::from_millis(1)),
        _ => Duration::from_millis(1),
    };
    let delivery_rate = got as f64 / drain.as_secs_f64();
    if let Some(mut perf) = perf {
        // perf writes its file when interrupted.
        let _ = Command::new("kill")
            .args(["-INT", &perf.id().to_string()])
            .status();
        perf.wait()?;
    }

    // 2. The same receiver, driven directly with an event-sized body.
    let body = r#"{"id":"evt_0123456789abcdef0123456789","provider":"twilio","type":"delivery-status","data":{"message_id":"SMdirect","state":"delivered","final":true,"provider_status":"delivered","to":"+15558675310","from":"+15005550006"},"extra":{"AccountSid":"AC00000000000000000000000000000001","ApiVersion":"2010-04-01"}}"#;
    let direct_req = format!(
        "POST /hook HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes();
    let direct = load(port, Arc::new(Reqs::plain(vec![direct_req])), None).await;

    // 3. Ack -> delivery latency at a steady 1,000 callbacks/s.
    arrivals.lock().unwrap_or_else(|p| p.into_inner()).clear();
    let m = 5_000;
    let steady = Arc::new(twilio_requests(m, "latency"));
    let ids: Vec<String> = (0..m).map(|i| super::sid("latency", i)).collect();
    // The router's CPU at that steady rate, start to last delivery: what
    // an operator's modest load costs (wake-ups dominate there, not work).
    let (pid, started) = ([router.0.id()], Instant::now());
    let cpu0 = super::procs::cpu_secs(&pid);
    let acks = send_all(router.1, steady, CONNECTIONS.min(16), Some(1_000.0)).await;
    wait_for(&arrivals, m, Duration::from_secs(30)).await;
    let steady_cpu = super::procs::cpu_secs(&pid) - cpu0;
    let steady_cores = steady_cpu / started.elapsed().as_secs_f64();
    let arrived = arrivals.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut lat: Vec<f64> = ids
        .iter()
        .zip(&acks)
        .filter_map(|(id, ack)| {
            let at = arrived.get(id)?;
            Some(at.saturating_duration_since((*ack)?).as_secs_f64() * 1000.0)
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    recv.abort();

    println!("## Delivery: signed (Standard Webhooks) deliveries to a local receiver\n");
    println!("| what | deliveries/s | notes |");
    println!("|---|---|---|");
    println!(
        "| switchboard draining a backlog of {acked} (signing on, 64 concurrent) | {delivery_rate:.0} | {got} delivered in {drain:.2?} |"
    );
    println!(
        "| receiver driven directly ({CONNECTIONS} connections, no router) | {:.0} | p99 {:.2} ms |",
        direct.rate(),
        direct.pct(0.99)
    );
    super::summary::note("delivery_share", 100.0 * delivery_rate / direct.rate());
    super::summary::note("steady_cpu_us", steady_cpu / m as f64 * 1e6);
    println!(
        "\nswitchboard / direct = {:.1} %  (target >= 50 %);  deliveries/s target >= 5,000\n",
        100.0 * delivery_rate / direct.rate()
    );
    println!(
        "ack -> delivery at 1,000 callbacks/s, healthy destination: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} events (target p99 <= 20 ms)\n",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0),
        lat.len()
    );
    println!(
        "router CPU at that steady 1,000 callbacks/s (forwarding each): {steady_cores:.2} cores, {:.0} µs per callback\n",
        steady_cpu / m as f64 * 1e6
    );
    drop(router);
    Ok(())
}
