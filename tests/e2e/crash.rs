//! Nothing acknowledged is ever lost: kill -9 right after the 200, restart,
//! and the callbacks' deliveries go out from the store.

use std::time::Duration;

use crate::support::*;

#[test]
fn kill_9_after_ack_keeps_capture_and_delivery() {
    // The destination is down while the router dies, so the deliveries can
    // only come from the store after the restart.
    let addr = Sink::reserve_port();
    let mut first = Router::start(
        &["twilio"],
        &http_destination(&format!("http://{addr}/hook")),
    );
    let replies: Vec<u16> = [
        "status-sent.http",
        "status-delivered.http",
        "inbound-sms.http",
    ]
    .iter()
    .map(|f| first.send(&fixture("twilio", f)).status)
    .collect();
    assert_eq!(replies, vec![200, 200, 200]);
    first.kill9();

    let sink = Sink::start_on(std::net::TcpListener::bind(addr).unwrap());
    let second = Router::spawn(&first.dir);
    let got = sink.wait_for(3, Duration::from_secs(15));
    let kinds: Vec<String> = got
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r.json["type"].as_str().unwrap(),
                r.json["data"]["state"].as_str().unwrap_or("-")
            )
        })
        .collect();
    // In order within the message; the inbound one is its own lane.
    let statuses: Vec<&String> = kinds.iter().filter(|k| k.starts_with("delivery")).collect();
    assert_eq!(
        statuses,
        vec!["delivery-status/sent", "delivery-status/delivered"],
        "{}",
        second.log()
    );
    assert!(
        kinds.contains(&"inbound-message/-".to_string()),
        "{kinds:?}"
    );
    assert!(second.log().contains("resuming pending deliveries"));
    // The restarted router still knows the message reached `delivered`:
    // a late `sent` resent by the provider is not forwarded again.
    assert_eq!(
        second.send(&fixture("twilio", "status-sent.http")).status,
        200
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sink.count(), 3);
}
