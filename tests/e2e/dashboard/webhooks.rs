//! The dashboard's Webhooks card in a real headless Chromium: a webhook
//! created through its form (a refused one first: every problem shown),
//! its secret shown once, its row (filter, state, backlog, deliveries), and
//! its Pause, Resume and two-click Delete buttons, each checked against
//! the admin API, with a token.

use std::time::Duration;

use serde_json::{Value, json};

use super::browser::*;
use super::setup::*;
use crate::support::*;

/// Types `text` into the input `selector`, replacing what it held.
fn type_into(browser: &mut Browser, selector: &str, text: &str) {
    let sel = serde_json::to_string(selector).expect("a selector as a JS string");
    browser.eval(&format!("document.querySelector({sel}).value = ''"));
    browser.click(selector);
    browser.call("Input.insertText", json!({ "text": text }));
}

/// Ticks the checkbox `selector` with the mouse.
fn tick(browser: &mut Browser, selector: &str) {
    let sel = serde_json::to_string(selector).expect("a selector as a JS string");
    browser.click(selector);
    browser.wait_for(
        &format!("{selector} to be ticked"),
        &format!("document.querySelector({sel}).checked"),
    );
}

/// Whether one of the request's Standard Webhooks signatures verifies with
/// `secret` (`whsec_` + base64).
fn signed_with(r: &Received, secret: &str) -> bool {
    use base64::Engine as _;
    use hmac::Mac as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64
        .decode(
            secret
                .strip_prefix("whsec_")
                .expect("the secret starts whsec_"),
        )
        .expect("the secret is whsec_ + base64");
    let (Some(id), Some(ts), Some(sigs)) = (
        r.header("webhook-id"),
        r.header("webhook-timestamp"),
        r.header("webhook-signature"),
    ) else {
        return false;
    };
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes a key of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(&r.body);
    let want = format!("v1,{}", b64.encode(mac.finalize().into_bytes()));
    sigs.split(' ').any(|s| s == want)
}

#[test]
fn webhooks_are_created_paused_resumed_and_deleted_from_the_dashboard() {
    chromium(); // fail first, not after the setup
    let sink = Sink::start();
    let token = "dashboard-webhooks-token-9f86d081884c7d65";
    let router = Router::start(
        &["mysmsgate"],
        &format!(
            "[destinations.archive]\nkind = \"file\"\npath = \"events.jsonl\"\n\n\
             [[routes]]\nname = \"archive\"\nmatch = {{ provider = [\"mysmsgate\"] }}\nto = [\"archive\"]\n\n\
             [admin]\ntoken = \"{token}\"\n"
        ),
    );
    let list = |router: &Router| admin_json(router.admin, "/v1/webhooks", Some(token));
    let one = |router: &Router, id: &str| -> (u16, Value) {
        let (status, _, body) = admin(
            router.admin,
            "GET",
            &format!("/v1/webhooks/{id}"),
            Some(token),
        );
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    };

    let mut browser = Browser::launch();
    browser.open(&format!("http://{}/", router.admin));
    browser.wait_for(
        "the token prompt",
        "!document.getElementById('login').hidden",
    );
    browser.click("#login-token");
    browser.call("Input.insertText", json!({ "text": token }));
    browser.click("#login button[type=submit]");
    let empty = browser.wait_for(
        "the empty webhooks card",
        "document.querySelector('#webhooks .empty')?.textContent !== 'Loading…' \
         && document.querySelector('#webhooks .empty')?.textContent",
    );
    assert_eq!(empty, json!("No webhooks yet: create one above."));

    // The config's routes, read-only beneath.
    let route = browser.wait_for(
        "the config route",
        "document.querySelector('#config-routes tr[data-route=\"archive\"]')?.innerText",
    );
    let route = route.as_str().expect("the route row's text");
    assert!(route.contains("archive"), "{route}");
    assert!(route.contains("provider: mysmsgate"), "{route}");
    assert_eq!(
        browser.eval("document.querySelectorAll('#config-routes button').length"),
        json!(0),
        "config routes are read-only"
    );

    // A 1-character name: the API refuses it (422) and the page says why,
    // next to nothing created.
    type_into(&mut browser, "#webhook-name", "x");
    type_into(&mut browser, "#webhook-url", &sink.url());
    tick(&mut browser, "#webhook-type-SMS_STATUS");
    tick(&mut browser, "#webhook-type-SMS_INBOUND");
    type_into(&mut browser, "#webhook-sender", "ACME, SHOP");
    type_into(&mut browser, "#webhook-status", "delivered, failed");
    tick(&mut browser, "#webhook-allow-local");
    browser.click("#webhook-submit");
    let problems = browser.wait_for(
        "the problems",
        "document.getElementById('webhook-problems') \
         && [...document.querySelectorAll('#webhook-problems li')].map((li) => li.textContent)",
    );
    // One problem, the name's, as the API words it ("name: " + reason).
    let problems = problems.as_array().expect("the problems' texts");
    assert_eq!(problems.len(), 1, "{problems:?}");
    let problem = problems[0].as_str().expect("a problem's text");
    assert!(
        problem.starts_with("name: ") && problem.contains("2 to 100"),
        "{problem}"
    );
    assert_eq!(
        browser.eval("document.querySelector('#webhook-problems li').dataset.field"),
        json!("name")
    );
    assert_eq!(
        browser.eval("document.getElementById('webhook-name').classList.contains('invalid')"),
        json!(true)
    );
    assert_eq!(list(&router)["webhooks"], json!([]), "nothing was created");

    // Fixed: the rest of the form is as it was.
    type_into(&mut browser, "#webhook-name", "E2E receiver");
    browser.click("#webhook-submit");
    let secret = browser.wait_for(
        "the secret",
        "document.getElementById('webhook-secret')?.textContent",
    );
    let secret = secret.as_str().expect("the secret as text").to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let note = browser.eval("document.getElementById('webhook-secret-note').textContent");
    assert!(
        note.as_str().is_some_and(|n| n.contains("Shown only now")),
        "{note}"
    );
    assert_eq!(
        browser.eval("document.getElementById('webhook-problems')"),
        Value::Null,
        "the problems are gone"
    );
    assert_eq!(
        browser.eval("document.getElementById('webhook-name').value"),
        json!(""),
        "the form is cleared"
    );
    let id = browser.eval("document.getElementById('webhook-created').dataset.createdId");
    let id = id.as_str().expect("the created webhook's id").to_owned();
    assert!(id.starts_with("wh_"), "{id}");

    // The API has it as typed.
    let all = list(&router);
    let hooks = all["webhooks"].as_array().expect("a webhooks list");
    assert_eq!(hooks.len(), 1, "{all}");
    let w = &hooks[0];
    assert_eq!(w["id"], json!(id));
    assert_eq!(w["name"], json!("E2E receiver"));
    assert_eq!(w["url"], json!(sink.url()));
    assert_eq!(w["event_types"], json!(["SMS_STATUS", "SMS_INBOUND"]));
    assert_eq!(
        w["filter"],
        json!({ "sender": ["ACME", "SHOP"], "status": ["delivered", "failed"] })
    );
    assert_eq!(w["allow_http"], json!(true));
    assert_eq!(w["allow_addresses"], json!(["127.0.0.1", "::1"]));
    assert_eq!(w["enabled"], json!(true));
    let prefix = w["secrets"][0]["prefix"]
        .as_str()
        .expect("the secret's prefix")
        .trim_end_matches('…');
    assert!(secret.starts_with(prefix), "{secret} vs {prefix}");
    assert!(w.get("secret").is_none(), "the list never shows a secret");

    // Its row: name, id, url, types, filter, state.
    let row = format!(".wh[data-webhook-id=\"{id}\"]");
    let text = |browser: &mut Browser, part: &str| -> Value {
        browser.eval(&format!(
            "document.querySelector('{row} {part}')?.textContent"
        ))
    };
    browser.wait_for(
        "the webhook's row",
        &format!("document.querySelector('{row}')"),
    );
    assert_eq!(text(&mut browser, ".wh-name"), json!("E2E receiver"));
    assert_eq!(text(&mut browser, ".wh-id"), json!(id));
    assert_eq!(text(&mut browser, ".wh-url"), json!(sink.url()));
    assert_eq!(
        browser.eval(&format!(
            "[...document.querySelectorAll('{row} .wh-types [data-event-type]')].map((e) => e.textContent)"
        )),
        json!(["SMS_STATUS", "SMS_INBOUND"])
    );
    assert_eq!(
        text(&mut browser, ".wh-filter"),
        json!("sender: ACME, SHOP · status: delivered, failed")
    );
    assert_eq!(text(&mut browser, ".wh-state"), json!("enabled"));
    browser.wait_for(
        "its breaker",
        &format!("document.querySelector('{row} .wh-breaker')?.textContent === 'breaker closed'"),
    );

    // A test event goes out, signed with the secret the page showed, and
    // the row lists the delivery with its answer and latency.
    let (status, _, body) = admin(
        router.admin,
        "POST",
        &format!("/v1/webhooks/{id}/test"),
        Some(token),
    );
    assert_eq!(status, 202, "{body}");
    let got = sink.wait_for(1, Duration::from_secs(15));
    assert_eq!(got.len(), 1, "{}", router.log());
    assert!(
        signed_with(&got[0], &secret),
        "the shown secret signs: {:?}",
        got[0].headers
    );
    let delivery = browser.wait_for(
        "the delivery in the row",
        &format!(
            "document.querySelector('{row} .wh-deliveries [data-delivered-job]')?.textContent"
        ),
    );
    let delivery = delivery.as_str().expect("the delivery's text");
    assert!(
        delivery.starts_with("HTTP 200 · ") && delivery.ends_with(" ms"),
        "{delivery}"
    );

    // Pause: the API says disabled, the row says paused, and an event waits.
    browser.click(&format!("{row} button.wh-pause"));
    // Paused in the API, then in its destination (applied just after).
    wait_until("the webhook paused", || {
        let (status, w) = one(&router, &id);
        let paused = w["enabled"] == json!(false) && w["status"]["paused"] == json!(true);
        (status == 200 && paused, w)
    });
    browser.wait_for(
        "the row paused",
        &format!(
            "document.querySelector('{row}')?.dataset.state === 'paused' \
             && document.querySelector('{row} .wh-state').textContent === 'paused' \
             && document.querySelector('{row} button.wh-pause').textContent === 'Resume'"
        ),
    );
    assert_eq!(
        browser.eval("document.getElementById('toast').textContent"),
        json!("E2E receiver is paused: its deliveries wait")
    );
    let (status, _, body) = admin(
        router.admin,
        "POST",
        &format!("/v1/webhooks/{id}/test"),
        Some(token),
    );
    assert_eq!(status, 202, "{body}");
    wait_until("the event waiting", || {
        let (_, w) = one(&router, &id);
        (w["status"]["backlog"] == json!(1), w)
    });
    browser.wait_for(
        "the backlog in the row",
        &format!("document.querySelector('{row} .wh-backlog')?.dataset.backlog === '1'"),
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.count(), 1, "a paused webhook delivers nothing");

    // Resume: the waiting event goes out.
    browser.click(&format!("{row} button.wh-pause"));
    wait_until("the webhook resumed", || {
        let (status, w) = one(&router, &id);
        let resumed = w["enabled"] == json!(true) && w["status"]["paused"] == json!(false);
        (status == 200 && resumed, w)
    });
    let got = sink.wait_for(2, Duration::from_secs(15));
    assert_eq!(got.len(), 2, "{}", router.log());
    browser.wait_for(
        "the row enabled",
        &format!(
            "document.querySelector('{row}')?.dataset.state === 'enabled' \
             && document.querySelector('{row} button.wh-pause').textContent === 'Pause'"
        ),
    );

    // Delete takes two clicks: the first only asks.
    browser.click(&format!("{row} button.wh-delete"));
    browser.wait_for(
        "the confirmation button",
        &format!(
            "document.querySelector('{row} button.wh-delete')?.textContent === 'Confirm delete'"
        ),
    );
    assert_eq!(one(&router, &id).0, 200, "one click deletes nothing");
    browser.click(&format!("{row} button.wh-delete"));
    wait_until("the webhook gone", || {
        let (status, w) = one(&router, &id);
        (status == 404, (status, w))
    });
    browser.wait_for("the row gone", &format!("!document.querySelector('{row}')"));
    assert_eq!(
        browser.eval("document.getElementById('toast').textContent"),
        json!("E2E receiver is deleted")
    );
    assert_eq!(list(&router)["webhooks"], json!([]));
    browser.wait_for(
        "the empty list again",
        "document.querySelector('#webhooks .empty')?.textContent === 'No webhooks yet: create one above.'",
    );
}
