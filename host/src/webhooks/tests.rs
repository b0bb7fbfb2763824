use serde_json::json;

use super::*;
use crate::config::Destination;

const NOW: i64 = 1_800_000_000_000;

fn valid() -> serde_json::Value {
    json!({
        "name": "CRM",
        "url": "https://crm.example.com/hooks",
        "event_types": ["SMS_STATUS", "SMS_INBOUND"],
        "filter": { "sender": ["+61 400 000 001"], "status": ["delivered", "soft_bounce"] },
        "rate_limit": 50,
    })
}

fn fields(problems: &[Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.field.as_str()).collect()
}

#[test]
fn seed_001_body_becomes_a_webhook_with_an_id_and_a_secret() {
    let w = create(&valid(), NOW).expect("valid");
    assert!(w.id.starts_with("wh_") && w.id.len() == 27, "{}", w.id);
    assert_eq!(w.name, "CRM");
    assert_eq!(w.event_types, ["SMS_STATUS", "SMS_INBOUND"]);
    assert_eq!(w.filter.status, ["delivered", "soft_bounce"]);
    assert_eq!(w.rate_limit, 50);
    assert!(w.enabled);
    assert_eq!(w.secrets.len(), 1);
    assert!(w.secrets[0].key.starts_with("whsec_"));
    assert_eq!(
        crate::config::signing_key(&w.secrets[0].key).map(|k| k.len()),
        Ok(32)
    );
    // Two webhooks never share an id or a secret.
    let other = create(&valid(), NOW).expect("valid");
    assert_ne!(other.id, w.id);
    assert_ne!(other.secrets[0].key, w.secrets[0].key);
    // The view never shows a secret's key.
    let view = w.view().to_string();
    assert!(!view.contains(&w.secrets[0].key), "{view}");
}

#[test]
fn every_problem_is_reported_at_once_with_its_field() {
    let body = json!({
        "name": "x",
        "url": "http://crm.example.com/hooks",
        "event_types": ["SMS_STATUS", "FAX_STATUS"],
        "filter": { "sender": ["a"], "colour": ["red"], "status": ["lost"] },
        "rate_limit": 10_001,
        "timeout": "soon",
        "retry_schedule": ["1s", "later"],
        "headers": { "bad header": "x" },
        "allow_addresses": ["10.0.0.0/33"],
        "transform": "xml",
        "secret": "whsec_mine",
        "colour": "red",
    });
    let problems = create(&body, NOW).expect_err("invalid");
    let mut got = fields(&problems);
    got.sort_unstable();
    assert_eq!(
        got,
        [
            "allow_addresses",
            "colour",
            "event_types",
            "filter.colour",
            "filter.status",
            "headers",
            "name",
            "rate_limit",
            "retry_schedule",
            "secret",
            "timeout",
            "transform",
            "url",
        ],
        "{problems:#?}"
    );
    let reason = |f: &str| {
        problems
            .iter()
            .find(|p| p.field == f)
            .map(|p| p.reason.clone())
            .unwrap_or_default()
    };
    assert!(reason("name").contains("length 1: want 2 to 100"));
    assert!(reason("url").contains("plain http"));
    assert!(reason("event_types").contains("FAX_STATUS"));
    assert!(reason("rate_limit").contains("at most 10000"));
}

#[test]
fn required_fields_and_name_bounds() {
    let problems = create(&json!({}), NOW).expect_err("empty");
    assert_eq!(fields(&problems), ["name", "url", "event_types"]);
    let mut long = valid();
    long["name"] = "é".repeat(101).into();
    assert_eq!(fields(&create(&long, NOW).expect_err("101")), ["name"]);
    long["name"] = "é".repeat(100).into();
    create(&long, NOW).expect("100 characters are fine");
    let mut none = valid();
    none["event_types"] = json!([]);
    assert_eq!(
        fields(&create(&none, NOW).expect_err("none")),
        ["event_types"]
    );
    assert_eq!(
        fields(&create(&json!([1]), NOW).expect_err("array")),
        ["(body)"]
    );
}

#[test]
fn private_addresses_need_allow_addresses_and_http_needs_allow_http() {
    let mut body = valid();
    body["url"] = "https://10.1.2.3/hook".into();
    let p = create(&body, NOW).expect_err("private");
    assert_eq!(fields(&p), ["url"]);
    body["url"] = "https://localhost:9000/hook".into();
    assert_eq!(fields(&create(&body, NOW).expect_err("localhost")), ["url"]);
    body["url"] = "https://169.254.169.254/latest".into();
    body["allow_addresses"] = json!(["10.0.0.0/8"]);
    assert_eq!(fields(&create(&body, NOW).expect_err("metadata")), ["url"]);
    body["url"] = "http://127.0.0.1:9000/hook".into();
    body["allow_addresses"] = json!(["127.0.0.1"]);
    assert_eq!(fields(&create(&body, NOW).expect_err("http")), ["url"]);
    body["allow_http"] = true.into();
    let w = create(&body, NOW).expect("allowed on purpose");
    // Turning allow_http off later is checked against the stored URL.
    let p = patch(&w, &json!({ "allow_http": false }), NOW).expect_err("http again");
    assert_eq!(fields(&p), ["url"]);
}

#[test]
fn patch_changes_only_what_it_names() {
    let w = create(&valid(), NOW).expect("valid");
    let later = NOW + 1000;
    let p = patch(
        &w,
        &json!({ "enabled": false, "filter": { "campaign_id": "c-9" } }),
        later,
    )
    .expect("valid patch");
    assert!(!p.enabled);
    assert_eq!(p.filter.campaign_id, ["c-9"]);
    assert!(p.filter.sender.is_empty(), "a new filter replaces the old");
    assert_eq!(
        (&p.id, &p.name, &p.secrets, p.created_at),
        (&w.id, &w.name, &w.secrets, w.created_at)
    );
    assert_eq!(p.updated_at, later);
    let problems =
        patch(&w, &json!({ "id": "wh_mine", "rate_limit": -1 }), later).expect_err("read-only id");
    assert_eq!(fields(&problems), ["id", "rate_limit"]);
}

#[test]
fn compiles_to_a_route_and_a_destination_named_by_its_id() {
    let mut w = create(&valid(), NOW).expect("valid");
    w.enabled = false;
    w.event_types = ["SMS_STATUS", "SMS_INBOUND", "MMS_STATUS", "OPT_OUT"]
        .map(String::from)
        .to_vec();
    w.filter.campaign_id = vec!["c-1".into()];
    let (routes, dest) = w.compile(NOW).expect("compiles");
    assert!(
        routes
            .iter()
            .all(|r| r.name == w.id && r.to == [w.id.clone()])
    );
    // Seed 001: `status` applies to status events only, `campaign_id` to
    // status and inbound ones, `sender` to all.
    type Row = (Vec<String>, Vec<String>, Vec<String>, usize);
    let got: Vec<Row> = routes
        .iter()
        .map(|r| {
            let f = &r.filter;
            (
                f.event_types.clone(),
                f.state.clone(),
                f.campaign_id.clone(),
                f.sender.len(),
            )
        })
        .collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        got,
        [
            // Kudosity's soft bounce is our `undelivered`.
            (
                s(&["SMS_STATUS", "MMS_STATUS"]),
                s(&["delivered", "undelivered"]),
                s(&["c-1"]),
                1
            ),
            (s(&["SMS_INBOUND"]), s(&[]), s(&["c-1"]), 1),
            (s(&["OPT_OUT"]), s(&[]), s(&[]), 1),
        ]
    );
    let Destination::Http(h) = dest else {
        panic!("an http destination")
    };
    assert!(h.paused);
    assert_eq!(h.rate_limit, Some(50.0));
    assert_eq!(h.signing_keys.len(), 1);
}

#[test]
fn a_rotated_out_secret_signs_until_it_expires() {
    let mut w = create(&valid(), NOW).expect("valid");
    let old = w.secrets[0].clone();
    w.secrets[0].expires_at = Some(NOW + 60_000);
    w.secrets.insert(0, Secret::generate(NOW));
    let keys = |at: i64| match w.compile(at).expect("compiles").1 {
        Destination::Http(h) => h.signing_keys,
        Destination::File { .. } => Vec::new(),
    };
    assert_eq!(keys(NOW).len(), 2, "both sign during the grace period");
    assert_eq!(keys(NOW + 60_000).len(), 1, "the old one stops at expiry");
    assert_ne!(
        keys(NOW + 60_000)[0],
        crate::config::signing_key(&old.key).expect("key"),
        "the one left is the new one"
    );
    assert_eq!(w.next_expiry(NOW), Some(NOW + 60_000));
    assert_eq!(w.next_expiry(NOW + 60_000), None);
}

#[test]
fn a_sample_event_exists_for_every_type_and_matches_it() {
    for t in crate::event::EventType::ALL {
        let ev = sample_event(t, NOW);
        assert!(t.matches(&ev), "{} sample: {ev:?}", t.name);
        let others = crate::event::EventType::ALL
            .iter()
            .filter(|o| o.matches(&ev))
            .count();
        assert_eq!(others, 1, "{} sample matches only its type", t.name);
    }
}
