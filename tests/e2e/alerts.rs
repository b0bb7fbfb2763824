//! The Prometheus alerting rules (`deploy/prometheus/switchboard.rules.yml`):
//! promtool finds them valid and their unit tests
//! (`switchboard.rules.test.yml`) pass, and every metric they use is one a
//! real router exports, with the label values they select on, so that a
//! renamed metric or label breaks this test rather than the alerts.
//! promtool comes from Debian's `prometheus` package, which `./dev test`
//! installs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

fn rules_dir() -> PathBuf {
    root().join("deploy/prometheus")
}

/// promtool: /usr/bin/promtool or on the PATH. Missing is a failure.
fn promtool() -> PathBuf {
    let usr = PathBuf::from("/usr/bin/promtool");
    if usr.is_file() {
        return usr;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("promtool"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "promtool not found (/usr/bin/promtool, PATH): run `./dev test`, which \
                 installs it (Debian package `prometheus`), or `apt-get install prometheus`"
            )
        })
}

/// Runs promtool with `args` in the rules' directory; asserts success.
fn run_promtool(tool: &Path, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .current_dir(rules_dir())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", tool.display()));
    let text = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "`promtool {}` failed ({}):\n{text}",
        args.join(" "),
        out.status
    );
    text
}

#[test]
fn alert_rules_pass_promtool_check_and_unit_tests() {
    let tool = promtool();
    let checked = run_promtool(&tool, &["check", "rules", "switchboard.rules.yml"]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = run_promtool(&tool, &["test", "rules", "switchboard.rules.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

/// The text of every `expr:` in a rules file (a one-line value or the
/// lines indented under it).
fn expressions(yaml: &str) -> Vec<String> {
    let mut exprs = Vec::new();
    let mut lines = yaml.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        let Some(rest) = trimmed.strip_prefix("expr:") else {
            continue;
        };
        let indent = line.len() - trimmed.len();
        let mut expr = rest
            .trim()
            .trim_start_matches(['>', '|', '-', '+'])
            .to_owned();
        while let Some(next) = lines.peek() {
            let t = next.trim_start();
            if !t.is_empty() && next.len() - t.len() <= indent {
                break;
            }
            expr.push(' ');
            expr.push_str(t);
            lines.next();
        }
        exprs.push(expr);
    }
    exprs
}

/// A metric an expression selects: its name and its label matchers
/// (`label`, `op`, `value`).
#[derive(Debug, Clone, PartialEq)]
struct Selector {
    name: String,
    matchers: Vec<(String, String, String)>,
}

/// The `switchboard_*` selectors in an expression, by hand (no regex):
/// a name is `switchboard_` and then `[a-z0-9_]`, optionally followed by
/// `{label op "value", ...}`.
fn selectors(expr: &str) -> Vec<Selector> {
    let mut found = Vec::new();
    let bytes = expr.as_bytes();
    let mut at = 0;
    while let Some(i) = expr[at..].find("switchboard_") {
        let start = at + i;
        let before = start.checked_sub(1).map(|b| bytes[b]);
        let mut end = start + "switchboard_".len();
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase()
                || bytes[end].is_ascii_digit()
                || bytes[end] == b'_')
        {
            end += 1;
        }
        at = end;
        // Part of a longer identifier (or a label name): not a metric.
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        let mut matchers = Vec::new();
        if expr[end..].starts_with('{')
            && let Some(close) = expr[end..].find('}')
        {
            for m in expr[end + 1..end + close].split(',') {
                let m = m.trim();
                if m.is_empty() {
                    continue;
                }
                let op_at = m.find(['=', '!']).expect("a label matcher");
                let op_len = if m[op_at..].starts_with("=~")
                    || m[op_at..].starts_with("!~")
                    || m[op_at..].starts_with("!=")
                {
                    2
                } else {
                    1
                };
                let value = m[op_at + op_len..].trim().trim_matches('"');
                matchers.push((
                    m[..op_at].trim().to_owned(),
                    m[op_at..op_at + op_len].to_owned(),
                    value.to_owned(),
                ));
            }
            at = end + close + 1;
        }
        found.push(Selector {
            name: expr[start..end].to_owned(),
            matchers,
        });
    }
    found
}

/// A metric's family: the name in `# TYPE` (without the `_total` of a
/// counter or the `_bucket`/`_sum`/`_count` of a histogram's samples).
fn family(name: &str) -> &str {
    ["_bucket", "_sum", "_count", "_total"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

/// The sample lines of `name` (exactly) in an exposition.
fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .collect()
}

#[test]
fn the_selector_parser_reads_names_and_matchers() {
    let e = expressions(
        "  - alert: A\n    expr: >-\n      sum(rate(switchboard_requests_total{status=~\"4..\", plugin=\"x\"}[5m]))\n      / sum(rate(switchboard_plugin_call_seconds_count[5m])) and on (job) (up offset 15m)\n    for: 5m\n  - alert: B\n    expr: switchboard_backlog > 0\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    let s: Vec<Selector> = e.iter().flat_map(|x| selectors(x)).collect();
    assert_eq!(
        s,
        vec![
            Selector {
                name: "switchboard_requests_total".into(),
                matchers: vec![
                    ("status".into(), "=~".into(), "4..".into()),
                    ("plugin".into(), "=".into(), "x".into()),
                ],
            },
            Selector {
                name: "switchboard_plugin_call_seconds_count".into(),
                matchers: vec![],
            },
            Selector {
                name: "switchboard_backlog".into(),
                matchers: vec![],
            },
        ]
    );
    assert_eq!(
        family("switchboard_plugin_call_seconds_count"),
        "switchboard_plugin_call_seconds"
    );
    assert_eq!(family("switchboard_requests_total"), "switchboard_requests");
}

/// Scrapes until `ready` holds for the exposition (bounded); the last one.
fn scrape_until(router: &Router, within: Duration, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + within;
    loop {
        let text = router.admin_call("GET", "/metrics").body;
        if ready(&text) || Instant::now() >= deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_metric_the_alert_rules_use_is_exported() {
    let yaml = std::fs::read_to_string(rules_dir().join("switchboard.rules.yml")).unwrap();
    let exprs = expressions(&yaml);
    assert!(
        exprs.len() >= 8,
        "expected the alerts' expressions: {exprs:?}"
    );
    let mut wanted: Vec<Selector> = Vec::new();
    for s in exprs.iter().flat_map(|e| selectors(e)) {
        if !wanted.contains(&s) {
            wanted.push(s);
        }
    }
    assert!(
        wanted
            .iter()
            .any(|s| s.name == "switchboard_deliveries_total"),
        "the parser found no switchboard_deliveries_total: {wanted:?}"
    );

    // A router whose traffic makes every family the rules use appear: a
    // callback routed to a destination that refuses it (400: dead-lettered
    // at once), a callback refused (400), a plugin that traps (quarantined).
    let sink = Sink::start();
    sink.status.store(400, std::sync::atomic::Ordering::SeqCst);
    let router = Router::start(&["smsglobal", "chaos"], &http_destination(&sink.url()));
    let ok = router
        .get("/api/v1/smsGlobalCallback?msgid=1&dlrstatus=DELIVRD&dlr_err=000&donedate=2311231415");
    assert_eq!(ok.status, 200, "{ok:?}\n{}", router.log());
    let refused = router.get("/api/v1/smsGlobalCallback?nothing=here");
    assert!(
        (400..500).contains(&refused.status),
        "{refused:?}\n{}",
        router.log()
    );
    let trapped = router.send_raw(
        b"POST /api/v1/chaos/panic HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
    );
    assert_eq!(trapped.status, 202, "{trapped:?}\n{}", router.log());
    sink.wait_for_hits(1, Duration::from_secs(10));
    let text = scrape_until(&router, Duration::from_secs(10), |t| {
        t.contains(r#"outcome="dead""#) && t.contains("switchboard_plugin_failures_total{")
    });

    let mut missing = Vec::new();
    for s in &wanted {
        let fam = family(&s.name);
        let typed = text.lines().any(|l| {
            l.strip_prefix("# TYPE ")
                .is_some_and(|r| r.split(' ').next() == Some(fam))
        });
        let lines = samples(&text, &s.name);
        if !typed || lines.is_empty() {
            missing.push(format!("{} (family {fam}: no samples)", s.name));
            continue;
        }
        for (label, op, value) in &s.matchers {
            let ok = match op.as_str() {
                // The selected value is one the router exports.
                "=" => lines
                    .iter()
                    .any(|l| l.contains(&format!("{label}=\"{value}\""))),
                // A pattern or a negation: the label at least exists.
                _ => lines.iter().any(|l| l.contains(&format!("{label}=\""))),
            };
            if !ok {
                missing.push(format!("{}{{{label}{op}\"{value}\"}}", s.name));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "deploy/prometheus/switchboard.rules.yml uses metrics the router does not export \
         (renamed, or not produced by this traffic): {missing:?}\n/metrics:\n{text}"
    );
}
