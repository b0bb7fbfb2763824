use super::*;
use switchboard_plugin_sdk::testing::{Harness, check_fixtures, extra, run};

const CFG: &[(&str, &str)] = &[("auth_token", "fixture-plivo-auth-token")];
/// Status callbacks: an empty 200 (inbound ones get empty XML, checked in their tests).
const H: Harness<Plivo> = Harness::new(env!("CARGO_MANIFEST_DIR"), CFG, (200, b""));

/// Vectors computed with the official `plivo` PyPI package (4.63.0),
/// `plivo.utils.signature_v3`: `construct_post_url` / `construct_get_url`
/// and `get_signature_v3`, token `MAXXXXXXXXXXXXXXXXXX`, nonce
/// `12345678901234567890`.
#[test]
fn plivo_library_signature_vectors() {
    let token = "MAXXXXXXXXXXXXXXXXXX";
    let nonce = "12345678901234567890";
    let post = Params::from_pairs(&[
        ("To", "14155550100"),
        ("From", "14155550123"),
        ("Status", "delivered"),
        ("MessageUUID", "2b1e2c54-6b0a-11ee-8b9a-0242ac120002"),
    ]);
    let url = signed_url("https://example.com/plivo/status?b=2&a=1", &post);
    assert_eq!(
        url,
        "https://example.com/plivo/status?a=1&b=2.From14155550123MessageUUID2b1e2c54-6b0a-11ee-8b9a-0242ac120002StatusdeliveredTo14155550100"
    );
    assert!(verify_base64(
        "poJRuI/y4Tq3NYC8/3OtnGhyynR+5Ip8UCxmgOComMA=",
        &signature_bytes(token, &url, nonce)
    ));
    let get = signed_url(
        "https://example.com/plivo/status?Status=sent&MessageUUID=abc&To=1415&x=%2B1",
        &Params::default(),
    );
    assert_eq!(
        get,
        "https://example.com/plivo/status?MessageUUID=abc&Status=sent&To=1415&x=+1"
    );
    assert!(verify_base64(
        "8D0RXzodNo47jzGvrpMvGPqDv+SR34ozLF3u0Sw1i7A=",
        &signature_bytes(token, &get, nonce)
    ));
    let no_params = signed_url("https://example.com/plivo/status?q=1", &Params::default());
    assert!(verify_base64(
        "wE+zHYfnPFcnTjZ5Z/o/7HsKrCxOf6Szs1zRCMQ2SjQ=",
        &signature_bytes(token, &no_params, nonce)
    ));
    // Non-ASCII: the Python library signs the UTF-8 bytes re-read as
    // Latin-1; a correct UTF-8 signer gives the other value. Both accepted.
    let text = Params::from_pairs(&[
        ("Text", "héllo wörld"),
        ("From", "+1 415"),
        ("To", "14155550100"),
    ]);
    let url = signed_url("https://example.com/plivo/status", &text);
    assert_eq!(
        url,
        "https://example.com/plivo/status?From+1 415Texthéllo wörldTo14155550100"
    );
    assert!(verify_base64(
        "Zgsr8HfuQwWDHQZy2g2IFJtfRzfGFt6PNO9kyMGTHNM=",
        &signature_bytes(token, &latin1_utf8(&url), nonce)
    ));
    assert!(verify_base64(
        "krzMazgeymWaxQFxKHPhbquhlSnqb3tgmRy6uEazubc=",
        &signature_bytes(token, &url, nonce)
    ));
}

#[test]
fn every_status_maps_and_unknown_keeps_the_raw_one() {
    for (raw, state) in STATUSES {
        assert_eq!(map_status(STATUSES, raw), *state);
    }
    assert_eq!(map_status(STATUSES, "teleported"), DeliveryState::Unknown);
}

#[test]
fn delivered_status_callback() {
    let (ev, d) = H.delivery("status-delivered.http");
    assert_eq!(ev.id, "db3ce55a-7f1d-11ee-9c2e-0242ac110003:delivered");
    assert_eq!(d.message_id, "db3ce55a-7f1d-11ee-9c2e-0242ac110003");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.provider_status, "delivered");
    assert_eq!(d.from.as_deref(), Some("14155550100"));
    assert_eq!(d.to.as_deref(), Some("14155550123"));
    assert_eq!(d.channel, Channel::Sms);
    assert_eq!(d.error_code, None, "000 is success");
    // DeliveryReportTime 2023-11-14 22:12:58 UTC
    assert_eq!(d.occurred_at, Some(1_699_999_978_000));
    assert_eq!(extra(&ev, "MCC"), Some("310"));
    assert_eq!(extra(&ev, "PartInfo"), Some("1 of 1"));
    assert_eq!(extra(&ev, "Sequence"), Some("4"));
    assert_eq!(extra(&ev, "Status"), None);
}

#[test]
fn queued_sent_undelivered_failed_read() {
    let (_, q) = H.delivery("status-queued.http");
    // QueuedTime 2023-11-14 22:12:50.301247
    assert_eq!(
        (q.state, q.occurred_at),
        (DeliveryState::Queued, Some(1_699_999_970_301))
    );
    let (_, s) = H.delivery("status-sent.http");
    assert_eq!(
        (s.state, s.occurred_at),
        (DeliveryState::Sent, Some(1_699_999_971_093))
    );
    let (_, u) = H.delivery("status-undelivered.http");
    assert_eq!(
        (u.state, u.error_code.as_deref()),
        (DeliveryState::Undelivered, Some("80"))
    );
    let (_, f) = H.delivery("status-failed.http");
    assert_eq!(
        (f.state, f.error_code.as_deref()),
        (DeliveryState::Failed, Some("50"))
    );
    let (ev, r) = H.delivery("status-whatsapp-read.http");
    assert_eq!(
        (r.state, r.channel),
        (DeliveryState::Read, Channel::Whatsapp)
    );
    assert_eq!(extra(&ev, "ConversationOrigin"), Some("utility"));
}

#[test]
fn get_callback_is_signed_over_the_query() {
    let (ev, d) = H.delivery("status-delivered-get.http");
    assert_eq!(ev.id, "1b2c3d4e-7f1e-11ee-9c2e-0242ac110007:delivered");
    assert_eq!(d.state, DeliveryState::Delivered);
    let tampered = H
        .fixture("status-delivered-get.http")
        .replace("Status=delivered", "Status=failed");
    assert!(matches!(
        run::<Plivo>(&tampered, CFG),
        Err(PluginError::Unauthorized(_))
    ));
}

#[test]
fn unknown_status_is_kept() {
    // Re-sign a callback with a status Plivo may add one day.
    let fx = H.fixture("status-sent.http");
    let body = fx
        .split("\n\n")
        .nth(1)
        .unwrap()
        .trim_end()
        .replace("Status=sent", "Status=paused");
    let form = Params::parse(body.as_bytes());
    let url = signed_url("https://hooks.example.com/api/v1/plivoCallback", &form);
    let sig = switchboard_plugin_sdk::sign::base64(&signature_bytes(
        "fixture-plivo-auth-token",
        &url,
        "n1",
    ));
    let text = format!(
        "POST /api/v1/plivoCallback HTTP/1.1\nHost: hooks.example.com\nContent-Type: application/x-www-form-urlencoded\nX-Plivo-Signature-V3: {sig}\nX-Plivo-Signature-V3-Nonce: n1\n\n{body}\n"
    );
    let out = run::<Plivo>(&text, CFG).unwrap();
    let EventKind::DeliveryStatus(d) = &out.events[0].kind else {
        panic!()
    };
    assert_eq!(
        (d.state, d.provider_status.as_str()),
        (DeliveryState::Unknown, "paused")
    );
}

#[test]
fn signature_accept_and_reject() {
    for bad in ["reject-bad-signature.http", "reject-tampered-status.http"] {
        assert!(
            matches!(
                run::<Plivo>(&H.fixture(bad), CFG),
                Err(PluginError::Unauthorized(_))
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        run::<Plivo>(
            &H.fixture("status-delivered.http"),
            &[("auth_token", "other")]
        ),
        Err(PluginError::Unauthorized(_))
    ));
    let no_nonce = H
        .fixture("status-delivered.http")
        .replace("X-Plivo-Signature-V3-Nonce", "X-N");
    assert!(matches!(
        run::<Plivo>(&no_nonce, CFG),
        Err(PluginError::Unauthorized(_))
    ));
    let no_sig = H
        .fixture("status-delivered.http")
        .replace("X-Plivo-Signature-V3:", "X-S:");
    assert!(matches!(
        run::<Plivo>(&no_sig, CFG),
        Err(PluginError::Unauthorized(_))
    ));
    // Plivo lists one signature per active token, comma-separated.
    let fx = H.fixture("status-delivered.http");
    let listed = fx.replace(
        "X-Plivo-Signature-V3: ",
        "X-Plivo-Signature-V3: c29tZXRoaW5nIGVsc2U=,",
    );
    assert!(run::<Plivo>(&listed, CFG).is_ok());
    // The main account's signature header is accepted too.
    let ma = fx.replace("X-Plivo-Signature-V3:", "X-Plivo-Signature-Ma-V3:");
    assert!(run::<Plivo>(&ma, CFG).is_ok());
}

#[test]
fn inbound_sms_gets_empty_xml() {
    let out = run::<Plivo>(&H.fixture("inbound-sms.http"), CFG).unwrap();
    assert_eq!(out.events.len(), 1);
    let ev = &out.events[0];
    assert_eq!(ev.id, "2f7a9c1e-7f1e-11ee-8d1a-0242ac110008");
    let EventKind::InboundMessage(m) = &ev.kind else {
        panic!()
    };
    assert_eq!(m.from, "14155550123");
    assert_eq!(m.to, "14155550100");
    assert_eq!(m.text, "Hi! Is the café open on Sunday? ☕");
    assert_eq!(m.channel, Channel::Sms);
    assert_eq!(extra(ev, "Units"), Some("1"));
    let reply = out.reply.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"<Response></Response>");
}

#[test]
fn inbound_mms_lists_media() {
    let out = run::<Plivo>(&H.fixture("inbound-mms.http"), CFG).unwrap();
    let EventKind::InboundMessage(m) = &out.events[0].kind else {
        panic!()
    };
    assert_eq!(m.channel, Channel::Mms);
    assert_eq!(m.text, "Here is the receipt");
    assert_eq!(m.media.len(), 2);
    assert!(m.media[1].url.ends_with("4e5f6a7b-back.jpg"));
    assert_eq!(extra(&out.events[0], "MediaCount"), Some("2"));
    assert_eq!(extra(&out.events[0], "Media0"), None);
}

#[test]
fn opt_out_intent_adds_an_opt_out() {
    let out = run::<Plivo>(&H.fixture("inbound-optout.http"), CFG).unwrap();
    assert_eq!(out.events.len(), 2);
    assert!(matches!(out.events[0].kind, EventKind::InboundMessage(_)));
    let EventKind::OptOut(o) = &out.events[1].kind else {
        panic!()
    };
    assert_eq!(
        out.events[1].id,
        "4b9c1e3a-7f1e-11ee-8d1a-0242ac11000a:opt-out"
    );
    assert_eq!(o.from, "14155550199");
    assert_eq!(o.to.as_deref(), Some("14155550100"));
}

#[test]
fn garbage_is_a_bad_request_not_a_panic() {
    for body in [
        "",
        "garbage",
        "%%%&&&=",
        "Status=delivered",
        "MessageUUID=x",
    ] {
        let form = Params::parse(body.as_bytes());
        let url = signed_url("https://hooks.example.com/api/v1/plivoCallback", &form);
        let sig = switchboard_plugin_sdk::sign::base64(&signature_bytes(
            "fixture-plivo-auth-token",
            &url,
            "n",
        ));
        let text = format!(
            "POST /api/v1/plivoCallback HTTP/1.1\nHost: hooks.example.com\nContent-Type: application/x-www-form-urlencoded\nX-Plivo-Signature-V3: {sig}\nX-Plivo-Signature-V3-Nonce: n\n\n{body}\n"
        );
        let r = run::<Plivo>(&text, CFG);
        assert!(
            matches!(r, Err(PluginError::BadRequest(_))),
            "{body}: {r:?}"
        );
    }
}

#[test]
fn accept_reply_and_routes() {
    let info = Plivo::describe();
    assert_eq!(info.accept_reply.status, 200);
    assert!(
        info.routes
            .iter()
            .all(|r| r.methods.contains(&Method::Get) && r.methods.contains(&Method::Post))
    );
}

/// What the end-to-end test does with every fixture: accepted ones give an
/// event under `fixtures/config.toml`, `reject-` ones are refused.
#[test]
fn every_fixture_follows_the_naming_convention() {
    assert_eq!(check_fixtures::<Plivo>(env!("CARGO_MANIFEST_DIR")), 12);
    assert_eq!(
        H.fixture("config.toml").trim(),
        "auth_token = \"fixture-plivo-auth-token\""
    );
}

#[test]
fn non_ascii_times_do_not_panic() {
    let p = Params::from_pairs(&[
        ("DeliveryReportTime", "2023-11-14 22:12:58+0é0"),
        ("SentTime", "2023-11-14 22:12:51.093184"),
    ]);
    assert_eq!(
        occurred_at(&p, DeliveryState::Delivered),
        Some(1_699_999_971_093)
    );
}
