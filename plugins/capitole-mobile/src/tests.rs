use super::*;
use switchboard_plugin_sdk::testing::{Harness, check_fixtures, run};

const CFG: &[(&str, &str)] = &[("utc_offset", "Europe/Paris")];
const H: Harness<CapitoleMobile> = Harness::new(env!("CARGO_MANIFEST_DIR"), CFG, (200, b"OK"));

#[test]
fn every_status_maps_and_unknown_keeps_the_raw_one() {
    for (raw, state) in STATUSES {
        assert_eq!(map_status(STATUSES, raw), *state, "{raw}");
        assert_eq!(normalize(raw), *raw, "table keys are normalized");
    }
    let (ev, d) = H.delivery_of(
        &H.fixture("dlr-delivered.http")
            .replace("delivre", "Parti+en+vacances"),
    );
    assert_eq!(d.state, DeliveryState::Unknown);
    assert_eq!(d.provider_status, "Parti en vacances");
    assert_eq!(ev.id, "PW23112301:33612345678:Parti en vacances");
}

#[test]
fn statuses_are_normalized_before_lookup() {
    assert_eq!(normalize("Délivré"), "delivre");
    assert_eq!(normalize(" NON_DELIVRE "), "non delivre");
    assert_eq!(normalize("N° invalide"), "n invalide");
    assert_eq!(normalize("Numéro-invalide"), "numero invalide");
    assert_eq!(normalize("Échec"), "echec");
}

#[test]
fn delivered_report_in_winter() {
    let (ev, d) = H.delivery("dlr-delivered.http");
    assert_eq!(ev.id, "PW23112301:33612345678:delivre");
    assert_eq!(d.message_id, "PW23112301");
    assert_eq!(d.message_ref.as_deref(), Some("PW23112301"));
    assert_eq!(d.campaign_id.as_deref(), Some("PW23112301"));
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.to.as_deref(), Some("33612345678"));
    // 15:15 in Paris (CET, +01:00) = 14:15 UTC
    assert_eq!(d.occurred_at, Some(1_700_748_900_000));
    assert!(ev.extra.is_empty(), "{:?}", ev.extra);
}

#[test]
fn latin9_status_and_summer_time() {
    let (_, d) = H.delivery("dlr-delivered-summer.http");
    assert_eq!(d.provider_status, "Délivré");
    assert_eq!(d.state, DeliveryState::Delivered);
    // 12:00 in Paris (CEST, +02:00) = 10:00 UTC
    assert_eq!(d.occurred_at, Some(1_689_328_800_000));
}

#[test]
fn undelivered_and_invalid_number() {
    let (ev, d) = H.delivery("dlr-undelivered.http");
    assert_eq!(
        (d.state, d.error_code.as_deref()),
        (DeliveryState::Undelivered, Some("27"))
    );
    assert_eq!(
        ev.extra,
        vec![("operateur".to_string(), "Orange".to_string())]
    );
    let (_, d) = H.delivery("dlr-invalid-number.http");
    assert_eq!(d.provider_status, "n° invalide");
    assert_eq!(d.state, DeliveryState::Failed);
    assert_eq!(d.occurred_at, None);
}

#[test]
fn a_provider_id_makes_the_message_id() {
    let fx = H
        .fixture("dlr-delivered.http")
        .replace("?id=", "?msgid=88213&id=");
    let (ev, d) = H.delivery_of(&fx);
    assert_eq!(d.message_id, "88213");
    assert_eq!(d.message_ref.as_deref(), Some("PW23112301"));
    assert_eq!(ev.id, "88213:delivre");
}

#[test]
fn incoming_sms_in_latin9() {
    let out = H.outcome(&H.fixture("incoming.http"));
    assert_eq!(out.events.len(), 1);
    let EventKind::InboundMessage(m) = &out.events[0].kind else {
        panic!("{:?}", out.events[0])
    };
    assert_eq!(m.from, "33612345678");
    assert_eq!(m.to, "36180");
    assert_eq!(m.text, "Très bien, merci € 5");
    assert_eq!(m.occurred_at, Some(1_700_749_205_000));
    assert_eq!(m.message_id.len(), 24);
    assert_eq!(out.events[0].id, m.message_id);
    assert_eq!(
        H.outcome(&H.fixture("incoming.http")).events[0].id,
        out.events[0].id
    );
}

#[test]
fn utf8_queries_are_read_as_utf8() {
    let fx = H
        .fixture("incoming.http")
        .replace("Tr%E8s", "Tr%C3%A8s")
        .replace("%A4", "%E2%82%AC");
    let out = H.outcome(&fx);
    let EventKind::InboundMessage(m) = &out.events[0].kind else {
        panic!()
    };
    assert_eq!(m.text, "Très bien, merci € 5");
}

#[test]
fn stop_gives_an_opt_out_too() {
    let out = H.outcome(&H.fixture("incoming-stop.http"));
    assert_eq!(out.events.len(), 2);
    assert!(matches!(out.events[0].kind, EventKind::InboundMessage(_)));
    let EventKind::OptOut(o) = &out.events[1].kind else {
        panic!("{:?}", out.events[1])
    };
    assert_eq!(o.from, "33612345681");
    assert_eq!(o.to.as_deref(), Some("36180"));
    assert_eq!(out.events[1].id, format!("{}:opt-out", out.events[0].id));
    assert!(is_stop(" Stop SMS "));
    assert!(is_stop("stop."));
    assert!(!is_stop("Don't stop"));
    assert!(!is_stop("stop sending me these please"));
}

#[test]
fn paris_time_follows_eu_summer_time() {
    let z = Zone::Paris;
    // Spring forward: 2024-03-31 at 01:00 UTC.
    assert_eq!(z.parse("2024-03-31 01:30:00"), Some(1_711_845_000_000));
    assert_eq!(z.parse("2024-03-31 03:30:00"), Some(1_711_848_600_000));
    // Fall back: 2024-10-27 at 01:00 UTC.
    assert_eq!(z.parse("2024-10-27 00:30:00"), Some(1_729_981_800_000));
    assert_eq!(
        z.parse("2024-10-27 03:30:00"),
        Some(1_729_992_600_000 + 3_600_000)
    );
    // Dates with a zone or unix times are taken as they are.
    assert_eq!(z.parse("2023-11-23T14:15:00Z"), Some(1_700_748_900_000));
    assert_eq!(z.parse("1700748900"), Some(1_700_748_900_000));
    assert_eq!(
        Zone::Fixed(60).parse("2023-07-14 12:00:00"),
        Some(1_689_332_400_000)
    );
    assert_eq!(z.parse("bientôt"), None);
}

#[test]
fn zone_config() {
    let fx = H.fixture("dlr-delivered-summer.http");
    let fixed = run::<CapitoleMobile>(&fx, &[("utc_offset", "+01:00")]).unwrap();
    let EventKind::DeliveryStatus(d) = &fixed.events[0].kind else {
        panic!()
    };
    assert_eq!(d.occurred_at, Some(1_689_332_400_000));
    assert!(
        run::<CapitoleMobile>(&fx, &[]).is_ok(),
        "Europe/Paris by default"
    );
    assert!(matches!(
        run::<CapitoleMobile>(&fx, &[("utc_offset", "Mars/Olympus")]),
        Err(PluginError::Internal(_))
    ));
}

#[test]
fn malformed_requests_are_bad_requests_not_panics() {
    let r = run::<CapitoleMobile>(&H.fixture("reject-no-status.http"), CFG);
    assert!(matches!(r, Err(PluginError::BadRequest(_))), "{r:?}");
    for target in [
        "/api/v1/capitoleMobileCallback",
        "/api/v1/capitoleMobileCallback?",
        "/api/v1/capitoleMobileCallback?%ff%fe=%zz&&&",
        "/api/v1/capitoleMobileCallback?statut=delivre",
        "/api/v1/capitoleMobileIncoming/shop1",
        "/api/v1/capitoleMobileIncoming/shop1?message=hello",
        "/api/v1/capitoleMobileIncoming/shop1?gsm=%E9%&date=2023-11-23T14:15:00%2Ba%C3%A91",
    ] {
        let fx = format!("GET {target} HTTP/1.1\nHost: hooks.example.com\n\n");
        match run::<CapitoleMobile>(&fx, CFG) {
            Err(PluginError::BadRequest(_)) => {}
            Ok(out) if target.contains("gsm=") => {
                // Odd but complete: kept, with the date that did not parse.
                assert!(out.events[0].extra.iter().any(|(k, _)| k == "date"));
            }
            other => panic!("{target}: {other:?}"),
        }
    }
}

/// What the end-to-end test does with every fixture: accepted ones give an
/// event under `fixtures/config.toml`, `reject-` ones are refused.
#[test]
fn fixture_names_say_whether_they_are_accepted() {
    assert!(check_fixtures::<CapitoleMobile>(env!("CARGO_MANIFEST_DIR")) >= 7);
}
