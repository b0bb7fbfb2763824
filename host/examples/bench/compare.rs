//! Side by side, one machine, one load generator, the same signed unique
//! Twilio callbacks at three body sizes: bare hyper answering 200 (the
//! HTTP ceiling here), Switchboard end-to-end and durable (capture, plugin,
//! rules, outbox, forwarding to a local destination), and what an operator
//! writes instead (`bench/operator/`: Flask under gunicorn, Express on
//! node). Then Switchboard on a mix of providers, at peak and at half of it,
//! and a few single rows (no route, Express with fsync, Flask's dev server).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use super::load::{Reqs, Run, load_for, probe};
use super::procs::{Proc, Usage, free_port, measure, router_cmd, router_dir, spawn, spawn_on_port};
use super::reqs::{MIX, mix, twilio};
use super::{CONNECTIONS, TOKEN, unique};

const SIZES: [usize; 3] = [512, 4096, 32 << 10];
const ROUTER: &str = "switchboard, durable, forwarding";
const GUNICORN: &str = "Flask 3.1 + gunicorn, 2 sync workers";
const EXPRESS: &str = "Express 5 on node";

struct Row {
    server: String,
    body: String,
    run: Run,
    usage: Usage,
}

impl Row {
    fn new(server: &str, body: &str, (run, usage): (Run, Usage)) -> Self {
        let server = server.to_owned();
        let body = body.to_owned();
        Self {
            server,
            body,
            run,
            usage,
        }
    }

    fn line(&self) -> String {
        let (r, u) = (&self.run, &self.usage);
        format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.0} | {} |",
            self.server,
            self.body,
            r.rate(),
            r.pct(0.5),
            r.pct(0.99),
            r.pct(0.999),
            u.cores,
            1e6 * u.cores / r.rate(),
            u.client_cores,
            u.rest_cores,
            u.peak_rss_mb,
            r.errors
        )
    }
}

fn size_label(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else {
        format!("{} KB", bytes >> 10)
    }
}

/// The operator's handlers that are installed (bench/run installs them);
/// a missing one is reported, not fatal.
fn start_operator(root: &Path, events: &Path, which: &str) -> anyhow::Result<Proc> {
    let dir = root.join("bench/operator");
    let venv = root.join("target/bench-venv/bin");
    let env = |c: &mut Command| {
        c.current_dir(&dir)
            .env("TWILIO_AUTH_TOKEN", TOKEN)
            .env("PUBLIC_URL", "https://hooks.example.com")
            .env("EVENTS_FILE", events)
            .env("FSYNC", if which.ends_with("fsync") { "1" } else { "0" });
    };
    match which {
        "gunicorn" | "flask-dev" => {
            anyhow::ensure!(
                venv.join("gunicorn").exists(),
                "Flask not installed in target/bench-venv (bench/run installs it)"
            );
            let port = free_port()?;
            let mut cmd = if which == "gunicorn" {
                let mut c = Command::new(venv.join("gunicorn"));
                c.args(["--workers", "2", "--bind", &format!("127.0.0.1:{port}")])
                    .arg("flask_app:app");
                c
            } else {
                let mut c = Command::new(venv.join("flask"));
                c.args(["--app", "flask_app", "run", "--port", &port.to_string()]);
                c
            };
            env(&mut cmd);
            spawn_on_port(&mut cmd, port)
        }
        _ => {
            anyhow::ensure!(
                dir.join("node_modules/express").exists(),
                "Express not installed in bench/operator (bench/run installs it)"
            );
            let mut cmd = Command::new("node");
            cmd.arg("express_app.js").env("PORT", "0");
            env(&mut cmd);
            spawn(&mut cmd)
        }
    }
}

/// The first requests (one per provider of the mix) must be answered 200
/// before a server is measured, then a second of load warms it
/// (connections, JIT, caches, plugin instances).
pub(crate) async fn ready(name: &str, p: &Proc, warm: &Reqs, what: &str) -> anyhow::Result<()> {
    for i in 0..MIX.len() {
        let req = warm.get(i).map(|r| r.into_owned()).unwrap_or_default();
        let status = probe(p.1, &req).await?;
        anyhow::ensure!(
            status == 200,
            "{name} answered {status} to {what} request {i}"
        );
    }
    let rest = Arc::new(Reqs::plain(
        (MIX.len()..warm.len())
            .filter_map(|i| warm.get(i).map(|r| r.into_owned()))
            .collect(),
    ));
    load_for(p.1, rest, None, Duration::from_secs(1)).await;
    Ok(())
}

/// A server measured as it runs, or the router started afresh for each
/// phase: its store would otherwise carry the previous phases' callbacks
/// (a gigabyte after the 32 KB phase), and a bigger store is a slower and
/// bigger router (see docs/benchmarks.md), which is not what a row compares.
enum Slot {
    Running(Proc),
    FreshRouter,
}

/// The router on `dir` with a new store `data-{k}`, warmed up with `warm`.
pub(crate) struct Routers<'a> {
    pub(crate) root: &'a Path,
    pub(crate) dir: std::path::PathBuf,
    pub(crate) started: usize,
}

impl Routers<'_> {
    pub(crate) async fn measure(
        &mut self,
        warm: &Reqs,
        reqs: Arc<Reqs>,
        rate: Option<f64>,
    ) -> anyhow::Result<(Run, Usage)> {
        self.started += 1;
        let data = format!("data-{}", self.started);
        let router = spawn(&mut router_cmd(self.root, &self.dir, &data))?;
        ready(ROUTER, &router, warm, "its warm-up").await?;
        let measured = measure(&router, reqs, rate).await;
        drop(router);
        // Its dirty pages would be written back during the next phase.
        let _ = std::fs::remove_dir_all(self.dir.join(data));
        Ok(measured)
    }
}

pub async fn bench(root: &Path) -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    let tmp = tempfile::tempdir()?;
    let bare = spawn(Command::new(&me).arg("bare"))?;
    let sink = spawn(Command::new(&me).arg("bare"))?;
    let dir = tmp.path().join("router");
    router_dir(root, &dir, &MIX, Some(sink.1), "concurrency = 32")?;
    let mut routers = Routers {
        root,
        dir,
        started: 0,
    };
    let mut servers = vec![
        ("bare hyper 200 OK", Slot::Running(bare)),
        (ROUTER, Slot::FreshRouter),
    ];
    let mut notes = Vec::new();
    for (name, which) in [(GUNICORN, "gunicorn"), (EXPRESS, "express")] {
        match start_operator(root, &tmp.path().join(format!("{which}.jsonl")), which) {
            Ok(p) => servers.push((name, Slot::Running(p))),
            Err(e) => notes.push(format!("{name}: skipped, {e:#}")),
        }
    }
    for (name, slot) in &servers {
        if let Slot::Running(p) = slot {
            let warm = twilio(4_000, &format!("warm-{name}"), 512);
            ready(name, p, &warm, "twilio").await?;
        }
    }

    let mut rows = Vec::new();
    // Sizes outside, servers inside: each size's rows are measured within
    // a minute, under the same conditions on this shared machine.
    for size in SIZES {
        // The router deduplicates, so it gets ids of its own; the others
        // may cycle through theirs.
        let shared = Arc::new(twilio(unique(), &format!("cmp-{size}"), size));
        let own = Arc::new(twilio(unique(), &format!("cmp-router-{size}"), size));
        let warm = twilio(4_000, &format!("warm-router-{size}"), size);
        for (name, slot) in &servers {
            let measured = match slot {
                Slot::Running(p) => measure(p, shared.clone(), None).await,
                Slot::FreshRouter => routers.measure(&warm, own.clone(), None).await?,
            };
            rows.push(Row::new(name, &size_label(size), measured));
        }
    }
    // The targets compare 512 B rates across servers, and phases here vary
    // by ±25 % (a shared VM): two more interleaved rounds of those three,
    // the targets use each one's median of three.
    let mut repeats: Vec<(&str, Vec<f64>)> = Vec::new();
    for round in 1..3 {
        let shared = Arc::new(twilio(unique(), &format!("cmp-rep-{round}"), 512));
        let own = Arc::new(twilio(unique(), &format!("cmp-router-rep-{round}"), 512));
        let warm = twilio(4_000, &format!("warm-router-rep-{round}"), 512);
        for (name, slot) in servers.iter().filter(|(n, _)| *n != GUNICORN) {
            let (run, _) = match slot {
                Slot::Running(p) => measure(p, shared.clone(), None).await,
                Slot::FreshRouter => routers.measure(&warm, own.clone(), None).await?,
            };
            match repeats.iter_mut().find(|(n, _)| n == name) {
                Some((_, rates)) => rates.push(run.rate()),
                None => repeats.push((name, vec![run.rate()])),
            }
        }
    }
    for (name, rates) in &mut repeats {
        if let Some(first) = rows.iter().find(|r| r.server == *name && r.body == "512 B") {
            rates.insert(0, first.run.rate());
        }
    }
    let warm = mix(root, 4_000, "warm-mix")?;
    let mix_reqs = Arc::new(mix(root, unique(), "cmp-mix")?);
    let mix_peak = Row::new(
        ROUTER,
        "provider mix",
        routers.measure(&warm, mix_reqs, None).await?,
    );
    let half_rate = mix_peak.run.rate() / 2.0;
    let half_reqs = Arc::new(mix(root, unique(), "cmp-mix-half")?);
    let mix_half = Row::new(
        &format!("switchboard at half its mix peak ({half_rate:.0}/s offered)"),
        "provider mix",
        routers.measure(&warm, half_reqs, Some(half_rate)).await?,
    );
    let extra = single_rows(root, tmp.path(), &mut notes).await?;
    drop(sink);

    print(&rows, &mix_peak, &mix_half, &extra, &notes);
    targets(&repeats, &mix_peak, &mix_half);
    Ok(())
}

/// Rows at 512 B only: where the router's time goes without deliveries, and
/// the operator's handlers made durable or run the quick way.
async fn single_rows(root: &Path, tmp: &Path, notes: &mut Vec<String>) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let dir = tmp.join("no-route");
    router_dir(root, &dir, &["twilio"], None, "")?;
    let no_route = spawn(&mut router_cmd(root, &dir, "data"))?;
    ready(
        "no route",
        &no_route,
        &twilio(4_000, "warm-nr", 512),
        "twilio",
    )
    .await?;
    let reqs = Arc::new(twilio(unique(), "cmp-no-route", 512));
    rows.push(Row::new(
        "switchboard, durable, no route (capture + plugin + store)",
        "512 B",
        measure(&no_route, reqs, None).await,
    ));
    drop(no_route);
    let shared = Arc::new(twilio(unique(), "cmp-single", 512));
    for (name, which) in [
        ("Express 5, fsync per event", "express-fsync"),
        ("Flask 3.1 dev server (threaded)", "flask-dev"),
    ] {
        let p = match start_operator(root, &tmp.join(format!("{which}.jsonl")), which) {
            Ok(p) => p,
            Err(e) => {
                notes.push(format!("{name}: skipped, {e:#}"));
                continue;
            }
        };
        ready(
            name,
            &p,
            &twilio(2_000, &format!("warm-{which}"), 512),
            "twilio",
        )
        .await?;
        rows.push(Row::new(
            name,
            "512 B",
            measure(&p, shared.clone(), None).await,
        ));
    }
    Ok(rows)
}

fn print(rows: &[Row], mix_peak: &Row, mix_half: &Row, extra: &[Row], notes: &[String]) {
    println!(
        "## Side by side: signed Twilio status callbacks, {CONNECTIONS} connections\n\n\
         CPU in cores (CPU time / wall time; 2 = both cores) and in CPU µs per request; \
         client: the load generator; rest: the rest of the machine (for the router, its \
         destination). Peak RSS summed over a server's processes.\n"
    );
    println!(
        "| server | body | req/s | p50 ms | p99 ms | p99.9 ms | server CPU | CPU µs/req | client CPU | rest CPU | peak RSS MB | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        if !names.contains(&r.server.as_str()) {
            names.push(&r.server);
        }
    }
    // Grouped by server, so each one's growth with the body size reads down.
    for name in names {
        for r in rows.iter().filter(|r| r.server == name) {
            println!("{}", r.line());
        }
    }
    for r in [mix_peak, mix_half].into_iter().chain(extra) {
        println!("{}", r.line());
    }
    println!(
        "\nThe provider mix cycles through {} (Infobip: 2 reports per request).",
        MIX.join(", ")
    );
    for n in notes {
        println!("\nNote: {n}");
    }
}

/// The targets, on the medians of the three 512 B phases of each server.
fn targets(repeats: &[(&str, Vec<f64>)], mix_peak: &Row, mix_half: &Row) {
    println!("\nEach at 512 B in three interleaved phases (req/s; the table shows the first):\n");
    let median = |server: &str| {
        let Some((_, rates)) = repeats.iter().find(|(n, _)| *n == server) else {
            return f64::NAN;
        };
        let shown: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        println!("- {server}: {}", shown.join(", "));
        let mut sorted = rates.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    let (bare, router, express) = (median("bare hyper 200 OK"), median(ROUTER), median(EXPRESS));
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let twilio_share = 100.0 * router / bare;
    let mix_share = 100.0 * mix_peak.run.rate() / bare;
    let p99 = mix_half.run.pct(0.99);
    super::summary::note("forward_share", twilio_share);
    super::summary::note("ack_p99_half_ms", p99);
    println!("\nTargets (medians of those; the mix: its row):\n");
    println!(
        "- router >= 20 % of bare hyper: twilio {twilio_share:.1} %, provider mix {mix_share:.1} % ({})",
        verdict(twilio_share >= 20.0 && mix_share >= 20.0)
    );
    println!(
        "- router >= 2x the Express handler: {:.2}x ({})",
        router / express,
        verdict(router >= 2.0 * express)
    );
    println!(
        "- p99 <= 10 ms at half load (provider mix): {p99:.2} ms ({})\n",
        verdict(p99 <= 10.0)
    );
}
