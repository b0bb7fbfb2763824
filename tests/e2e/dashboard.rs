//! The dashboard (`GET /` on the admin listener) in a real headless
//! Chromium: what the operator sees first, rendered from the live admin
//! API, and its Redrive button clicked like a person would (mouse events
//! over the Chrome DevTools Protocol, `--remote-debugging-pipe`).
//!
//! `./dev test` installs Chromium (Debian's `chromium`); without it these
//! tests fail, they do not skip. The screenshot goes to a temp dir; with
//! `DASHBOARD_SCREENSHOT=docs/dashboard.png` it is written there instead
//! (how the committed one is made).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_plugin_sdk::fixture::Fixture;

use crate::support::*;

/// Flags for every Chromium run: headless as root in a container, its own
/// throwaway profile (tests run in parallel), quiet.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`chromium` is not on PATH: the dashboard is tested in a real browser; \
                 `./dev test` installs it (apt-get install chromium)"
            )
        })
}

/// Runs headless Chromium on `url` with `args`; its stdout. Bounded: a hung
/// browser is killed and fails the test.
fn headless(args: &[String], url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium())
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} {url} did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "chromium {args:?} {url}: {status}");
    reader.join().unwrap()
}

/// An admin API call: status, lowercased head, body.
fn admin(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> (u16, String, String) {
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

fn admin_json(addr: SocketAddr, path: &str, token: Option<&str>) -> Value {
    let (status, _, body) = admin(addr, "GET", path, token);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// Polls `probe` until it says done (bounded); what it saw last.
fn wait_until<T: std::fmt::Debug>(what: &str, mut probe: impl FnMut() -> (bool, T)) -> T {
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
fn kannel_mo(id: &str, from: &str, text: &str) -> Fixture {
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
const HOSTILE: &str = "<img src=x onerror=\"document.title='pwned'\"> ok";

/// A router in the state an operator dreads a little: five providers with
/// traffic (some refused), `crm` down (three dead letters, breaker open,
/// a backlog), `analytics` and `archive` healthy.
fn busy_router() -> (Router, Sink) {
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
        let dests = admin_json(router.admin, "/v1/destinations", None);
        let crm = dests
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == "crm")
            .cloned();
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
    // Settled: analytics got every routed event, crm holds the same ones
    // (less its three dead letters) as backlog.
    wait_until("analytics to catch up and crm's backlog to match", || {
        let dests = admin_json(router.admin, "/v1/destinations", None);
        let crm = dests
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == "crm")
            .cloned()
            .unwrap();
        let backlog = crm["backlog"].as_u64().unwrap() as usize;
        let got = analytics.count();
        (backlog >= 15 && got == backlog + 3, (backlog, got, crm))
    });
    (router, analytics)
}

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

/// Headless Chromium driven over the Chrome DevTools Protocol on a pipe
/// (fd 3 in, fd 4 out, messages separated by NUL): no port, no websocket.
struct Browser {
    child: Child,
    to: ChildStdin,
    from: mpsc::Receiver<Value>,
    next: u64,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn launch() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        // The shell hands our pipes to Chromium as fds 3 and 4.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>/dev/null"#)
            .arg(chromium())
            .args(CHROMIUM_FLAGS)
            .arg("--remote-debugging-pipe")
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let to = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, from) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(out);
            loop {
                let mut msg = Vec::new();
                if reader.read_until(0, &mut msg).unwrap_or(0) == 0 {
                    return;
                }
                msg.pop_if(|b| *b == 0);
                if let Ok(v) = serde_json::from_slice::<Value>(&msg)
                    && tx.send(v).is_err()
                {
                    return;
                }
            }
        });
        Browser {
            child,
            to,
            from,
            next: 0,
            session: None,
            _profile: profile,
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        self.to.flush().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .from
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("chromium did not answer {method}"));
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Opens `url` in a new tab and talks to that tab from now on.
    fn open(&mut self, url: &str) {
        let target = self.call("Target.createTarget", json!({ "url": url }));
        let attached = self.call(
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        self.session = attached["sessionId"].as_str().map(str::to_owned);
    }

    fn eval(&mut self, expression: &str) -> Value {
        self.try_eval(expression)
            .unwrap_or_else(|e| panic!("{expression}: {e}"))
    }

    /// The value of a JS expression, or what it threw.
    fn try_eval(&mut self, expression: &str) -> Result<Value, Value> {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        match r.get("exceptionDetails") {
            Some(e) => Err(e.clone()),
            None => Ok(r["result"]["value"].clone()),
        }
    }

    /// Polls a JS expression until it is truthy (the page may still be
    /// loading: a throw is a no); its value.
    fn wait_for(&mut self, what: &str, expression: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.try_eval(expression).unwrap_or(Value::Null);
            if !(v.is_null() || v == false || v == "") {
                return v;
            }
            if Instant::now() > deadline {
                let text = self.eval("document.body.innerText");
                panic!("timed out waiting for {what}; the page shows:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clicks the element `selector` with the mouse, once it is enabled.
    fn click(&mut self, selector: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let at = self.wait_for(
            selector,
            &format!(
                "(() => {{ const e = document.querySelector({sel}); if (!e || e.disabled) return null; \
                 e.scrollIntoView({{ block: 'center' }}); const r = e.getBoundingClientRect(); \
                 return {{ x: r.x + r.width / 2, y: r.y + r.height / 2 }}; }})()"
            ),
        );
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": at["x"], "y": at["y"], "button": "left", "clickCount": 1 }),
            );
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.session = None;
        let mut bytes = serde_json::to_vec(&json!({ "id": 0, "method": "Browser.close" })).unwrap();
        bytes.push(0);
        let _ = self.to.write_all(&bytes);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    // Nothing a provider sent became markup.
    assert_eq!(
        browser.eval("document.querySelectorAll('img, script[src], iframe').length"),
        json!(0)
    );
}
