//! `bench http`: the original HTTP comparison, Twilio callbacks only: bare
//! hyper, the router without a route (capture + plugin + store), the router
//! forwarding every event (peak), and at half its peak for the ack latency.
//! `bench compare` supersedes it in the default run.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use super::CONNECTIONS;
use super::load::{Reqs, load, load_for};
use super::procs::{router, spawn};
use super::reqs::twilio_requests;

pub async fn bench(root: &Path) -> anyhow::Result<()> {
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

    let warm = Arc::new(Reqs::plain(twilio_requests(2_000, "bench")));
    let reqs = Arc::new(Reqs::plain(twilio_requests(400_000, "bench")));
    // Warm-up: connections, caches, the plugin's first instances.
    let warm_up = Duration::from_secs(2);
    load_for(router.1, warm.clone(), Some(500.0), warm_up).await;

    let bare_run = load(bare.1, reqs.clone(), None).await;
    load_for(capture_only.1, warm.clone(), Some(500.0), warm_up).await;
    let no_route = load(capture_only.1, reqs.clone(), None).await;
    drop(capture_only);
    let peak = load(router.1, reqs.clone(), None).await;
    let half_rate = peak.rate() / 2.0;
    let fresh = Arc::new(Reqs::plain(twilio_requests(400_000, "bench2")));
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
