//! `bench perf [LOAD] [BYTES]`: where the router's CPU goes at peak load,
//! measured, not guessed. Starts the router as `compare` does (the mix's
//! plugins, forwarding to a local destination), drives it for one phase
//! while `perf record` samples it, and prints the profile by thread, by
//! shared object and by symbol. LOAD is `mix` (default), `twilio` (BYTES
//! sets its body size) or one provider of the mix. The samples stay in
//! `target/bench-perf.data` for `perf report -i`. Not in the default run.
//!
//! `BENCH_PERF_GRAPH=1` records call graphs (DWARF: the host has no frame
//! pointers) and adds the inclusive view, where each stage's share shows
//! (`Pipeline::run`, `SledStore::commit`, `Plugin::handle`, ...). Slower:
//! recording costs ~30 % of the throughput and the report some minutes.
//!
//! Samples in `[JIT]` are the plugins' compiled wasm (wasmtime emits it
//! into anonymous memory).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use super::compare::ready;
use super::load::Reqs;
use super::procs::{measure, router_cmd, router_dir, settle, spawn};
use super::reqs::{MIX, mix, providers, twilio};
use super::unique;

/// `perf record` sampling `pid` into `data` at `freq` Hz (call graphs:
/// DWARF, the host has no frame pointers).
pub(crate) fn record(pid: u32, data: &Path, freq: u32, graph: bool) -> Command {
    // cpu-clock: hardware counters are often missing in VMs.
    let mut cmd = Command::new("perf");
    cmd.args(["record", "-q", "-e", "cpu-clock", "-F", &freq.to_string()]);
    if graph {
        cmd.args(["--call-graph", "dwarf,16384"]);
    }
    cmd.arg("-p").arg(pid.to_string()).arg("-o").arg(data);
    cmd
}

pub async fn bench(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let kind = args.first().map(String::as_str).unwrap_or("mix");
    let size: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(512);
    let graph = std::env::var("BENCH_PERF_GRAPH").is_ok_and(|v| v == "1");
    let reqs = |n: usize, batch: &str| -> anyhow::Result<Reqs> {
        match kind {
            "twilio" => Ok(twilio(n, batch, size)),
            "mix" => mix(root, n, batch),
            one => providers(root, n, batch, &[one]),
        }
    };
    let me = std::env::current_exe()?;
    let tmp = tempfile::tempdir()?;
    let sink = spawn(Command::new(&me).arg("bare"))?;
    let dir = tmp.path().join("router");
    router_dir(root, &dir, &MIX, Some(sink.1), "concurrency = 32")?;
    let router = spawn(&mut router_cmd(root, &dir, "data"))?;
    ready("router", &router, &reqs(4_000, "perf-warm")?, kind).await?;

    let data = root.join("target/bench-perf.data");
    let load = Arc::new(reqs(unique(), "perf")?);
    settle(router.0.id()).await;
    let mut perf = record(router.0.id(), &data, 499, graph)
        .args(["--", "sleep"])
        .arg(super::phase().as_secs_f64().to_string())
        .spawn()
        .map_err(|e| anyhow::anyhow!("perf: {e} (install linux-perf)"))?;
    let (run, usage) = measure(&router, load, None).await;
    perf.wait()?;
    drop(router);

    println!("## Profile: router at peak, {kind} load, body {size} B\n");
    println!(
        "{:.0} req/s, p99 {:.2} ms, router CPU {:.2} cores ({:.0} µs per request), \
         rest of the machine {:.2} cores; samples in {}\n",
        run.rate(),
        run.pct(0.99),
        usage.cores,
        1e6 * usage.cores / run.rate(),
        usage.rest_cores,
        data.display()
    );
    let mut views = vec![
        ("thread", "comm", "--no-children", 12),
        ("shared object", "dso", "--no-children", 8),
        ("symbol (self time)", "dso,symbol", "--no-children", 40),
    ];
    if graph {
        views.push(("function, inclusive", "symbol", "--children", 120));
    }
    for (what, sort, children, lines) in views {
        let out = Command::new("perf")
            .args([
                "report", "--stdio", "-q", "-g", "none", children, "--sort", sort,
            ])
            .args(["--percent-limit", "0.3", "-i"])
            .arg(&data)
            .output()?;
        println!("### By {what}\n\n```");
        for line in String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .take(lines)
        {
            println!("{}", line.chars().take(150).collect::<String>());
        }
        println!("```\n");
    }
    Ok(())
}
