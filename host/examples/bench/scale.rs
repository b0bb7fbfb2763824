//! The router with 1, 15 and 100 plugins loaded: start-up time (cold,
//! compiling every plugin; warm, from the compile cache, what every restart
//! costs), resident memory, and the same Twilio load at 512 B.
//!
//! There are 18 real plugins; the other 82 of the hundred are copies of
//! the `scale` test plugin (`tests/plugins/scale`, a gateway DLR reader of
//! a real plugin's size) with its fixed-length placeholder name overwritten
//! in the `.wasm` bytes: the host refuses two plugins with the same name or
//! route, and a same-length patch keeps every offset of the component valid.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::compare::ready;
use super::load::{Run, probe};
use super::procs::{Proc, Usage, measure, router_cmd, router_dir, rss_mb, settle, spawn, tree};
use super::reqs::{twilio, wire};
use super::unique;

const COUNTS: [usize; 3] = [1, 15, 100];
/// `scale::NAME`, which each copy replaces with a name of the same length.
const PLACEHOLDER: &[u8] = b"scale-plugin-name-xxxxxx";

struct Row {
    plugins: usize,
    cold: Duration,
    warm: Vec<Duration>,
    idle_rss_mb: f64,
    /// At rest after the load phase, and the store's size on disk then.
    after_rss_mb: f64,
    store_mb: f64,
    run: Run,
    usage: Usage,
}

pub async fn bench(root: &Path) -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    let tmp = tempfile::tempdir()?;
    let sink = spawn(Command::new(&me).arg("bare"))?;
    let template = std::fs::read(root.join("dist/test-plugins/scale.wasm"))
        .map_err(|e| anyhow::anyhow!("dist/test-plugins/scale.wasm ({e}): run ./dev bench"))?;
    let real = real_plugins(root)?;
    let mut rows = Vec::new();
    for count in COUNTS {
        let dir = tmp.path().join(format!("plugins-{count}"));
        let names: Vec<&str> = real.iter().take(count).map(String::as_str).collect();
        router_dir(root, &dir, &names, Some(sink.1), "concurrency = 32")?;
        let copies = write_copies(&template, &dir.join("plugins"), count - names.len())?;

        // Each start gets a fresh store: this times loading, not recovery.
        let (cold, first) = timed_start(root, &dir, "data-cold")?;
        drop(first);
        let mut warm = Vec::new();
        let mut router = None;
        for k in 0..3 {
            let (took, p) = timed_start(root, &dir, &format!("data-warm-{k}"))?;
            warm.push(took);
            router = Some(p);
        }
        let router = router.ok_or_else(|| anyhow::anyhow!("no router"))?;
        touch_every_plugin(root, &router, &names, &copies).await?;
        settle(router.0.id()).await;
        let idle_rss_mb = rss_mb(&tree(router.0.id()));
        ready(
            "router",
            &router,
            &twilio(4_000, &format!("warm-scale-{count}"), 512),
            "twilio",
        )
        .await?;
        let reqs = Arc::new(twilio(unique(), &format!("scale-{count}"), 512));
        let (run, usage) = measure(&router, reqs, None).await;
        settle(router.0.id()).await;
        let after_rss_mb = rss_mb(&tree(router.0.id()));
        let store_mb = dir_bytes(&dir.join("data-warm-2")) as f64 / (1 << 20) as f64;
        warm.sort();
        rows.push(Row {
            plugins: count,
            cold,
            warm,
            idle_rss_mb,
            after_rss_mb,
            store_mb,
            run,
            usage,
        });
    }
    print(&rows, real.len());
    Ok(())
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// The shipped plugins, twilio first (it serves the load at every count).
fn real_plugins(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("dist/plugins"))?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".wasm").map(str::to_owned)
        })
        .collect();
    names.sort_by_key(|n| (n != "twilio", n.clone()));
    Ok(names)
}

/// `n` copies of the scale plugin, each under its own name.
fn write_copies(template: &[u8], dir: &Path, n: usize) -> anyhow::Result<Vec<String>> {
    let at: Vec<usize> = template
        .windows(PLACEHOLDER.len())
        .enumerate()
        .filter(|(_, w)| *w == PLACEHOLDER)
        .map(|(i, _)| i)
        .collect();
    anyhow::ensure!(!at.is_empty(), "no placeholder name in scale.wasm");
    (1..=n)
        .map(|i| {
            let name = format!("scale-plugin-name-{i:06}");
            let mut bytes = template.to_vec();
            for &o in &at {
                bytes[o..o + PLACEHOLDER.len()].copy_from_slice(name.as_bytes());
            }
            std::fs::write(dir.join(format!("{name}.wasm")), bytes)?;
            Ok(name)
        })
        .collect()
}

/// Spawn to the "switchboard listening on" line: config, plugin loading,
/// store, listener.
fn timed_start(root: &Path, dir: &Path, data: &str) -> anyhow::Result<(Duration, Proc)> {
    let started = Instant::now();
    let p = spawn(&mut router_cmd(root, dir, data))?;
    Ok((started.elapsed(), p))
}

/// One request to every plugin, so each is proven mounted and has run once
/// (its code paged in) before memory is read: a copy must answer 200 to a
/// delivery report; a real plugin anything but 404/405 to its first
/// fixture (signatures made for other secrets may be refused, after the
/// plugin ran).
async fn touch_every_plugin(
    root: &Path,
    router: &Proc,
    real: &[&str],
    copies: &[String],
) -> anyhow::Result<()> {
    for name in copies {
        let req = format!(
            "GET /api/v1/{name}?msgid=probe-{name}&stat=DELIVRD HTTP/1.1\r\nhost: bench\r\n\r\n"
        );
        let status = probe(router.1, req.as_bytes()).await?;
        anyhow::ensure!(status == 200, "copy {name} answered {status}");
    }
    for name in real {
        let mut files: Vec<_> = std::fs::read_dir(root.join(format!("plugins/{name}/fixtures")))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "http"))
            // Refused on purpose, or a subscription the host would confirm
            // over the network: not a probe.
            .filter(|p| {
                let f = p.file_name().and_then(|f| f.to_str()).unwrap_or("");
                !f.starts_with("reject-") && !f.contains("subscri")
            })
            .collect();
        files.sort();
        let Some(file) = files.first() else { continue };
        let fx =
            switchboard_plugin_sdk::fixture::Fixture::load(file).map_err(anyhow::Error::msg)?;
        let status = probe(router.1, &wire(&fx)).await?;
        anyhow::ensure!(
            status != 404 && status != 405,
            "{name} not mounted: {status} to {}",
            file.display()
        );
    }
    Ok(())
}

fn print(rows: &[Row], real: usize) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "## Plugins loaded: 1, 15, 100 (twilio load, 512 B, forwarding)\n\n\
         Up to {real} real plugins, then copies of the `scale` test plugin. Start-up: spawn to \
         the listening line, fresh store; cold compiles every plugin, warm loads them from the \
         compile cache (median of 3). Idle RSS: after every plugin has run once; after: \
         at rest after the phase, with the store (size on disk) holding its callbacks.\n"
    );
    println!(
        "| plugins | cold start ms | warm start ms | idle RSS MB | req/s | p50 ms | p99 ms | p99.9 ms | CPU | CPU µs/req | rest CPU | peak RSS MB | RSS after MB | store MB | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} | {:.0} | {:.0} | {:.0} | {} |",
            r.plugins,
            ms(r.cold),
            ms(r.warm[r.warm.len() / 2]),
            r.idle_rss_mb,
            r.run.rate(),
            r.run.pct(0.5),
            r.run.pct(0.99),
            r.run.pct(0.999),
            r.usage.cores,
            1e6 * r.usage.cores / r.run.rate(),
            r.usage.rest_cores,
            r.usage.peak_rss_mb,
            r.after_rss_mb,
            r.store_mb,
            r.run.errors
        );
    }
    if let Some(r) = rows.iter().find(|r| r.plugins == 100) {
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        let start = ms(r.warm[r.warm.len() / 2]);
        super::summary::note("rss_100_peak_mb", r.usage.peak_rss_mb);
        super::summary::note("rss_100_idle_mb", r.idle_rss_mb);
        println!("\nTargets (100 plugins):\n");
        println!(
            "- RSS <= 150 MB: {:.0} MB idle, {:.0} MB peak under load ({})",
            r.idle_rss_mb,
            r.usage.peak_rss_mb,
            verdict(r.usage.peak_rss_mb <= 150.0)
        );
        println!(
            "- start-up with cached plugins <= 500 ms: {start:.0} ms ({})\n",
            verdict(start <= 500.0)
        );
    }
}
