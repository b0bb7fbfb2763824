//! The delivery client against scripted local servers: what goes on the
//! wire, connection reuse, a connection the peer closed, no request sent
//! twice, the timeout, big and redirecting answers, TLS and the SSRF guard.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// What a scripted server does with each request it reads.
#[derive(Clone, Copy)]
enum Script {
    /// Answers 202 and keeps the connection.
    KeepAlive,
    /// Answers 200 (no `connection: close`), then closes a moment later,
    /// once the client put the connection back in its pool.
    CloseAfter,
    /// Closes without answering.
    Hangup,
    /// Never answers.
    Silent,
    /// A 302 with a 100 KB body.
    BigRedirect,
}

#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    requests: Mutex<Vec<String>>,
}

/// A raw HTTP/1.1 server on 127.0.0.1 that follows `script`.
async fn server(script: Script) -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            s.connections.fetch_add(1, Ordering::SeqCst);
            let s = s.clone();
            tokio::spawn(async move {
                while let Some(req) = read_request(&mut sock).await {
                    s.requests.lock().unwrap().push(req);
                    let answer: Vec<u8> = match script {
                        Script::KeepAlive => {
                            b"HTTP/1.1 202 Accepted\r\ncontent-length: 5\r\nretry-after: 7\r\n\r\nthanx"
                                .to_vec()
                        }
                        Script::CloseAfter => b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec(),
                        Script::Hangup => return,
                        Script::Silent => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            return;
                        }
                        Script::BigRedirect => {
                            let mut a = b"HTTP/1.1 302 Found\r\nlocation: http://10.0.0.1/\r\ncontent-length: 100000\r\n\r\n".to_vec();
                            a.extend(std::iter::repeat_n(b'x', 100_000));
                            a
                        }
                    };
                    if sock.write_all(&answer).await.is_err() {
                        return;
                    }
                    if matches!(script, Script::CloseAfter) {
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// One request (head and content-length body) as text; `None` at EOF.
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = sock.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(String::from_utf8_lossy(&buf[..end + 4 + len]).into_owned());
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn loopback() -> Vec<IpNet> {
    vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]
}

fn client(url: &str, timeout: Duration) -> Client {
    Client::new(url, loopback(), &[], timeout, 4).unwrap()
}

#[tokio::test]
async fn sends_what_it_is_given_and_reuses_the_connection() {
    let (addr, seen) = server(Script::KeepAlive).await;
    let c = client(&format!("http://{addr}/hook?x=1"), Duration::from_secs(5));
    for i in 0..3 {
        let body = Bytes::from(format!("{{\"n\":{i}}}"));
        let a = c.post(&[("webhook-id", "evt_1")], body).await.unwrap();
        assert_eq!(a.status, 202);
        assert_eq!(a.retry_after.as_deref(), Some("7"));
        assert_eq!(a.body_head, b"thanx");
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    let reqs = seen.requests.lock().unwrap();
    assert_eq!(reqs.len(), 3);
    assert!(
        reqs[0].starts_with("POST /hook?x=1 HTTP/1.1\r\n"),
        "{}",
        reqs[0]
    );
    let lower = reqs[2].to_lowercase();
    assert!(lower.contains(&format!("host: {addr}\r\n")), "{}", reqs[2]);
    assert!(lower.contains("webhook-id: evt_1\r\n"), "{}", reqs[2]);
    assert!(reqs[2].ends_with("\r\n\r\n{\"n\":2}"), "{}", reqs[2]);
}

#[tokio::test]
async fn a_connection_the_peer_closed_is_replaced_without_a_failure() {
    let (addr, seen) = server(Script::CloseAfter).await;
    let c = client(&format!("http://{addr}/"), Duration::from_secs(5));
    for _ in 0..3 {
        let a = c.post(&[], Bytes::from_static(b"{}")).await.unwrap();
        assert_eq!(a.status, 200);
        // The peer's FIN arrives while the connection is idle.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), 3);
    assert_eq!(seen.requests.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_request_that_may_have_arrived_is_never_sent_again() {
    let (addr, seen) = server(Script::Hangup).await;
    let c = client(&format!("http://{addr}/"), Duration::from_secs(5));
    let e = c.post(&[], Bytes::from_static(b"{}")).await.unwrap_err();
    assert!(!e.is_empty());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(seen.requests.lock().unwrap().len(), 1, "{e}");
}

#[tokio::test]
async fn gives_up_at_the_timeout() {
    let (addr, _) = server(Script::Silent).await;
    let c = client(&format!("http://{addr}/"), Duration::from_millis(300));
    let started = std::time::Instant::now();
    let e = c.post(&[], Bytes::from_static(b"{}")).await.unwrap_err();
    assert!(e.contains("timed out after 300ms"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn keeps_the_head_of_a_big_answer_and_follows_no_redirect() {
    let (addr, seen) = server(Script::BigRedirect).await;
    let c = client(&format!("http://{addr}/"), Duration::from_secs(5));
    for _ in 0..2 {
        let a = c.post(&[], Bytes::from_static(b"{}")).await.unwrap();
        assert_eq!(a.status, 302);
        assert_eq!(a.body_head, vec![b'x'; RESPONSE_HEAD]);
    }
    // Not drained past DRAIN_MAX: each answer cost its connection.
    assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
    assert_eq!(seen.requests.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_host_name_is_checked_after_resolution() {
    let (addr, seen) = server(Script::KeepAlive).await;
    let url = format!("http://localhost:{}/", addr.port());
    let refused = Client::new(&url, vec![], &[], Duration::from_secs(5), 4).unwrap();
    let e = refused.post(&[], Bytes::new()).await.unwrap_err();
    assert!(e.contains("loopback"), "{e}");
    assert_eq!(seen.connections.load(Ordering::SeqCst), 0);
    let allowed = client(&url, Duration::from_secs(5));
    let a = allowed.post(&[], Bytes::new()).await;
    // localhost may resolve to ::1 first, where nothing listens; 127.0.0.1
    // is tried next.
    assert_eq!(a.unwrap().status, 202);
}

/// A TLS server (the test CA's `localhost` certificate) answering 200.
async fn tls_server() -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs =
        vec![CertificateDer::from_pem_slice(include_bytes!("../testdata/localhost.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("../testdata/localhost.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                while read_request_tls(&mut tls).await {
                    let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecure";
                    if tls.write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

async fn read_request_tls(s: &mut tokio_rustls::server::TlsStream<tokio::net::TcpStream>) -> bool {
    // The client's requests here have small bodies and come one at a time.
    let mut buf = [0u8; 8192];
    matches!(s.read(&mut buf).await, Ok(n) if n > 0)
}

#[tokio::test]
async fn https_to_a_trusted_certificate_only() {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let addr = tls_server().await;
    let url = format!("https://localhost:{}/hook", addr.port());
    let ca = CertificateDer::from_pem_slice(include_bytes!("../testdata/ca.pem")).unwrap();
    let trusted = Client::new(&url, loopback(), &[ca], Duration::from_secs(5), 4).unwrap();
    let a = trusted.post(&[], Bytes::from_static(b"{}")).await.unwrap();
    assert_eq!((a.status, a.body_head.as_slice()), (200, &b"secure"[..]));
    // The Mozilla roots alone do not include the test CA.
    let public = client(&url, Duration::from_secs(5));
    let e = public
        .post(&[], Bytes::from_static(b"{}"))
        .await
        .unwrap_err();
    assert!(e.contains("TLS") && e.contains("certificate"), "{e}");
}
