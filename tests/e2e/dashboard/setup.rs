//! The router the dashboard tests look at, and their admin API helpers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_plugin_sdk::fixture::Fixture;

use crate::support::*;

/// An admin API call: status, lowercased head, body.
pub(super) fn admin(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}content-length: 0\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

pub(super) fn admin_json(addr: SocketAddr, path: &str, token: Option<&str>) -> Value {
    let (status, _, body) = admin(addr, "GET", path, token);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// One destination's status, as `/v1/destinations` shows it.
fn destination(addr: SocketAddr, name: &str) -> Option<Value> {
    let all = admin_json(addr, "/v1/destinations", None);
    all.as_array()?.iter().find(|d| d["name"] == name).cloned()
}

/// Polls `probe` until it says done (bounded); what it saw last.
pub(super) fn wait_until<T: std::fmt::Debug>(
    what: &str,
    mut probe: impl FnMut() -> (bool, T),
) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (ok, value) = probe();
        if ok {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}; last seen: {value:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Kannel MO message (unsigned GET: any text).
pub(super) fn kannel_mo(id: &str, from: &str, text: &str) -> Fixture {
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("from", from)
        .append_pair("to", "4545")
        .append_pair("text", text)
        .append_pair("coding", "0")
        .append_pair("charset", "UTF-8")
        .append_pair("msgid", id)
        .append_pair("time", "1700749000")
        .finish();
    Fixture {
        method: "GET".into(),
        target: format!("/api/v1/kannelIncoming/shop1?{q}"),
        headers: vec![("User-Agent".into(), "Kannel/1.4.5".into())],
        body: Vec::new(),
    }
}

/// Text a provider could send us that must stay text on the page.
pub(super) const HOSTILE: &str = "<img src=x onerror=\"document.title='pwned'\"> ok";

/// A router in the state an operator dreads a little: five providers with
/// traffic (some refused), `crm` down (three dead letters, breaker open,
/// a backlog), `analytics` and `archive` healthy.
pub(super) fn busy_router() -> (Router, Sink) {
    let analytics = Sink::start();
    let down = Sink::reserve_port();
    let extra = format!(
        "[destinations.crm]\nkind = \"http\"\nurl = \"http://{down}/webhooks/sms\"\nallow_http = true\n\
         allow_addresses = [\"127.0.0.1\"]\ntimeout = \"2s\"\nretry_schedule = [\"0s\", \"100ms\"]\n\
         breaker_threshold = 6\nbreaker_cooldown = \"10m\"\n\n\
         [destinations.analytics]\nkind = \"http\"\nurl = \"{}\"\nallow_http = true\n\
         allow_addresses = [\"127.0.0.1\"]\ntimeout = \"2s\"\n\n\
         [destinations.archive]\nkind = \"file\"\npath = \"events.jsonl\"\n\n\
         [[routes]]\nname = \"everything\"\nto = [\"crm\", \"analytics\", \"archive\"]\n",
        analytics.url()
    );
    let router = Router::start(
        &["infobip", "kannel", "mysmsgate", "sinch", "twilio"],
        &extra,
    );
    let send = |fx: &Fixture, want: u16| {
        let reply = router.send(fx);
        assert_eq!(reply.status, want, "{fx:?}: {reply:?}\n{}", router.log());
    };

    // Three deliveries to crm fail twice each: dead letters; the sixth
    // consecutive failure opens its breaker.
    for (id, status) in [
        ("msg-1001", "failed"),
        ("msg-1002", "delivered"),
        ("msg-1003", "sent"),
    ] {
        send(&mysmsgate_report(id, status), 200);
    }
    wait_until("three dead letters and an open breaker", || {
        let dead = admin_json(router.admin, "/v1/deliveries?state=dead", None);
        let crm = destination(router.admin, "crm");
        let open = crm.as_ref().is_some_and(|c| c["breaker"] == "open");
        (dead.as_array().unwrap().len() == 3 && open, (dead, crm))
    });

    // Everything after waits behind the open breaker: the backlog.
    let fx = |p: &str, n: &str| fixture(p, n);
    let traffic: Vec<(Fixture, u16)> = vec![
        (fx("twilio", "status-sent.http"), 200),
        (fx("sinch", "recipient-delivered.http"), 200),
        (mysmsgate_report("msg-1004", "sent"), 200),
        (fx("kannel", "dlr-delivered.http"), 200),
        (fx("infobip", "delivered-batch.http"), 200),
        (fx("twilio", "reject-bad-signature.http"), 403),
        (fx("twilio", "status-delivered.http"), 200),
        (mysmsgate_report("msg-1005", "delivered"), 200),
        (fx("sinch", "reject-not-json.http"), 400),
        (fx("kannel", "dlr-undeliv.http"), 200),
        (fx("sinch", "recipient-failed.http"), 200),
        (mysmsgate_report("msg-1006", "delivered"), 200),
        (fx("twilio", "inbound-sms.http"), 200),
        (fx("infobip", "whatsapp-seen.http"), 200),
        (mysmsgate_report("msg-1004", "delivered"), 200),
        (fx("kannel", "mo-sms.http"), 200),
        (fx("infobip", "reject-not-json.http"), 400),
        (fx("sinch", "mo-text.http"), 200),
        (kannel_mo("a1b2c3d4-hostile", "+79160000000", HOSTILE), 200),
        (fx("twilio", "status-whatsapp-read.http"), 200),
        (mysmsgate_report("msg-1007", "sent"), 200),
        (fx("kannel", "mo-latin1.http"), 200),
        (mysmsgate_report("msg-1003", "delivered"), 200),
    ];
    for (f, want) in &traffic {
        send(f, *want);
    }
    // Settled: analytics and the archive got every routed event and the
    // router recorded each delivery, crm holds the same ones (less its three
    // dead letters) as backlog; nothing is delivered after this (crm's
    // breaker waits 10 minutes).
    let archive = router.dir.join("events.jsonl");
    wait_until(
        "analytics and archive to catch up, crm's backlog to match",
        || {
            let crm = destination(router.admin, "crm").unwrap();
            let backlog = crm["backlog"].as_u64().unwrap() as usize;
            let got = analytics.count();
            let archived = std::fs::read_to_string(&archive).map_or(0, |t| t.lines().count());
            // A destination has an event before the router records it
            // delivered: wait for the records too.
            let recorded = admin_json(
                router.admin,
                "/v1/deliveries?state=delivered&limit=1000",
                None,
            )
            .as_array()
            .map_or(0, Vec::len);
            let settled =
                backlog >= 15 && got == backlog + 3 && archived == got && recorded == 2 * got;
            (settled, (backlog, got, archived, recorded, crm))
        },
    );
    (router, analytics)
}
