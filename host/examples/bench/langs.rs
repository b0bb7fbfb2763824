//! Plugins per language (issue 21): for a Rust, a Python and a JavaScript
//! provider plugin of similar work (verify or not, parse, normalize one
//! delivery status), the component's size, its cold compile, its warm load
//! from the compile cache, and one call in a fresh instance (what the
//! router pays per callback); then the router's start with every shipped
//! plugin cached.

use std::path::Path;
use std::time::{Duration, Instant};

use switchboard::plugin::wit::Context;
use switchboard::plugin::{Limits, Runtime};
use switchboard_plugin_sdk::fixture::Fixture;

struct Lang {
    lang: &'static str,
    plugin: &'static str,
    fixture: &'static str,
    calls: usize,
}

const LANGS: [Lang; 3] = [
    Lang {
        lang: "Rust",
        plugin: "twilio",
        fixture: "status-delivered.http",
        calls: 5_000,
    },
    Lang {
        lang: "Python",
        plugin: "bandwidth",
        fixture: "status-delivered.http",
        calls: 300,
    },
    Lang {
        lang: "JavaScript",
        plugin: "messagebird",
        fixture: "status-delivered-jwt-only.http",
        calls: 300,
    },
];

/// The plugin's fixture config (flat `key = "value"` lines).
fn config(root: &Path, plugin: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root.join(format!("plugins/{plugin}/fixtures/config.toml")))
        .unwrap_or_default();
    let table: toml::Table = text.parse().unwrap_or_default();
    table
        .into_iter()
        .map(|(k, v)| {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            (k, v)
        })
        .collect()
}

pub fn bench(root: &Path) -> anyhow::Result<()> {
    println!("## Plugins per language: size, compile, load, call\n");
    println!(
        "| language (plugin) | component MB | cold compile s | warm load ms | call median ms | call p99 ms | target |"
    );
    println!("|---|---|---|---|---|---|---|");
    for l in &LANGS {
        let wasm = root.join(format!("dist/plugins/{}.wasm", l.plugin));
        let size = std::fs::metadata(&wasm)?.len() as f64 / 1e6;
        let cache = tempfile::tempdir()?;
        let cold = Runtime::new(Limits::default(), Some(cache.path().to_path_buf()))?;
        let t = Instant::now();
        drop(cold.load(&wasm)?);
        let compile = t.elapsed();
        let warm = Runtime::new(Limits::default(), Some(cache.path().to_path_buf()))?;
        let t = Instant::now();
        let plugin = warm.load(&wasm)?;
        let load = t.elapsed();
        let fx = Fixture::load(root.join(format!("plugins/{}/fixtures/{}", l.plugin, l.fixture)))
            .map_err(anyhow::Error::msg)?;
        let req = switchboard::cli::fixture_request(&plugin, &fx, "/api/v1")
            .map_err(anyhow::Error::msg)?;
        let ctx = Context {
            config: config(root, l.plugin),
        };
        let mut times = Vec::with_capacity(l.calls);
        for _ in 0..l.calls {
            let t = Instant::now();
            let out = plugin.handle(1, &req, &ctx);
            times.push(t.elapsed());
            anyhow::ensure!(
                matches!(out, Ok(Ok(_))),
                "{} refused its fixture: {out:?}",
                l.plugin
            );
        }
        times.sort();
        let q = |p: f64| times[((times.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
        let (target, met) = match l.lang {
            "Python" => ("<= 3 ms median", q(0.5) <= 3.0),
            "JavaScript" => ("<= 2 ms median", q(0.5) <= 2.0),
            _ => ("", true),
        };
        println!(
            "| {} ({}) | {size:.2} | {:.2} | {:.1} | {:.3} | {:.3} | {} |",
            l.lang,
            l.plugin,
            compile.as_secs_f64(),
            load.as_secs_f64() * 1e3,
            q(0.5),
            q(0.99),
            match (target, met) {
                ("", _) => String::new(),
                (t, true) => format!("{t}: met"),
                (t, false) => format!("{t}: MISSED"),
            }
        );
        super::summary::note(&format!("{}_call_median_ms", l.lang.to_lowercase()), q(0.5));
    }
    // Start-up: every shipped plugin, all in the compile cache.
    let cache = tempfile::tempdir()?;
    let mut plugins: Vec<_> = std::fs::read_dir(root.join("dist/plugins"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    plugins.sort();
    let fill = Runtime::new(Limits::default(), Some(cache.path().to_path_buf()))?;
    for p in &plugins {
        drop(fill.load(p)?);
    }
    let warm = Runtime::new(Limits::default(), Some(cache.path().to_path_buf()))?;
    let t = Instant::now();
    let loaded: Vec<_> = plugins
        .iter()
        .map(|p| warm.load(p))
        .collect::<Result<_, _>>()?;
    let start = t.elapsed();
    println!(
        "\nStart-up with all {} shipped plugins cached: {:.0} ms (target <= 500 ms: {})\n",
        loaded.len(),
        start.as_secs_f64() * 1e3,
        if start <= Duration::from_millis(500) {
            "met"
        } else {
            "MISSED"
        }
    );
    super::summary::note("startup_all_cached_ms", start.as_secs_f64() * 1e3);
    Ok(())
}
