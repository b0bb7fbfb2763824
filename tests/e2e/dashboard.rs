//! The dashboard (`GET /` on the admin listener) in a real headless
//! Chromium: what the operator sees first, rendered from the live admin
//! API, and its Redrive button clicked like a person would (mouse events
//! over the Chrome DevTools Protocol, `--remote-debugging-pipe`).
//!
//! `./dev test` installs Chromium (Debian's `chromium`); without it these
//! tests fail, they do not skip. The screenshot goes to a temp dir; with
//! `DASHBOARD_SCREENSHOT=docs/dashboard.png` it is written there instead
//! (how the committed one is made).

use std::time::Duration;

use serde_json::json;

use crate::support::*;

mod browser;
mod setup;
mod webhooks;
use browser::*;
use setup::*;

#[test]
fn dashboard_shows_providers_events_destinations_and_dead_letters() {
    chromium(); // fail first, not after the setup
    let (router, _analytics) = busy_router();

    // The page is public and self-contained; the API behind it is not (here
    // without a token: loopback).
    let (status, head, page) = admin(router.admin, "GET", "/", None);
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    assert!(
        head.contains("content-security-policy: default-src 'none'"),
        "{head}"
    );
    for external in ["http://", "https://", "src=\"", "@import"] {
        assert!(
            !page.contains(external),
            "the page must not load `{external}...`"
        );
    }
    assert!(
        !page.contains(".innerHTML"),
        "data goes into the DOM as text only"
    );

    let plugins = admin_json(router.admin, "/v1/plugins", None);
    let dead = admin_json(router.admin, "/v1/deliveries?state=dead", None);
    let delivered = admin_json(
        router.admin,
        "/v1/deliveries?state=delivered&limit=10",
        None,
    );
    let url = format!("http://{}/", router.admin);
    let dom = headless(
        &["--virtual-time-budget=5000".into(), "--dump-dom".into()],
        &url,
    );
    let section = |id: &str| -> String {
        let start = dom
            .find(&format!("<section class=\"card\" id=\"{id}\""))
            .unwrap_or_else(|| panic!("no section {id}:\n{dom}"));
        let end = dom[start..].find("</section>").unwrap() + start;
        dom[start..end].to_owned()
    };

    // Live counts per provider, as the API counts them.
    let providers = section("providers");
    for p in plugins.as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let block_start = providers
            .find(&format!("data-provider=\"{name}\""))
            .unwrap_or_else(|| panic!("provider {name} missing:\n{providers}"));
        let block = &providers[block_start..];
        let block = &block[..block[1..]
            .find("data-provider=")
            .map_or(block.len(), |i| i + 1)];
        let requests = p["requests"].as_object().unwrap();
        let total: u64 = requests.values().map(|v| v.as_u64().unwrap()).sum();
        assert!(
            block.contains(&format!("<div class=\"total\">{total}</div>")),
            "{name}: total {total}:\n{block}"
        );
        for (code, n) in requests {
            assert!(
                block.contains(&format!("data-status=\"{code}\"><b>{n}</b> × {code}")),
                "{name}: {n} × {code}:\n{block}"
            );
        }
    }
    assert!(
        providers.contains("data-status=\"403\""),
        "twilio's refused callback"
    );
    // The mounts anyone can post to are named: unsigned providers without
    // protection (here infobip, kannel and sinch), not the signed ones.
    let warn_start = providers
        .find("id=\"unprotected\"")
        .unwrap_or_else(|| panic!("no unprotected-mount warning:\n{providers}"));
    let warning =
        &providers[warn_start..providers[warn_start..].find("</div>").unwrap() + warn_start];
    assert!(warning.contains("data-count=\"3\""), "{warning}");
    assert!(
        warning.contains("Unprotected: infobip, kannel, sinch "),
        "{warning}"
    );

    // Recent events: newest first, with provider, type, state or text, message id.
    let events = section("events");
    assert!(
        events.contains("<td class=\"mono\" title=\"msg-1003\">msg-1003</td>"),
        "{events}"
    );
    assert!(events.contains(">mysmsgate<"), "{events}");
    assert!(events.contains(">delivery-status<"), "{events}");
    assert!(events.contains(">inbound-message<"), "{events}");
    assert!(events.contains(">delivered<"), "{events}");
    // A provider's hostile text stays text.
    assert!(events.contains("&lt;img src=x onerror="), "{events}");
    assert!(
        dom.contains("<title>Switchboard</title>"),
        "the payload ran"
    );
    assert!(!dom.contains("pwned</title>"));
    assert!(!dom.contains("<img src=\"x\""), "an element was injected");

    // Destinations: crm failing (breaker open, backlog), the others healthy.
    let destinations = section("destinations");
    let row = |name: &str| -> String {
        let start = destinations
            .find(&format!("data-destination=\"{name}\""))
            .unwrap_or_else(|| panic!("destination {name} missing:\n{destinations}"));
        let row_start = destinations[..start].rfind("<tr").unwrap();
        let end = destinations[start..].find("</tr>").unwrap() + start;
        destinations[row_start..end].to_owned()
    };
    let crm = row("crm");
    assert!(crm.starts_with("<tr class=\"failing\""), "{crm}");
    assert!(crm.contains(">open<"), "{crm}");
    assert!(crm.contains("probe in"), "{crm}");
    for healthy in ["analytics", "archive"] {
        let r = row(healthy);
        assert!(!r.contains("failing"), "{r}");
        assert!(r.contains(">closed<"), "{r}");
    }

    // Dead letters, each with its Redrive button, and "redrive all" for crm.
    let dead_section = section("dead");
    assert!(dead_section.contains("Redrive all 3"), "{dead_section}");
    let dead = dead.as_array().unwrap();
    assert_eq!(dead.len(), 3);
    for job in dead {
        let id = job["id"].as_u64().unwrap();
        let start = dead_section
            .find(&format!("data-job=\"{id}\""))
            .unwrap_or_else(|| panic!("dead letter {id} missing:\n{dead_section}"));
        let item = &dead_section[start..];
        let item = &item[..item.find("</button>").unwrap()];
        assert!(item.contains("class=\"btn primary redrive\""), "{item}");
        assert!(item.ends_with(">Redrive"), "{item}");
        assert!(item.contains("Connection refused"), "{item}");
    }
    // Recent deliveries: the API's most recent ten, each with its answer.
    let delivered_section = section("delivered");
    let delivered = delivered.as_array().unwrap();
    assert_eq!(delivered.len(), 10, "analytics and archive took more");
    for job in delivered {
        let id = job["id"].as_u64().unwrap();
        let start = delivered_section
            .find(&format!("data-delivered-job=\"{id}\""))
            .unwrap_or_else(|| panic!("delivery {id} missing:\n{delivered_section}"));
        let row = &delivered_section[start..];
        let row = &row[..row.find("</tr>").unwrap()];
        let dest = job["destination"].as_str().unwrap();
        assert!(row.contains(&format!(">{dest}<")), "{row}");
        let answer = if dest == "archive" {
            ">written<"
        } else {
            ">HTTP 200<"
        };
        assert!(row.contains(answer), "{row}");
        assert!(row.contains(job["event_id"].as_str().unwrap()), "{row}");
    }
    assert!(dom.contains("live · updated"), "the page reached the API");

    // The screenshot of this state.
    let tmp = tempfile::tempdir().unwrap();
    let png = match std::env::var_os("DASHBOARD_SCREENSHOT") {
        Some(p) => root().join(p),
        None => tmp.path().join("dashboard.png"),
    };
    headless(
        &[
            "--virtual-time-budget=5000".into(),
            format!("--screenshot={}", png.display()),
        ],
        &url,
    );
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", png.display());
    assert!(bytes.len() > 20_000, "a blank page? {} bytes", bytes.len());
}

#[test]
fn redrive_and_enable_buttons_work_in_a_real_browser_with_a_token() {
    chromium();
    let sink = Sink::start();
    // The first delivery is refused for good (a 422): a dead letter. The
    // receiver is fixed afterwards (200).
    sink.answer(&[(422, None)]);
    // `legacy` answers 410 Gone: disabled until the operator enables it.
    let legacy = Sink::start();
    legacy.answer(&[(410, None)]);
    let token = "dashboard-e2e-token-5d41402abc4b2a76";
    let router = Router::start(
        &["mysmsgate"],
        &format!(
            "{}\n[destinations.legacy]\nkind = \"http\"\nurl = \"{}\"\nallow_http = true\n\
             allow_addresses = [\"127.0.0.1\"]\n\n[[routes]]\nname = \"legacy\"\nto = [\"legacy\"]\n\n\
             [admin]\ntoken = \"{token}\"\n",
            sink_destination(&sink.url(), "retry_schedule = [\"0s\"]"),
            legacy.url()
        ),
    );
    assert_eq!(
        router
            .send(&mysmsgate_report("dash-42", "delivered"))
            .status,
        200
    );
    let dead = wait_until("a dead letter", || {
        let dead = admin_json(router.admin, "/v1/deliveries?state=dead", Some(token));
        (dead.as_array().unwrap().len() == 1, dead)
    });
    let job = dead[0]["id"].as_u64().unwrap();
    assert_eq!(sink.hits().len(), 1);
    wait_until("legacy disabled", || {
        let dests = admin_json(router.admin, "/v1/destinations", Some(token));
        let legacy = dests[0].clone();
        (
            legacy["name"] == "legacy" && legacy["disabled"].is_string(),
            dests,
        )
    });

    // The page needs no token; the API does.
    assert_eq!(admin(router.admin, "GET", "/", None).0, 200);
    assert_eq!(admin(router.admin, "GET", "/v1/destinations", None).0, 401);

    let mut browser = Browser::launch();
    browser.open(&format!("http://{}/", router.admin));
    // It asks for the token, keeps it for the session, then shows the data.
    browser.wait_for(
        "the token prompt",
        "!document.getElementById('login').hidden",
    );
    browser.click("#login-token");
    browser.call("Input.insertText", json!({ "text": token }));
    browser.click("#login button[type=submit]");
    let item = format!("[data-job=\"{job}\"]");
    browser.wait_for(
        "the dead letter",
        &format!("document.querySelector('{item}')?.innerText"),
    );
    assert_eq!(
        browser.eval("sessionStorage.getItem('switchboard.admin.token')"),
        json!(token)
    );
    assert!(browser.eval("document.getElementById('login').hidden") == true);

    browser.click(&format!("{item} button.redrive"));

    // The job went back to pending and out again, to a receiver that now
    // accepts it.
    let got = sink.wait_for(1, Duration::from_secs(15));
    assert_eq!(got.len(), 1, "{}", router.log());
    assert_eq!(got[0].json["data"]["message_id"], "dash-42");
    wait_until("no dead letters left", || {
        let dead = admin_json(router.admin, "/v1/deliveries?state=dead", Some(token));
        (dead.as_array().unwrap().is_empty(), dead)
    });
    // The page says so and drops the row.
    let toast = browser.wait_for(
        "the confirmation",
        "document.getElementById('toast').textContent",
    );
    assert_eq!(toast, json!(format!("Job {job} is pending again")));
    browser.wait_for(
        "the row to go",
        &format!("!document.querySelector('{item}')"),
    );
    browser.wait_for(
        "the empty list",
        "document.querySelector('#dead .empty')?.innerText",
    );

    // The disabled destination has an Enable button; its waiting job goes out.
    let row = "[data-destination=\"legacy\"]";
    assert!(browser.eval(&format!("document.querySelector('{row}').className")) == "failing");
    browser.click(&format!("{row} button"));
    let got = legacy.wait_for(1, Duration::from_secs(15));
    assert_eq!(got.len(), 1, "{}", router.log());
    assert_eq!(got[0].json["data"]["message_id"], "dash-42");
    browser.wait_for(
        "legacy enabled on the page",
        &format!(
            "!document.querySelector('{row} button') && !document.querySelector('{row}.failing')"
        ),
    );
    // The event's trail: picked in Recent events, the deliveries card shows
    // its two jobs, both delivered now, each with its whole history.
    let event = dead[0]["event_id"].as_str().unwrap().to_owned();
    browser.click(&format!("#events tr[data-event=\"{event}\"]"));
    let trail = browser.wait_for(
        "the event's deliveries",
        "(() => { const r = [...document.querySelectorAll('#delivered tbody tr')]; \
         if (r.length !== 2 || r.some((x) => x.dataset.state !== 'delivered')) return null; \
         return r.map((x) => [x.cells[1].innerText, x.cells[2].innerText, \
           x.cells[3].querySelector('.badge').innerText, \
           x.cells[3].querySelector('.tag')?.innerText].join('|')).sort(); })()",
    );
    assert_eq!(
        trail,
        json!([
            "legacy|delivered|HTTP 200|2 attempts",
            "sink|delivered|HTTP 200|2 attempts"
        ])
    );
    assert_eq!(
        browser.eval("document.getElementById('trace-id').value"),
        json!(event)
    );
    // An id typed in that the router never recorded says so.
    browser.eval("document.getElementById('trace-id').value = ''");
    browser.click("#trace-id");
    browser.call("Input.insertText", json!({ "text": "evt_never_seen" }));
    browser.click("#trace-form button[type=submit]");
    let none = browser.wait_for(
        "the empty trail",
        "document.querySelector('#delivered .empty')?.innerText.startsWith('No deliveries') \
         && document.querySelector('#delivered .empty').innerText",
    );
    assert!(
        none.as_str().unwrap().contains("no route matched"),
        "{none}"
    );
    // Back to the most recent deliveries of every event.
    browser.click("#trace-clear");
    browser.wait_for(
        "the recent deliveries",
        "document.getElementById('delivered-name').innerText === 'Recent deliveries' \
         && document.querySelectorAll('#delivered tbody tr').length === 2",
    );

    // Nothing a provider sent became markup.
    assert_eq!(
        browser.eval("document.querySelectorAll('img, script[src], iframe').length"),
        json!(0)
    );
}
