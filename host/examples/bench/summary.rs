//! The fast-path targets (issue 19) in one table at the end of a default
//! run. Each part runs in a process of its own, so a part notes its
//! figures in the file `BENCH_SUMMARY` names (one `key value` line each)
//! and the parent prints them beside their targets once every part ran.

use std::io::Write;
use std::path::Path;

/// Notes one figure (nothing when run alone: no summary is printed then).
pub fn note(key: &str, value: f64) {
    let Some(path) = std::env::var_os("BENCH_SUMMARY") else {
        return;
    };
    let line = format!("{key} {value}\n");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!("bench summary: cannot note {key}: {e}");
    }
}

/// (label, key, target, whether lower is better, unit).
const ROWS: [(&str, &str, f64, bool, &str); 7] = [
    (
        "durable forwarding, Twilio 512 B, vs bare hyper",
        "forward_share",
        15.0,
        false,
        "%",
    ),
    (
        "`bench store`: the router's record, then its job retired",
        "store_retired_us",
        45.0,
        true,
        "CPU µs per callback",
    ),
    (
        "router CPU at a steady 1,000 callbacks/s, forwarding each",
        "steady_cpu_us",
        200.0,
        true,
        "µs per callback",
    ),
    (
        "deliveries vs the receiver driven directly",
        "delivery_share",
        50.0,
        false,
        "%",
    ),
    (
        "RSS with 100 plugins, peak under load",
        "rss_100_peak_mb",
        150.0,
        true,
        "MB",
    ),
    (
        "plugin call, fresh instance, Twilio fixture, median",
        "plugin_median_us",
        15.0,
        true,
        "µs",
    ),
    (
        "p99 ack latency at half of the mix peak",
        "ack_p99_half_ms",
        5.0,
        true,
        "ms",
    ),
];

/// Prints the table from the figures noted in `path`.
pub fn print(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let get = |key: &str| {
        text.lines()
            .rev()
            .filter_map(|l| l.split_once(' '))
            .filter(|(k, _)| *k == key)
            .find_map(|(_, v)| v.parse::<f64>().ok())
    };
    println!("## Fast-path targets (issue 19), all measured in this run\n");
    println!("| measured | this run | target | |");
    println!("|---|---|---|---|");
    for (label, key, target, lower, unit) in ROWS {
        let (shown, verdict) = match get(key) {
            Some(v) if lower => (format!("{v:.1} {unit}"), v <= target),
            Some(v) => (format!("{v:.1} {unit}"), v >= target),
            None => ("not measured".to_owned(), false),
        };
        let sign = if lower { "<=" } else { ">=" };
        let verdict = if verdict { "met" } else { "MISSED" };
        println!("| {label} | {shown} | {sign} {target} {unit} | {verdict} |");
    }
    if let (Some(idle), Some(wasm), Some(native)) = (
        get("rss_100_idle_mb"),
        get("plugin_p99_us"),
        get("native_median_us"),
    ) {
        println!(
            "\nAlso: RSS with 100 plugins idle {idle:.0} MB; plugin call p99 {wasm:.1} µs (native median {native:.1} µs).\n"
        );
    }
}
