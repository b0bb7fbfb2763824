//! `bench perf [mix|twilio] [BODY_BYTES]`: where the router's CPU goes at
//! peak load, measured, not guessed. Starts the router as `compare` does
//! (forwarding to a local destination), drives it for one phase while
//! `perf record` samples it, and prints the profile by thread, by shared
//! object and by symbol. The samples stay in `target/bench-perf.data` for
//! `perf report -i`. Not part of the default run.
//!
//! Samples in no shared object (`[unknown]`, `//anon`) are the plugins'
//! compiled wasm: wasmtime emits it into anonymous memory.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use super::compare::ready;
use super::load::Reqs;
use super::procs::{measure, router_cmd, router_dir, settle, spawn};
use super::reqs::{MIX, mix, twilio};

pub async fn bench(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let kind = args.first().map(String::as_str).unwrap_or("mix");
    let size: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(512);
    let reqs = |n: usize, batch: &str| -> anyhow::Result<Reqs> {
        Ok(match kind {
            "twilio" => twilio(n, batch, size),
            "mix" => mix(root, n, batch)?,
            other => anyhow::bail!("unknown load `{other}`: mix or twilio"),
        })
    };
    let me = std::env::current_exe()?;
    let tmp = tempfile::tempdir()?;
    let sink = spawn(Command::new(&me).arg("bare"))?;
    let dir = tmp.path().join("router");
    router_dir(root, &dir, &MIX, Some(sink.1), "concurrency = 32")?;
    let router = spawn(&mut router_cmd(root, &dir, "data"))?;
    ready("router", &router, &reqs(4_000, "perf-warm")?, kind).await?;

    let data = root.join("target/bench-perf.data");
    let load = Arc::new(reqs(150_000, "perf")?);
    settle(router.0.id()).await;
    // cpu-clock: hardware counters are often missing in VMs. No call
    // graphs: the host is built without frame pointers.
    let mut perf = Command::new("perf")
        .args(["record", "-q", "-e", "cpu-clock", "-F", "999", "-p"])
        .arg(router.0.id().to_string())
        .arg("-o")
        .arg(&data)
        .args(["--", "sleep", "5"])
        .spawn()
        .map_err(|e| anyhow::anyhow!("perf: {e} (install linux-perf)"))?;
    let (run, usage) = measure(&router, load, None).await;
    perf.wait()?;
    drop(router);

    println!("## Profile: router at peak, {kind} load, body {size} B\n");
    println!(
        "{:.0} req/s, p99 {:.2} ms, router CPU {:.2} cores; samples in {}\n",
        run.rate(),
        run.pct(0.99),
        usage.cores,
        data.display()
    );
    for (what, sort, lines) in [
        ("thread", "comm", 12),
        ("shared object", "dso", 8),
        ("symbol", "dso,symbol", 40),
    ] {
        let out = Command::new("perf")
            .args([
                "report",
                "--stdio",
                "-q",
                "--no-children",
                "--sort",
                sort,
                "-i",
            ])
            .arg(&data)
            .output()?;
        println!("### By {what}\n\n```");
        for line in String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(lines)
        {
            println!("{line}");
        }
        println!("```\n");
    }
    Ok(())
}
