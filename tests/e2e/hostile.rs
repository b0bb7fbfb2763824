//! Hostile clients at the door: oversized headers, many slowloris
//! connections at once, invalid UTF-8 and odd charsets, path traversal in
//! route captures, forged signatures, and signed requests replayed outside
//! the provider's timestamp tolerance. Always a clear 4xx (or the callback
//! kept as sent), never a hang, never a forwarded forgery.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::Mac as _;
use switchboard_plugin_sdk::fixture::Fixture;

use crate::support::*;

fn status_of(buf: &[u8]) -> u16 {
    String::from_utf8_lossy(buf)
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn oversized_or_too_many_headers_get_431_not_a_hang() {
    let router = Router::start(&["twilio"], "");
    let huge = format!(
        "POST /api/v1/smsCallback HTTP/1.1\r\nhost: x\r\nx-big: {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let many: String = (0..500).map(|i| format!("x-h{i}: v\r\n")).collect();
    let many = format!(
        "POST /api/v1/smsCallback HTTP/1.1\r\nhost: x\r\n{many}content-length: 0\r\nconnection: close\r\n\r\n"
    );
    let long_uri = format!(
        "GET /api/v1/smsCallback?{} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        "q=1&".repeat(200_000)
    );
    for (what, req) in [
        ("1 MB header", huge),
        ("500 headers", many),
        ("800 KB URI", long_uri),
    ] {
        let mut s = TcpStream::connect(router.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        // The router may stop reading and answer before all is written.
        let _ = s.write_all(req.as_bytes());
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let status = status_of(&buf);
        assert!(
            status == 431 || status == 414,
            "{what}: {status} {}",
            String::from_utf8_lossy(&buf)
        );
    }
    assert_eq!(router.get("/healthz").status, 200);
}

#[test]
fn many_slowloris_connections_are_cut_while_a_normal_client_is_served() {
    let sink = Sink::start();
    let router = Router::start(&["twilio"], &http_destination(&sink.url()));
    // 200 clients that send their headers a byte at a time, forever.
    let mut slow: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut s = TcpStream::connect(router.addr).unwrap();
            s.write_all(b"POST /api/v1/smsCallback HTTP/1.1\r\nhost: x\r\nx-slow: ")
                .unwrap();
            s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    let trickle = std::thread::spawn(move || {
        let mut open = slow.len();
        let deadline = Instant::now() + Duration::from_secs(20);
        while open > 0 && Instant::now() < deadline {
            open = 0;
            for s in &mut slow {
                let mut b = [0u8; 64];
                // Closed by the router: a read returns 0 (or the write fails).
                let closed = matches!(s.read(&mut b), Ok(0)) || s.write_all(b"a").is_err();
                if !closed {
                    open += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        open
    });
    // Meanwhile a real provider callback is answered and forwarded.
    let reply = router.send(&fixture("twilio", "status-delivered.http"));
    assert_eq!(reply.status, 200, "{}", router.log());
    assert_eq!(sink.wait_for(1, Duration::from_secs(10)).len(), 1);
    let still_open = trickle.join().unwrap();
    assert_eq!(
        still_open,
        0,
        "slow clients still held after {:?}",
        started.elapsed()
    );
    assert_eq!(router.get("/healthz").status, 200);
}

#[test]
fn invalid_utf8_and_odd_charsets_get_a_clear_answer_and_are_kept_as_sent() {
    let router = Router::start(&["kannel", "twilio"], "");
    let bodies: [(&str, &[u8]); 4] = [
        (
            "application/x-www-form-urlencoded; charset=utf-8",
            b"from=%2B33612345678&to=36180&text=caf\xe9\xff\xfe&msgid=h1",
        ),
        (
            "application/x-www-form-urlencoded; charset=x-made-up",
            b"from=1&to=2&text=%C0%AE%C0%AE&msgid=h2",
        ),
        (
            "application/json; charset=utf-16",
            b"\xff\xfe{\x00\"\x00a\x00\"\x00",
        ),
        ("text/plain; charset=\"\\\"", b"\x00\x01\x02\xc3\x28"),
    ];
    for (ctype, body) in bodies {
        for path in ["/api/v1/kannelIncoming/shop1", "/api/v1/smsCallback"] {
            let mut req = format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            req.extend_from_slice(body);
            let reply = router.send_raw(&req);
            assert!(
                (200..500).contains(&reply.status),
                "{path} {ctype}: {reply:?}\n{}",
                router.log()
            );
        }
    }
    // Every one is kept, its body byte for byte, whatever the answer.
    let captures = router.cli_json(&["captures", "--limit", "100"]);
    let captures = captures.as_array().unwrap();
    assert_eq!(captures.len(), 8, "{captures:#?}");
    let reply = router.admin_call(
        "GET",
        &format!("/v1/captures/{}", captures.last().unwrap()["id"]),
    );
    let shown: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(shown["capture"]["body"].as_str().unwrap())
        .unwrap();
    assert!(
        bodies.iter().any(|(_, b)| *b == raw.as_slice()),
        "{shown:#}"
    );
}

#[test]
fn path_traversal_in_a_route_capture_is_a_404_and_touches_nothing() {
    let sink = Sink::start();
    let router = Router::start(&["twilio"], &http_destination(&sink.url()));
    let fx = fixture("twilio", "inbound-mms.http");
    for capture in [
        "..%2F..%2Fetc%2Fpasswd",
        "..",
        "%2e%2e",
        "..%5C..%5Cwindows",
        "a%00b",
        "%2F",
        "shop1/../../etc",
        "%C0%AE%C0%AE",
        "%zz",
    ] {
        let mut bad = fx.clone();
        bad.target = format!("/api/v1/smsCallback/{capture}");
        let reply = router.send(&bad);
        assert_eq!(reply.status, 404, "{capture}: {reply:?}");
    }
    // Nothing was kept or forwarded, nothing appeared outside the data dir.
    assert_eq!(router.cli_json(&["captures"]), serde_json::json!([]));
    assert!(!router.dir.join("etc").exists());
    // An odd but harmless value is captured as sent (decoded) and carried.
    let mut odd = fx.clone();
    odd.target = "/api/v1/smsCallback/shop%20%C3%A9".into();
    let reply = router.send(&odd);
    // Twilio signs the URL: the changed path is refused as unsigned...
    assert_eq!(reply.status, 403, "{reply:?}");
    let captures = router.cli_json(&["captures"]);
    assert_eq!(captures[0]["params"][0][1], "shop é", "{captures:#}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.count(), 0);
}

/// A signature value with one character changed in the middle (the end of
/// a base64 value may only carry padding bits).
fn forge(sig: &str) -> String {
    let mut chars: Vec<char> = sig.chars().collect();
    let start = sig.rfind('.').map_or(0, |i| i + 1);
    let i = start + (chars.len() - start) / 2;
    chars[i] = match chars[i] {
        '0'..='8' | 'a'..='y' | 'A'..='Y' => (chars[i] as u8 + 1) as char,
        _ => '0',
    };
    chars.into_iter().collect()
}

#[test]
fn forged_signatures_are_403_and_nothing_is_forwarded() {
    let sink = Sink::start();
    // Each signing provider with its fixture keys (fixed-time fixtures).
    let cases = [
        ("twilio", "status-delivered.http", "X-Twilio-Signature"),
        (
            "telnyx",
            "message-finalized-delivered.http",
            "telnyx-signature-ed25519",
        ),
        ("vonage", "messages-status-delivered.http", "Authorization"),
        ("plivo", "status-delivered.http", "X-Plivo-Signature-V3"),
        (
            "kudosity",
            "legacy-dlr-delivered.http",
            "X-Transmitsms-Signature",
        ),
        ("mysmsgate", "delivered.http", "X-Signature"),
    ];
    let mut sections = String::new();
    for (plugin, _, _) in &cases {
        let keys = std::fs::read_to_string(
            root()
                .join("plugins")
                .join(plugin)
                .join("fixtures/config.toml"),
        )
        .unwrap();
        sections.push_str(&format!("[plugins.{plugin}]\n{keys}\n"));
    }
    let plugins: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let cfg = config(
        &[],
        &format!("{sections}\n{}", http_destination(&sink.url())),
    );
    let router = Router::start_with_config(&plugins, &cfg);
    for (plugin, name, header) in &cases {
        let fx = fixture(plugin, name);
        let mut forged = fx.clone();
        let (_, sig) = forged
            .headers
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(header))
            .unwrap_or_else(|| panic!("{plugin}/{name} has no {header}"));
        *sig = forge(sig);
        let reply = router.send(&forged);
        assert_eq!(reply.status, 403, "{plugin}: {reply:?}\n{}", router.log());
        // The genuine one is accepted (the keys are right).
        assert!(router.send(&fx).status < 300, "{plugin}:\n{}", router.log());
    }
    let got = sink.wait_for(cases.len(), Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.count(), cases.len(), "{got:#?}");
    // Vonage's SMS API signs a query parameter instead.
    let fx = fixture("vonage", "dlr-delivered-get.http");
    let mut forged = fx.clone();
    let sig = fx.target.split("sig=").nth(1).unwrap();
    forged.target = fx.target.replace(sig, &forge(sig));
    assert_eq!(router.send(&forged).status, 403);
}

/// A Vonage SMS API delivery receipt signed (HMAC-SHA256) at `timestamp`.
fn vonage_dlr(id: &str, timestamp: i64) -> Fixture {
    let pairs = [
        ("messageId", id.to_owned()),
        ("status", "delivered".into()),
        ("timestamp", timestamp.to_string()),
    ];
    let base: String = pairs.iter().map(|(k, v)| format!("&{k}={v}")).collect();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"fixture-signature-secret").unwrap();
    mac.update(base.as_bytes());
    let sig = hex::encode(mac.finalize().into_bytes());
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Fixture::parse(
        format!(
            "GET /api/v1/vonageCallback?{}&sig={sig} HTTP/1.1\nHost: hooks.example.com\n\n",
            query.join("&")
        )
        .as_bytes(),
    )
    .unwrap()
}

#[test]
fn signed_requests_replayed_outside_the_timestamp_tolerance_are_refused() {
    let sink = Sink::start();
    // The providers that sign a timestamp, with their default tolerance
    // (the fixtures were signed in 2023).
    let cfg = config(
        &[],
        &format!(
            "[plugins.vonage]\nsignature_secret = \"fixture-signature-secret\"\nsignature_method = \"sha256\"\n\n\
             [plugins.telnyx]\npublic_key = \"zBJUaWVeXfkPN9pbRgyv/cXeklSybVTV2DiaSL/dvK4=\"\n\n{}",
            http_destination(&sink.url())
        ),
    );
    let router = Router::start_with_config(&["vonage", "telnyx"], &cfg);
    for (plugin, name) in [
        ("telnyx", "message-finalized-delivered.http"),
        ("vonage", "dlr-delivered-get.http"),
        ("vonage", "messages-status-delivered.http"),
    ] {
        let reply = router.send(&fixture(plugin, name));
        assert_eq!(reply.status, 403, "{plugin}/{name}: {reply:?}");
        assert!(
            reply.body.contains("tolerance"),
            "{plugin}/{name}: {}",
            reply.body
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Signed ten minutes ago (default tolerance 300 s): refused.
    assert_eq!(router.send(&vonage_dlr("0B1", now - 600)).status, 403);
    // Signed now: accepted, and the same request sent again (a replay
    // within the window) is acknowledged but not forwarded twice.
    let fresh = vonage_dlr("0B2", now);
    assert_eq!(router.send(&fresh).status, 200, "{}", router.log());
    assert_eq!(router.send(&fresh).status, 200);
    let got = sink.wait_for(1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.count(), 1, "{got:#?}");
    assert_eq!(got[0].json["data"]["message_id"], "0B2");
}
