//! What any HTTP client gets at the door: 404, 405 with Allow, 413, a cut
//! for slow clients, the health endpoint.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn unknown_path_wrong_method_and_health() {
    let router = Router::start(&["twilio"], "");
    assert_eq!(router.get("/api/v1/nope").status, 404);
    assert_eq!(router.get("/elsewhere").status, 404);
    let r = router.get("/api/v1/smsCallback");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    let r = router.send_raw(
        b"OPTIONS /api/v1/smsCallback/shop1 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 405);
    let health = router.get("/healthz");
    assert_eq!(health.status, 200);
    let v: serde_json::Value = serde_json::from_str(&health.body).unwrap();
    assert_eq!(v["plugins"][0]["name"], "twilio");
}

#[test]
fn body_over_the_limit_is_413() {
    let router = Router::start(&["twilio"], "");
    let big = vec![b'a'; (1 << 20) + 1];
    let mut req = format!(
        "POST /api/v1/smsCallback HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        big.len()
    )
    .into_bytes();
    req.extend_from_slice(&big);
    assert_eq!(router.send_raw(&req).status, 413);
    // Chunked, no length declared: cut at the limit too.
    let mut chunked = b"POST /api/v1/smsCallback HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
    for _ in 0..17 {
        chunked.extend_from_slice(format!("{:x}\r\n", 65536).as_bytes());
        chunked.extend_from_slice(&[b'a'; 65536]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(router.send_raw(&chunked).status, 413);
}

#[test]
fn slow_clients_are_cut_off() {
    let router = Router::start(&["twilio"], "");
    // Headers never finish: the connection is closed after header_timeout (2 s here).
    let start = Instant::now();
    let mut s = TcpStream::connect(router.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"POST /api/v1/smsCallback HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "held {:?}",
        start.elapsed()
    );

    // Body promised but never sent: 408 after body_timeout.
    let mut s = TcpStream::connect(router.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"POST /api/v1/smsCallback HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nabc")
        .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    // And the router still serves.
    assert_eq!(router.get("/healthz").status, 200);
}
