//! The admin API against its OpenAPI document (`docs/openapi.yaml`): the
//! document is valid OpenAPI 3.1, and a real router, fed real callbacks,
//! answers every documented operation as documented (status, media type,
//! JSON schema), with nothing documented left unexercised. The checking is
//! `tests/e2e/openapi/check.py` (jsonschema), run with the test venv that
//! `./dev test` installs in `target/pyenv`.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::Ordering;

use crate::support::*;

const TOKEN: &str = "openapi-e2e-token-3f9a1c7d5e2b4a60";

/// The test venv's Python, with the modules the checks import.
fn venv_python() -> PathBuf {
    let python = root().join("target/pyenv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run `./dev test`, which creates the venv and installs \
         openapi-spec-validator, jsonschema and pyyaml in it",
        python.display()
    );
    let out = Command::new(&python)
        .args([
            "-c",
            "import openapi_spec_validator, jsonschema, referencing, yaml",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the test venv lacks a module: run `./dev test`, which installs \
         openapi-spec-validator, jsonschema and pyyaml in target/pyenv\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    python
}

/// Stdout and stderr.
fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// At most about `max` bytes of `all`: its start and its end.
fn cut(all: &str, max: usize) -> String {
    if all.len() <= max {
        return all.to_owned();
    }
    let (mut head, mut tail) = (max / 3, all.len() - max * 2 / 3);
    while !all.is_char_boundary(head) {
        head -= 1;
    }
    while !all.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{}\n[...]\n{}", &all[..head], &all[tail..])
}

#[test]
fn the_openapi_document_is_valid_openapi_3_1() {
    let out = Command::new(venv_python())
        .args(["-m", "openapi_spec_validator"])
        .arg(root().join("docs/openapi.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator refused docs/openapi.yaml:\n{}",
        cut(&text(&out), 12_000)
    );
}

/// An HTTP destination at `url`, allowed to reach loopback.
fn destination(name: &str, url: &str, settings: &str) -> String {
    format!(
        "[destinations.\"{name}\"]\nkind = \"http\"\nurl = \"{url}\"\nallow_http = true\n\
         allow_addresses = [\"127.0.0.1\"]\ntimeout = \"2s\"\n{settings}\n\n"
    )
}

#[test]
fn the_running_router_answers_as_its_openapi_document_says() {
    let python = venv_python();
    // A receiver that takes everything (and the webhooks' deliveries), one
    // that fails (dead letters) and one that is gone (a disabled destination).
    let good = Sink::start();
    let failing = Sink::start();
    failing.status.store(500, Ordering::SeqCst);
    let gone = Sink::start();
    gone.status.store(410, Ordering::SeqCst);
    let extra = format!(
        "[admin]\ntoken = \"{TOKEN}\"\n\n{}{}{}\
         [destinations.log]\nkind = \"file\"\npath = \"events.jsonl\"\n\n\
         [[routes]]\nname = \"everything\"\nto = [\"good\", \"failing\", \"gone west\", \"log\"]\n\n\
         [[routes]]\nname = \"failures\"\n\
         match = {{ kind = [\"delivery-status\"], state = [\"failed\", \"undelivered\"] }}\nto = [\"log\"]\n",
        destination("good", &good.url(), "rate_limit = 50"),
        destination("failing", &failing.url(), "retry_schedule = [\"0s\"]"),
        destination("gone west", &gone.url(), ""),
    );
    let router = Router::start(&["smsglobal", "kudosity"], &extra);
    let out = Command::new(python)
        .arg(root().join("tests/e2e/openapi/check.py"))
        .arg(root().join("docs/openapi.yaml"))
        .arg(format!("http://{}", router.admin))
        .arg(format!("http://{}", router.addr))
        .arg(TOKEN)
        .arg("--webhook-url")
        .arg(good.url())
        .output()
        .unwrap();
    let report = text(&out);
    println!("{report}");
    assert!(
        out.status.success(),
        "the router and docs/openapi.yaml disagree:\n{report}\n--- router log ---\n{}",
        cut(&router.log(), 8_000)
    );
    assert!(
        good.count() > 0 && !failing.hits().is_empty() && !gone.hits().is_empty(),
        "traffic did not reach every destination"
    );
}
