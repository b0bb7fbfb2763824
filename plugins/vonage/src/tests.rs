use super::*;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha512;
use switchboard_plugin_sdk::sign::{hmac_sha256, verify_hex};
use switchboard_plugin_sdk::testing::{Harness, check_fixtures, has_extra, run};

const CFG: &[(&str, &str)] = &[
    ("signature_secret", "fixture-signature-secret"),
    ("signature_method", "sha256"),
];

// Its outcomes carry no reply: the host answers with `accept_reply`.
const H: Harness<Vonage> = Harness::host_reply(env!("CARGO_MANIFEST_DIR"), CFG);

fn utc(s: &str) -> i64 {
    parse_datetime(s, 0).unwrap()
}

#[test]
fn every_status_maps_and_unknown_keeps_the_raw_one() {
    for (raw, state) in DLR_STATUSES {
        assert_eq!(map_status(DLR_STATUSES, raw), *state, "{raw}");
    }
    for (raw, state) in MESSAGES_STATUSES {
        assert_eq!(map_status(MESSAGES_STATUSES, raw), *state, "{raw}");
    }
    let (_, d) = H.delivery("dlr-unknown.http");
    assert_eq!(
        (d.state, d.provider_status.as_str()),
        (DeliveryState::Unknown, "unknown")
    );
    assert_eq!(d.error_code.as_deref(), Some("99"));
    let unsigned = "GET /api/v1/vonageCallback?messageId=X&status=teleported HTTP/1.1\nHost: hooks.example.com\n\n";
    let out = run::<Vonage>(unsigned, &[]).unwrap();
    let EventKind::DeliveryStatus(d) = &out.events[0].kind else {
        panic!()
    };
    assert_eq!(
        (d.state, d.provider_status.as_str()),
        (DeliveryState::Unknown, "teleported")
    );
}

#[test]
fn delivered_receipt_by_get() {
    let (ev, d) = H.delivery("dlr-delivered-get.http");
    assert_eq!(ev.id, "0A0000001234567B:delivered");
    assert_eq!(d.message_id, "0A0000001234567B");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.to.as_deref(), Some("447700900000"));
    assert_eq!(d.from.as_deref(), Some("AcmeInc"));
    assert_eq!(d.error_code, None);
    assert_eq!(d.message_ref.as_deref(), Some("order-42"));
    // scts 2311221415 (UTC) wins over message-timestamp.
    assert_eq!(d.occurred_at, Some(utc("2023-11-22T14:15:00Z")));
    assert!(has_extra(&ev, "network-code", "23410"));
    assert!(has_extra(&ev, "price", "0.03330000"));
    assert!(has_extra(&ev, "message-timestamp", "2023-11-22 14:15:10"));
    assert!(!ev.extra.iter().any(|(k, _)| k == "sig"));
}

#[test]
fn receipts_by_form_and_json_and_their_states() {
    let (_, f) = H.delivery("dlr-failed-post-form.http");
    assert_eq!(
        (f.state, f.error_code.as_deref()),
        (DeliveryState::Failed, Some("5"))
    );
    let (_, e) = H.delivery("dlr-expired-post-json.http");
    assert_eq!(e.state, DeliveryState::Expired);
    assert_eq!(
        H.delivery("dlr-accepted.http").1.state,
        DeliveryState::Accepted
    );
    assert_eq!(
        H.delivery("dlr-buffered.http").1.state,
        DeliveryState::Queued
    );
    let (_, r) = H.delivery("dlr-rejected.http");
    assert_eq!(
        (r.state, r.error_code.as_deref()),
        (DeliveryState::Failed, Some("6"))
    );
}

#[test]
fn inbound_sms_get_post_and_concat() {
    let (ev, m) = H.inbound("inbound-sms-get.http");
    assert_eq!(ev.id, "0B00000012345678");
    assert_eq!(m.from, "447700900000");
    assert_eq!(m.to, "447700900001");
    assert_eq!(m.text, "Yes please, 3pm works");
    assert_eq!(m.occurred_at, Some(utc("2023-11-14T22:13:20Z")));
    assert!(has_extra(&ev, "keyword", "YES"));
    assert!(has_extra(&ev, "type", "text"));
    let (_, u) = H.inbound("inbound-unicode-post.http");
    assert_eq!(u.text, "Привет & спасибо = 👍");
    let (ev, _) = H.inbound("inbound-concat-part.http");
    assert!(has_extra(&ev, "concat-part", "1"));
    assert!(has_extra(&ev, "concat-ref", "108"));
}

#[test]
fn messages_api_status() {
    let (ev, d) = H.delivery("messages-status-delivered.http");
    assert_eq!(ev.id, "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab:delivered");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.channel, Channel::Sms);
    assert_eq!(d.message_ref.as_deref(), Some("order-43"));
    assert_eq!(d.occurred_at, Some(utc("2023-11-14T22:13:20Z")));
    assert!(has_extra(&ev, "usage.price", "0.0333"));
    assert!(has_extra(&ev, "destination.network_code", "23410"));
    let (ev, r) = H.delivery("messages-status-rejected.http");
    assert_eq!(
        (r.state, r.error_code.as_deref()),
        (DeliveryState::Failed, Some("1360"))
    );
    assert!(
        ev.extra
            .iter()
            .any(|(k, v)| k == "error.detail" && v.contains("TTL"))
    );
    let (_, w) = H.delivery("messages-whatsapp-read.http");
    assert_eq!(
        (w.state, w.channel),
        (DeliveryState::Read, Channel::Whatsapp)
    );
}

#[test]
fn messages_api_inbound() {
    let (ev, m) = H.inbound("messages-inbound-whatsapp-image.http");
    assert_eq!(m.channel, Channel::Whatsapp);
    assert_eq!(m.media.len(), 1);
    assert!(
        m.media[0]
            .url
            .starts_with("https://api-eu.nexmo.com/v3/media/")
    );
    assert_eq!(m.media[0].content_type.as_deref(), Some("image/*"));
    assert!(has_extra(&ev, "image.caption", "Receipt"));
    assert!(has_extra(&ev, "profile.name", "Jane Smith"));
    assert!(!ev.extra.iter().any(|(k, _)| k == "image.url"));
    let (ev, s) = H.inbound("messages-inbound-sms.http");
    assert_eq!(
        (s.text.as_str(), s.channel),
        ("Hello From Vonage!", Channel::Sms)
    );
    assert!(has_extra(&ev, "sms.keyword", "HELLO"));
}

#[test]
fn sig_rejections() {
    for name in ["reject-bad-sig.http", "reject-missing-sig.http"] {
        let r = run::<Vonage>(&H.fixture(name), CFG);
        assert!(
            matches!(r, Err(PluginError::Unauthorized(_))),
            "{name}: {r:?}"
        );
    }
    let wrong = [
        ("signature_secret", "other"),
        ("signature_method", "sha256"),
    ];
    assert!(matches!(
        run::<Vonage>(&H.fixture("dlr-delivered-get.http"), &wrong),
        Err(PluginError::Unauthorized(_))
    ));
    let other_method = [
        ("signature_secret", "fixture-signature-secret"),
        ("signature_method", "sha512"),
    ];
    assert!(matches!(
        run::<Vonage>(&H.fixture("dlr-delivered-get.http"), &other_method),
        Err(PluginError::Unauthorized(_))
    ));
    let tampered = H
        .fixture("dlr-delivered-get.http")
        .replace("status=delivered", "status=failed");
    assert!(matches!(
        run::<Vonage>(&tampered, CFG),
        Err(PluginError::Unauthorized(_))
    ));
    let tampered_form = H
        .fixture("dlr-failed-post-form.http")
        .replace("err-code=5", "err-code=0");
    assert!(matches!(
        run::<Vonage>(&tampered_form, CFG),
        Err(PluginError::Unauthorized(_))
    ));
    // Without a secret configured nothing is checked.
    assert!(run::<Vonage>(&H.fixture("reject-bad-sig.http"), &[]).is_ok());
    assert!(matches!(
        run::<Vonage>(
            &H.fixture("dlr-delivered-get.http"),
            &[("signature_secret", "x"), ("signature_method", "sha3")]
        ),
        Err(PluginError::Internal(_))
    ));
}

#[test]
fn every_signature_method() {
    let p = Params::from_pairs(&[
        ("msisdn", "447700900000"),
        ("text", "a&b=c"),
        ("timestamp", "1700000000"),
        ("sig", "ignored"),
    ]);
    assert_eq!(
        signature_base(&p),
        "&msisdn=447700900000&text=a_b_c&timestamp=1700000000"
    );
    let base = signature_base(&p);
    let lens = [
        ("md5hash", 16),
        ("md5", 16),
        ("sha1", 20),
        ("sha256", 32),
        ("sha512", 64),
    ];
    for (method, len) in lens {
        let sig = sig_bytes(&p, "s3cr3t", method).unwrap();
        assert_eq!(sig.len(), len, "{method}");
    }
    // md5hash is md5(base + secret); the HMACs are keyed by the secret.
    assert_eq!(
        sig_bytes(&p, "s3cr3t", "md5hash").unwrap(),
        Md5::digest(format!("{base}s3cr3t").as_bytes()).to_vec()
    );
    assert_eq!(
        sig_bytes(&p, "s3cr3t", "sha256").unwrap(),
        hmac_sha256(b"s3cr3t", base.as_bytes())
    );
    // RFC 2202 test case 2 for HMAC-MD5, RFC 4231 case 2 for HMAC-SHA512,
    // through the same code path (a base that is the whole message).
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(b"Jefe").unwrap();
    mac.update(b"what do ya want for nothing?");
    assert_eq!(
        switchboard_plugin_sdk::sign::hex(&mac.finalize().into_bytes()),
        "750c783e6ab0b503eaa86e310a5db738"
    );
    let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(b"Jefe").unwrap();
    mac.update(b"what do ya want for nothing?");
    assert!(
        switchboard_plugin_sdk::sign::hex(&mac.finalize().into_bytes())
            .starts_with("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554")
    );
    // Upper- or lower-case hex both verify.
    let sig = switchboard_plugin_sdk::sign::hex(&sig_bytes(&p, "k", "sha1").unwrap());
    assert!(verify_hex(
        &sig.to_uppercase(),
        &sig_bytes(&p, "k", "sha1").unwrap()
    ));
}

#[test]
fn md5hash_accounts_verify() {
    // A receipt signed the legacy way (md5 of the base and the secret).
    let mut pairs = vec![
        ("messageId", "0A1"),
        ("msisdn", "447700900000"),
        ("status", "delivered"),
        ("timestamp", "1700000100"),
    ];
    let p = Params::from_pairs(&pairs);
    let sig = switchboard_plugin_sdk::sign::hex(&sig_bytes(&p, "legacy", "md5hash").unwrap());
    pairs.push(("sig", &sig));
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let fx = format!(
        "GET /api/v1/vonageCallback?{} HTTP/1.1\nHost: hooks.example.com\n\n",
        query.join("&")
    );
    let cfg = [
        ("signature_secret", "legacy"),
        ("signature_method", "md5hash"),
    ];
    assert!(run::<Vonage>(&fx, &cfg).is_ok());
}

#[test]
fn timestamp_tolerance() {
    // The harness receives at 1_700_000_000 s; the fixtures are signed then.
    assert!(run::<Vonage>(&H.fixture("dlr-delivered-get.http"), CFG).is_ok());
    // A request signed 400 s earlier is refused under the default 300 s...
    let mut pairs = vec![
        ("messageId", "0A2"),
        ("status", "delivered"),
        ("timestamp", "1699999600"),
    ];
    let sig = switchboard_plugin_sdk::sign::hex(
        &sig_bytes(
            &Params::from_pairs(&pairs),
            "fixture-signature-secret",
            "sha256",
        )
        .unwrap(),
    );
    pairs.push(("sig", &sig));
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let fx = format!(
        "GET /api/v1/vonageCallback?{} HTTP/1.1\nHost: hooks.example.com\n\n",
        query.join("&")
    );
    let r = run::<Vonage>(&fx, CFG);
    assert!(matches!(r, Err(PluginError::Unauthorized(_))), "{r:?}");
    // ...accepted with a wider tolerance, or with the check disabled.
    let mut wide = CFG.to_vec();
    wide.push(("timestamp_tolerance_secs", "600"));
    assert!(run::<Vonage>(&fx, &wide).is_ok());
    let mut off = CFG.to_vec();
    off.push(("timestamp_tolerance_secs", "0"));
    assert!(run::<Vonage>(&fx, &off).is_ok());
    let mut bad = CFG.to_vec();
    bad.push(("timestamp_tolerance_secs", "-1"));
    assert!(matches!(
        run::<Vonage>(&fx, &bad),
        Err(PluginError::Internal(_))
    ));
    // A signed request without a timestamp fails the check.
    let no_ts = [("messageId", "0A3"), ("status", "delivered")];
    let sig = switchboard_plugin_sdk::sign::hex(
        &sig_bytes(
            &Params::from_pairs(&no_ts),
            "fixture-signature-secret",
            "sha256",
        )
        .unwrap(),
    );
    let fx = format!(
        "GET /api/v1/vonageCallback?messageId=0A3&status=delivered&sig={sig} HTTP/1.1\nHost: hooks.example.com\n\n"
    );
    assert!(matches!(
        run::<Vonage>(&fx, CFG),
        Err(PluginError::Unauthorized(_))
    ));
    assert!(run::<Vonage>(&fx, &off).is_ok());
}

#[test]
fn jwt_rejections_and_iat() {
    for name in [
        "reject-jwt-wrong-secret.http",
        "reject-jwt-tampered-body.http",
    ] {
        let r = run::<Vonage>(&H.fixture(name), CFG);
        assert!(
            matches!(r, Err(PluginError::Unauthorized(_))),
            "{name}: {r:?}"
        );
    }
    let fx = H.fixture("messages-status-delivered.http");
    let no_auth: String = fx
        .lines()
        .filter(|l| !l.starts_with("Authorization"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(matches!(
        run::<Vonage>(&no_auth, CFG),
        Err(PluginError::Unauthorized(_))
    ));
    for bad in [
        "Basic abc",
        "Bearer abc",
        "Bearer a.b.c.d",
        "Bearer ...",
        "Bearer é.é.é",
    ] {
        let f = fx
            .lines()
            .map(|l| {
                if l.starts_with("Authorization") {
                    format!("Authorization: {bad}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect::<String>();
        assert!(
            matches!(run::<Vonage>(&f, CFG), Err(PluginError::Unauthorized(_))),
            "{bad}"
        );
    }
    // iat is 1_700_000_000: too old for a clock 400 s later.
    let req = switchboard_plugin_sdk::fixture::Fixture::parse(fx.as_bytes()).unwrap();
    let raw =
        switchboard_plugin_sdk::testing::request_for::<Vonage>(&req, 1_700_000_400_000).unwrap();
    let ctx = switchboard_plugin_sdk::types::Context {
        config: CFG
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    assert!(matches!(
        switchboard_plugin_sdk::run::<Vonage>(raw, ctx),
        Err(PluginError::Unauthorized(_))
    ));
}

#[test]
fn garbage_is_a_bad_request_not_a_panic() {
    for body in ["", "[]", "null", "{}", "{\"message_uuid\": 5}", "\u{0}{{"] {
        let fx = format!(
            "POST /api/v1/vonageCallback HTTP/1.1\nHost: hooks.example.com\nContent-Type: application/json\n\n{body}\n"
        );
        let r = run::<Vonage>(&fx, &[]);
        assert!(
            matches!(r, Err(PluginError::BadRequest(_))),
            "{body:?}: {r:?}"
        );
    }
    for q in ["", "foo=bar", "status=delivered", "msisdn=", "text=hi"] {
        let fx = format!("GET /api/v1/vonageCallback?{q} HTTP/1.1\nHost: hooks.example.com\n\n");
        let r = run::<Vonage>(&fx, &[]);
        assert!(matches!(r, Err(PluginError::BadRequest(_))), "{q:?}: {r:?}");
    }
    assert_eq!(smpp::parse_date("2399999999", 0), None);
    assert_eq!(smpp::parse_date("23112214", 0), None);
    assert_eq!(
        smpp::parse_date("231122141530", 0),
        Some(utc("2023-11-22T14:15:30Z"))
    );
}

#[test]
fn get_and_post_and_reply() {
    let info = Vonage::describe();
    for r in &info.routes {
        assert!(r.methods.contains(&Method::Get) && r.methods.contains(&Method::Post));
    }
    assert_eq!(
        (info.accept_reply.status, info.accept_reply.body.len()),
        (200, 0)
    );
}

/// What the end-to-end test does with every fixture: accepted ones give an
/// event under `fixtures/config.toml`, `reject-` ones are refused.
#[test]
fn every_fixture_follows_the_naming_convention() {
    assert!(check_fixtures::<Vonage>(env!("CARGO_MANIFEST_DIR")) >= 15);
}
