//! Benchmarks, run by `./dev bench` (release builds only; figures are
//! ratios measured in one run on one machine, never timed assertions).
//!
//! 1. HTTP: a bare hyper "200 OK" server and the router (durable capture +
//!    twilio plugin + rules + outbox to a local destination), both as
//!    separate processes, driven by the same keep-alive load generator with
//!    unique signed Twilio callbacks; then the router at half its peak rate
//!    for the ack latency.
//! 2. Delivery: signed deliveries per second from a backlog to a local
//!    receiver, beside the same receiver driven directly; and the latency
//!    from a callback's ack to its delivery (`delivery.rs`).
//! 3. Plugin: one twilio `handle` call in a fresh instance, beside the same
//!    parser compiled natively.
//!
//! `bench http`, `bench delivery` or `bench plugin` runs one part; `bench
//! bare` (internal) runs the bare server and prints its address.

mod delivery;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) const TOKEN: &str = "bench-auth-token";
pub(crate) const CONNECTIONS: usize = 64;
pub(crate) const PHASE: Duration = Duration::from_secs(5);

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.get(1).map(String::as_str) == Some("bare") {
        return rt.block_on(bare_server());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    println!(
        "# Switchboard benchmark ({} cores, {CONNECTIONS} connections, {PHASE:?} per phase)\n",
        num_cores()
    );
    let only = args.get(1).map(String::as_str);
    if only.is_none() || only == Some("http") {
        rt.block_on(http_bench(&root))?;
    }
    if only.is_none() || only == Some("delivery") {
        rt.block_on(delivery::bench(&root))?;
    }
    if only.is_none() || only == Some("plugin") {
        plugin_bench(&root)?;
    }
    Ok(())
}

fn num_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

// ---------------------------------------------------------------- servers

async fn bare_server() -> anyhow::Result<()> {
    use http_body_util::Full;
    use hyper::body::Bytes;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(
                |req: hyper::Request<hyper::body::Incoming>| async move {
                    use http_body_util::BodyExt;
                    let _ = req.into_body().collect().await;
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(b"OK"),
                    )))
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// A child process that printed `... http://ADDR`; killed on drop.
pub(crate) struct Proc(Child, pub(crate) SocketAddr);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn spawn(cmd: &mut Command) -> anyhow::Result<Proc> {
    use std::io::BufRead;
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let out = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = std::io::BufReader::new(out).lines();
    while let Some(line) = lines.next().transpose()? {
        if let Some((_, addr)) = line.split_once("http://") {
            let addr = addr.trim().parse()?;
            // Keep draining stdout so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines.by_ref() {});
            return Ok(Proc(child, addr));
        }
    }
    anyhow::bail!("process exited before listening")
}

/// The router with the twilio plugin; with `sink`, every event is forwarded
/// there (with `settings`, extra destination TOML lines), without, events
/// are captured and normalized but match no route.
pub(crate) fn router(
    root: &Path,
    dir: &Path,
    sink: Option<SocketAddr>,
    settings: &str,
) -> anyhow::Result<Proc> {
    std::fs::create_dir_all(dir.join("plugins"))?;
    std::fs::copy(
        root.join("dist/plugins/twilio.wasm"),
        dir.join("plugins/twilio.wasm"),
    )?;
    let mut config = format!(
        "[server]\npublic_url = \"https://hooks.example.com\"\n[runtime]\nplugin_dir = \"plugins\"\n\
         [plugins.twilio]\nauth_token = \"{TOKEN}\"\n"
    );
    if let Some(sink) = sink {
        config.push_str(&format!(
            "[destinations.sink]\nkind = \"http\"\nurl = \"http://{sink}/hook\"\nallow_http = true\n\
             allow_addresses = [\"127.0.0.1\"]\n{settings}\n\
             [[routes]]\nname = \"all\"\nto = [\"sink\"]\n"
        ));
    }
    std::fs::write(dir.join("config.toml"), config)?;
    let exe = root.join("target/release/switchboard");
    spawn(
        Command::new(exe)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--config",
            ])
            .arg(dir.join("config.toml"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("RUST_LOG", "warn"),
    )
}

// ---------------------------------------------------------------- load

/// Signed, unique Twilio status callbacks (each its own message).
/// A message id unique per (batch name, index), so batches never collide.
pub(crate) fn sid(batch: &str, i: usize) -> String {
    let h = batch.bytes().fold(0x811c9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x01000193)
    });
    format!("SM{h:08x}{i:024x}")
}

pub(crate) fn twilio_requests(n: usize, host: &str) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let sid = sid(host, i);
            let mut params = [
                ("AccountSid", "AC00000000000000000000000000000001".to_string()),
                ("ApiVersion", "2010-04-01".into()),
                ("From", "+15005550006".into()),
                ("MessageSid", sid.clone()),
                ("MessageStatus", "delivered".into()),
                ("SmsSid", sid),
                ("SmsStatus", "delivered".into()),
                ("To", "+15558675310".into()),
            ];
            params.sort();
            let mut signed = "https://hooks.example.com/api/v1/smsCallback".to_string();
            for (k, v) in &params {
                signed.push_str(k);
                signed.push_str(v);
            }
            let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(TOKEN.as_bytes()).expect("any key");
            mac.update(signed.as_bytes());
            let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
            let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter()).finish();
            format!(
                "POST /api/v1/smsCallback HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/x-www-form-urlencoded\r\n\
                 x-twilio-signature: {sig}\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        })
        .collect()
}

pub(crate) struct Run {
    ok: usize,
    errors: usize,
    latencies_us: Vec<u64>,
    elapsed: Duration,
}

impl Run {
    pub(crate) fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
    pub(crate) fn pct(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }
    pub(crate) fn line(&self, name: &str) -> String {
        format!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
            self.rate(),
            self.pct(0.5),
            self.pct(0.99),
            self.pct(0.999),
            self.errors
        )
    }
}

/// Drives `addr` with keep-alive connections for `PHASE`. With `rate`, each
/// connection sends on a fixed schedule and latency counts from the
/// scheduled time (no coordinated omission); without, as fast as it can.
pub(crate) async fn load(addr: SocketAddr, reqs: Arc<Vec<Vec<u8>>>, rate: Option<f64>) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + PHASE;
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let (reqs, next) = (reqs.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let (mut ok, mut errors) = (0, 0);
            let Ok(mut s) = TcpStream::connect(addr).await else {
                return (lat, ok, 1);
            };
            let _ = s.set_nodelay(true);
            let interval = rate.map(|r| Duration::from_secs_f64(CONNECTIONS as f64 / r));
            let mut due = start
                + interval
                    .map(|i| i.mul_f64(c as f64 / CONNECTIONS as f64))
                    .unwrap_or_default();
            let mut buf = vec![0u8; 64 << 10];
            loop {
                if let Some(i) = interval {
                    tokio::time::sleep_until(due.into()).await;
                    due += i;
                }
                let sent = if interval.is_some() {
                    due - interval.unwrap_or_default()
                } else {
                    Instant::now()
                };
                if sent >= deadline {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(req) = reqs.get(i % reqs.len()) else {
                    break;
                };
                if s.write_all(req).await.is_err() {
                    errors += 1;
                    break;
                }
                match read_response(&mut s, &mut buf).await {
                    Some(200) => {
                        ok += 1;
                        lat.push(sent.elapsed().as_micros() as u64);
                    }
                    Some(_) => errors += 1,
                    None => {
                        errors += 1;
                        break;
                    }
                }
            }
            (lat, ok, errors)
        }));
    }
    let mut run = Run {
        ok: 0,
        errors: 0,
        latencies_us: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        if let Ok((lat, ok, errors)) = t.await {
            run.latencies_us.extend(lat);
            run.ok += ok;
            run.errors += errors;
        }
    }
    run.elapsed = start.elapsed().min(PHASE).max(Duration::from_millis(1));
    run.latencies_us.sort_unstable();
    run
}

/// Reads one HTTP/1.1 response with a Content-Length body; its status.
pub(crate) async fn read_response(s: &mut TcpStream, buf: &mut [u8]) -> Option<u16> {
    let mut filled = 0;
    loop {
        let n = s.read(&mut buf[filled..]).await.ok()?;
        if n == 0 {
            return None;
        }
        filled += n;
        let text = &buf[..filled];
        let Some(end) = text.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&text[..end]).ok()?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            })
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        while filled < end + 4 + len {
            let n = s.read(&mut buf[filled..]).await.ok()?;
            if n == 0 {
                return None;
            }
            filled += n;
        }
        return Some(status);
    }
}

async fn http_bench(root: &Path) -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    let bare = spawn(Command::new(&me).arg("bare"))?;
    let sink = spawn(Command::new(&me).arg("bare"))?;
    let tmp = tempfile::tempdir()?;
    let capture_only = router(root, &tmp.path().join("a"), None, "")?;
    let router = router(
        root,
        &tmp.path().join("b"),
        Some(sink.1),
        "concurrency = 32",
    )?;

    let warm = Arc::new(twilio_requests(2_000, "bench"));
    let reqs = Arc::new(twilio_requests(400_000, "bench"));
    // Warm-up: connections, caches, the plugin's first instances.
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        load(router.1, warm.clone(), Some(500.0)),
    )
    .await;

    let bare_run = load(bare.1, reqs.clone(), None).await;
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        load(capture_only.1, warm.clone(), Some(500.0)),
    )
    .await;
    let no_route = load(capture_only.1, reqs.clone(), None).await;
    drop(capture_only);
    let peak = load(router.1, reqs.clone(), None).await;
    let half_rate = peak.rate() / 2.0;
    let fresh = Arc::new(twilio_requests(400_000, "bench2"));
    let half = load(router.1, fresh, Some(half_rate)).await;

    println!("## HTTP: Twilio status callbacks, {CONNECTIONS} keep-alive connections\n");
    println!("| server | req/s | p50 ms | p99 ms | p99.9 ms | errors |");
    println!("|---|---|---|---|---|---|");
    println!("{}", bare_run.line("bare hyper 200 OK"));
    println!(
        "{}",
        no_route.line("switchboard, durable, no route matches")
    );
    println!("{}", peak.line("switchboard, durable, forwarding (peak)"));
    println!(
        "{}",
        half.line(&format!(
            "switchboard at half peak ({half_rate:.0}/s offered)"
        ))
    );
    println!(
        "\nrouter / bare hyper = {:.1} %  (target >= 20 %);  p99 at half load = {:.2} ms (target <= 10 ms)\n",
        100.0 * peak.rate() / bare_run.rate(),
        half.pct(0.99)
    );
    drop(router);
    Ok(())
}

// ---------------------------------------------------------------- plugin

fn plugin_bench(root: &Path) -> anyhow::Result<()> {
    use switchboard::plugin::{Limits, Runtime};
    use switchboard_plugin_sdk::fixture::Fixture;

    let fx = Fixture::load(root.join("plugins/twilio/fixtures/status-delivered.http"))
        .map_err(anyhow::Error::msg)?;
    let native_req = switchboard_plugin_sdk::testing::request_for::<twilio::Twilio>(&fx, 0)
        .map_err(anyhow::Error::msg)?;
    let config = vec![("auth_token".to_string(), "fixture-auth-token".to_string())];

    let runtime = Runtime::new(Limits::default(), None)?;
    let plugin = runtime.load(&root.join("dist/plugins/twilio.wasm"))?;
    let req = to_host(&native_req);
    let ctx = switchboard::plugin::wit::Context {
        config: config.clone(),
    };

    let n = 20_000;
    let mut wasm = Vec::with_capacity(n);
    for i in 0..n + 500 {
        let t = Instant::now();
        let out = plugin.handle(1, &req, &ctx);
        let took = t.elapsed();
        assert!(matches!(out, Ok(Ok(_))), "plugin call failed: {out:?}");
        if i >= 500 {
            wasm.push(took);
        }
    }
    let mut native = Vec::with_capacity(n);
    let native_ctx = switchboard_plugin_sdk::types::Context { config };
    for i in 0..n + 500 {
        let (r, c) = (native_req.clone(), native_ctx.clone());
        let t = Instant::now();
        let out = switchboard_plugin_sdk::run::<twilio::Twilio>(r, c);
        let took = t.elapsed();
        assert!(out.is_ok());
        if i >= 500 {
            native.push(took);
        }
    }
    wasm.sort_unstable();
    native.sort_unstable();
    let q = |v: &[Duration], p: f64| v[((v.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
    println!("## Plugin call: twilio status callback (verify HMAC-SHA1 + parse + normalize)\n");
    println!("| variant | median µs | p99 µs |");
    println!("|---|---|---|");
    println!(
        "| wasm, fresh instance per call | {:.1} | {:.1} |",
        q(&wasm, 0.5),
        q(&wasm, 0.99)
    );
    println!(
        "| native Rust, same code | {:.1} | {:.1} |",
        q(&native, 0.5),
        q(&native, 0.99)
    );
    println!(
        "\nwasm / native = {:.1}x (target: fresh-instance median <= 60 µs)",
        q(&wasm, 0.5) / q(&native, 0.5)
    );
    Ok(())
}

/// The SDK's request (guest bindings) as the host's bindgen type.
fn to_host(
    r: &switchboard_plugin_sdk::types::HttpRequest,
) -> switchboard::plugin::wit::HttpRequest {
    use switchboard::plugin::wit::{HttpRequest, Method};
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
