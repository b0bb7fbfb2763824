//! Soak: a steady load (`BENCH_SOAK_RATE`, 2000/s) for a minute (`BENCH_SOAK`
//! seconds) against a router
//! whose retention is short (10 s), printing the store's size on disk and
//! the router's memory every 5 s: with retention doing its job both level
//! off instead of growing with the number of callbacks taken.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::load::load_for;
use super::procs::{Proc, router_cmd, router_dir, rss_mb, spawn, tree};
use super::reqs::twilio;

const ROUND: Duration = Duration::from_secs(5);

/// Starts the router and returns it with its admin address.
fn start(root: &Path, dir: &Path) -> anyhow::Result<(Proc, SocketAddr)> {
    use std::io::BufRead;
    // Its log at info: the store's rotations are printed at the end.
    let log = std::fs::File::create(dir.join("router.log"))?;
    let mut child = router_cmd(root, dir, "data")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()?;
    let out = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = std::io::BufReader::new(out).lines();
    let (mut addr, mut admin) = (None, None);
    while let Some(line) = lines.next().transpose()? {
        if let Some(a) = line.strip_prefix("switchboard listening on http://") {
            addr = Some(a.trim().parse()?);
        }
        if let Some(a) = line.strip_prefix("switchboard admin on http://") {
            admin = Some(a.trim().parse()?);
        }
        if let (Some(addr), Some(admin)) = (addr, admin) {
            std::thread::spawn(move || for _ in lines.by_ref() {});
            return Ok((Proc(child, addr), admin));
        }
    }
    anyhow::bail!("router exited before listening")
}

/// `switchboard_store_size_bytes` from the admin listener.
fn store_bytes(admin: SocketAddr) -> anyhow::Result<u64> {
    let mut s = std::net::TcpStream::connect(admin)?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nhost: bench\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    text.lines()
        .find_map(|l| l.strip_prefix("switchboard_store_size_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no store size in /metrics"))
}

pub(crate) async fn bench(root: &Path) -> anyhow::Result<()> {
    let env = |k: &str, default: u64| {
        std::env::var(k)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let secs = env("BENCH_SOAK", 60);
    let rate = env("BENCH_SOAK_RATE", 2000) as f64;
    let me = std::env::current_exe()?;
    let sink = spawn(Command::new(&me).arg("bare"))?;
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("soak");
    router_dir(root, &dir, &["twilio"], Some(sink.1), "")?;
    let mut config = std::fs::read_to_string(dir.join("config.toml"))?;
    config.push_str("\n[store]\nretention = \"10s\"\n");
    std::fs::write(dir.join("config.toml"), config)?;
    let (router, admin) = start(root, &dir)?;

    println!("## Soak: {rate:.0} callbacks/s for {secs} s, retention 10 s\n");
    println!("| after s | callbacks acked | store MB | data dir MB | router RSS MB | errors |");
    println!("|---:|---:|---:|---:|---:|---:|");
    let started = Instant::now();
    let (mut acked, mut errors) = (0usize, 0usize);
    let rounds = secs.div_ceil(ROUND.as_secs()).max(1);
    for round in 0..rounds {
        let n = (rate * ROUND.as_secs_f64() * 1.2) as usize;
        let reqs = Arc::new(twilio(n, &format!("soak-{round}"), 512));
        let run = load_for(router.1, reqs, Some(rate), ROUND).await;
        acked += run.ok;
        errors += run.errors;
        let mb = store_bytes(admin)? as f64 / (1 << 20) as f64;
        let dir_mb = dir_bytes(&dir.join("data")) as f64 / (1 << 20) as f64;
        println!(
            "| {:.0} | {acked} | {mb:.1} | {dir_mb:.1} | {:.0} | {errors} |",
            started.elapsed().as_secs_f64(),
            rss_mb(&tree(router.0.id()))
        );
    }
    println!();
    let log = std::fs::read_to_string(dir.join("router.log"))?;
    let rotations: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("store rotated"))
        .collect();
    println!("{} store rotations; the last ones:", rotations.len());
    for l in rotations.iter().rev().take(3).rev() {
        println!("    {}", l.trim());
    }
    println!();
    Ok(())
}

/// Bytes of every file under `dir` (the store's size as `du` sees it,
/// databases being rotated out included).
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
