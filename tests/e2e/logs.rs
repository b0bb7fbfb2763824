//! Structured logs: with `--log-format json`, one callback can be followed
//! through the log by its ids, capture -> event -> delivery job, down to
//! each attempt.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// A field of a JSON log line, from the event's own fields or from one of
/// the spans it happened in; numbers and strings alike, as text.
fn field(line: &Value, name: &str) -> Option<String> {
    let spans = line["spans"].as_array().into_iter().flatten();
    std::iter::once(&line["fields"])
        .chain(std::iter::once(&line["span"]))
        .chain(spans)
        .map(|v| &v[name])
        .find_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

fn message(line: &Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or("")
}

fn lines(router: &Router) -> Vec<Value> {
    router
        .log()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn one_callback_is_followed_through_the_json_log_by_its_ids() {
    let sink = Sink::start();
    // First attempt fails, the retry (100 ms later) is delivered.
    sink.answer(&[(500, None)]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    std::fs::copy(wasm("twilio"), dir.join("plugins/twilio.wasm")).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        config(&["twilio"], &http_destination(&sink.url())),
    )
    .unwrap();
    let router = Router::spawn_with(dir, &["--log-format", "json"]);

    let reply = router.send(&fixture("twilio", "status-delivered.http"));
    assert_eq!(reply.status, 200, "{reply:?}\n{}", router.log());
    let got = sink.wait_for(1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    let webhook_id = got[0].header("webhook-id").unwrap().to_owned();

    // The sink answers before the router logs the attempt: wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = lines(&router);
        if log.iter().any(|l| message(l) == "delivered") || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let all = log
        .iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join("\n");

    // Capture: the accepted callback names its capture id.
    let accepted: Vec<_> = log
        .iter()
        .filter(|l| message(l) == "callback accepted")
        .collect();
    assert_eq!(accepted.len(), 1, "{all}");
    let capture = field(accepted[0], "capture").expect("capture id");
    assert_eq!(field(accepted[0], "plugin").as_deref(), Some("twilio"));
    assert_eq!(field(accepted[0], "status").as_deref(), Some("200"));
    // Every line of the callback's span carries it.
    for l in log.iter().filter(|l| l["span"]["name"] == "callback") {
        assert_eq!(field(l, "capture").as_ref(), Some(&capture), "{l}");
    }

    // Capture -> event.
    let events: Vec<_> = log
        .iter()
        .filter(|l| message(l) == "event recorded")
        .filter(|l| field(l, "capture").as_ref() == Some(&capture))
        .collect();
    assert_eq!(events.len(), 1, "{all}");
    let event = field(events[0], "event").unwrap();
    assert_eq!(event, webhook_id, "the forwarded event is the one logged");
    assert_eq!(field(events[0], "disposition").as_deref(), Some("routed"));

    // Event -> job.
    let queued: Vec<_> = log
        .iter()
        .filter(|l| message(l) == "delivery queued")
        .filter(|l| field(l, "event").as_ref() == Some(&event))
        .collect();
    assert_eq!(queued.len(), 1, "{all}");
    let job = field(queued[0], "job").unwrap();
    assert_eq!(field(queued[0], "capture").as_ref(), Some(&capture));
    assert_eq!(field(queued[0], "destination").as_deref(), Some("sink"));

    // Job -> its attempts: one failed (500), then delivered, each with the
    // job, the event and the destination.
    let attempts: Vec<_> = log
        .iter()
        .filter(|l| field(l, "job").as_ref() == Some(&job))
        .filter(|l| ["attempt failed", "delivered"].contains(&message(l)))
        .collect();
    let summary: Vec<_> = attempts
        .iter()
        .map(|l| {
            (
                message(l),
                field(l, "attempt").unwrap_or_default(),
                field(l, "status").unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("attempt failed", "1".to_owned(), "500".to_owned()),
            ("delivered", "2".to_owned(), "200".to_owned()),
        ],
        "{all}"
    );
    for l in &attempts {
        assert_eq!(field(l, "event").as_ref(), Some(&event), "{l}");
        assert_eq!(field(l, "destination").as_deref(), Some("sink"), "{l}");
    }
}
