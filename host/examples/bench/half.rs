//! `bench half`: latency at half of the router's peak (the provider mix),
//! forwarding and without a route, in three interleaved rounds: where the
//! half-load p99 comes from (the deliveries, or the callbacks' own path).
//! Not in the default run (`compare` has one half-load row).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use super::compare::Routers;
use super::procs::{router_dir, spawn};
use super::reqs::{MIX, mix};
use super::unique;

pub async fn bench(root: &Path) -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    let tmp = tempfile::tempdir()?;
    let sink = spawn(Command::new(&me).arg("bare"))?;
    let (fwd, none) = (tmp.path().join("fwd"), tmp.path().join("none"));
    router_dir(root, &fwd, &MIX, Some(sink.1), "concurrency = 32")?;
    router_dir(root, &none, &MIX, None, "")?;
    let mut forwarding = Routers {
        root,
        dir: fwd,
        started: 0,
    };
    let mut no_route = Routers {
        root,
        dir: none,
        started: 0,
    };
    let warm = mix(root, 4_000, "warm-half")?;
    println!("## Half load: provider mix, latency in ms (p50 / p99 / p99.9)\n");
    println!("| round | peak req/s | forwarding at half | no route at half |");
    println!("|---|---|---|---|");
    for round in 1..=3 {
        let peak = forwarding
            .measure(
                &warm,
                Arc::new(mix(root, unique(), &format!("h-peak-{round}"))?),
                None,
            )
            .await?
            .0
            .rate();
        let mut cells = Vec::new();
        for routers in [&mut forwarding, &mut no_route] {
            let reqs = Arc::new(mix(
                root,
                unique(),
                &format!("h-{round}-{}", routers.started),
            )?);
            let (run, usage) = routers.measure(&warm, reqs, Some(peak / 2.0)).await?;
            cells.push(format!(
                "{:.2} / {:.2} / {:.2} ({:.2} cores)",
                run.pct(0.5),
                run.pct(0.99),
                run.pct(0.999),
                usage.cores
            ));
        }
        println!("| {round} | {peak:.0} | {} | {} |", cells[0], cells[1]);
    }
    Ok(())
}
