//! Benchmarks, run by `./dev bench` (release builds only; figures are
//! ratios measured in one run on one machine, never timed assertions).
//! `bench/run` also installs the operator's Flask and Express handlers and
//! writes the report into `docs/benchmarks.md`.
//!
//! 1. `compare`: bare hyper, Switchboard (durable, forwarding; Twilio and a
//!    mix of providers) and the Flask and Express handlers an operator
//!    writes instead, side by side at 0.5, 4 and 32 KB (`compare.rs`).
//! 2. `scale`: the router with 1, 15 and 100 plugins: start-up, memory,
//!    throughput (`scale.rs`).
//! 3. `delivery`: signed deliveries per second from a backlog to a local
//!    receiver, and ack-to-delivery latency (`delivery.rs`).
//! 4. `plugin`: one twilio call in a fresh wasm instance beside the same
//!    parser compiled natively (`plugin.rs`).
//! 5. `store`: what sled alone costs per callback (the router's records,
//!    and one record per callback), the floor under the router's figures,
//!    beside the CPU 20 % of bare hyper's rate allows (`store.rs`).
//! 6. `cluster`: one router on sled, then 1, 2 and 3 routers sharing one
//!    nats-server (the JetStream store), acks per second (`cluster.rs`).
//!
//! `bench NAME` runs one part. Not in the default run: `bench soak`, a
//! steady load for `BENCH_SOAK` seconds (60) showing the store's size
//! level off under retention (`soak.rs`); `bench http`, the
//! original Twilio-only HTTP comparison (`http.rs`, superseded by
//! `compare`), and `bench perf [mix|twilio] [BYTES]`, a CPU profile of the
//! router at peak (`perf.rs`); `bench half`, latency at half load with and
//! without forwarding (`half.rs`). `bench bare` (internal) runs the bare server
//! and prints its address.

mod cluster;
mod compare;
mod delivery;
mod half;
mod http;
mod langs;
mod load;
mod perf;
mod plugin;
mod procs;
mod reqs;
mod scale;
mod soak;
mod store;
mod summary;

use std::path::PathBuf;
use std::time::Duration;

pub(crate) use load::{load, read_response};
pub(crate) use reqs::{sid, twilio_requests};

// The router's allocator (`host/src/main.rs`), so what runs in this
// process (the store floor, the plugin call) allocates as it does there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub(crate) const TOKEN: &str = "bench-auth-token";
pub(crate) const CONNECTIONS: usize = 64;
/// Unique requests to prepare for one phase: 30k/s, several times what the
/// router sustains here, so it never sees a repeat (it would deduplicate).
pub(crate) fn unique() -> usize {
    (30_000.0 * phase().as_secs_f64()) as usize
}

/// One load phase: 5 s, or `BENCH_PHASE` seconds (longer phases for steadier
/// figures, or to watch memory settle; the default run stays ~5 minutes).
pub(crate) fn phase() -> Duration {
    std::env::var("BENCH_PHASE")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(5))
}

const DEFAULT: [&str; 7] = [
    "compare", "scale", "delivery", "plugin", "langs", "store", "cluster",
];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let only = args.get(1).map(String::as_str);
    if only == Some("bare") {
        return rt.block_on(bare_server());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let part = match only {
        None => None,
        Some(
            p @ ("http" | "compare" | "half" | "scale" | "delivery" | "plugin" | "perf" | "cluster"
            | "soak" | "store" | "langs"),
        ) => Some(p),
        Some(other) => anyhow::bail!(
            "unknown part `{other}`: compare, scale, delivery, plugin, langs, cluster, soak, store, http, perf, half (none: {DEFAULT:?})"
        ),
    };
    // A part run by the default run below prints no title of its own.
    if std::env::var_os("BENCH_IN_RUN").is_none() {
        println!(
            "# Switchboard benchmark ({} cores, {CONNECTIONS} connections, {:?} per phase)\n",
            num_cores(),
            phase()
        );
    }
    match part {
        // Each part in a process of its own, so no part's figures depend on
        // what ran before it (its heap, threads, allocator state).
        None => {
            let me = std::env::current_exe()?;
            let summary = tempfile::NamedTempFile::new()?;
            for p in DEFAULT {
                let status = std::process::Command::new(&me)
                    .arg(p)
                    .env("BENCH_IN_RUN", "1")
                    .env("BENCH_SUMMARY", summary.path())
                    .status()?;
                anyhow::ensure!(status.success(), "bench {p} failed: {status}");
            }
            summary::print(summary.path());
        }
        Some("http") => rt.block_on(http::bench(&root))?,
        Some("compare") => rt.block_on(compare::bench(&root))?,
        Some("half") => rt.block_on(half::bench(&root))?,
        Some("scale") => rt.block_on(scale::bench(&root))?,
        Some("delivery") => rt.block_on(delivery::bench(&root))?,
        Some("perf") => rt.block_on(perf::bench(&root, &args[2..]))?,
        Some("cluster") => rt.block_on(cluster::bench(&root))?,
        Some("soak") => rt.block_on(soak::bench(&root))?,
        Some("langs") => langs::bench(&root)?,
        Some("store") => store::bench(&root, args.get(2).map(String::as_str))?,
        Some(_) => plugin::bench(&root)?,
    }
    Ok(())
}

fn num_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Hyper answering `200 OK` to anything, after reading the body: the HTTP
/// ceiling of this machine (also the destination the router forwards to).
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
