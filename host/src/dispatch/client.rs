//! The HTTP/1.1 client deliveries go out through: hyper's connection-level
//! client, driven by the attempt's own task, over a destination's pool of
//! idle keep-alive connections.
//!
//! Why not reqwest (still used for the odd certificate or action fetch): a
//! profile of a backlog draining put 13 % of the router's CPU in its
//! request path (redirect and retry policies, URL handling per request, a
//! pool shared behind locks), and every request was handed to a
//! separate connection task and its answer handed back. Here a request is
//! one write and one read on a connection the attempt's task polls itself
//! (the drain went from 25k to 35k deliveries/s: `docs/benchmarks.md`).
//!
//! What it keeps: the SSRF guard after DNS resolution (every new connection
//! resolves and checks), TLS with the Mozilla roots (webpki-roots), no
//! redirects (a 3xx is an answer like any other), one timeout over connect,
//! request and response, and never sending a request twice: a pooled
//! connection found closed is retried on a fresh one only when hyper hands
//! the request back unsent.

use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper::{Request, Response, body::Incoming};
use hyper_util::rt::TokioIo;
use ipnet::IpNet;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::guard;

/// Bytes of a response body kept with an attempt.
pub const RESPONSE_HEAD: usize = 256;

/// Bytes of a response body read at most; a bigger body costs the
/// connection (it is closed rather than drained).
const DRAIN_MAX: usize = 64 << 10;

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}
type Io = TokioIo<Box<dyn Stream>>;

/// One keep-alive connection: the handle requests go in by and the future
/// that does its I/O, polled by whichever task is using it. `driver` is
/// `None` once the connection ended.
struct Conn {
    send: SendRequest<Full<Bytes>>,
    driver: Option<Driver>,
}

type Driver = Pin<Box<Connection<Io, Full<Bytes>>>>;

/// Runs `fut` while the connection does its I/O (nothing else polls it).
async fn driving<F: Future>(driver: &mut Option<Driver>, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    if let Some(d) = driver.as_mut() {
        tokio::select! {
            biased;
            out = &mut fut => return out,
            // Ended (closed by the peer, or failed): what it had received
            // is still handed to `fut`.
            _ = d.as_mut() => *driver = None,
        }
    }
    fut.await
}

/// What the destination answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    /// The first [`RESPONSE_HEAD`] bytes of the body.
    pub body_head: Vec<u8>,
}

/// Why a request got no answer; `unsent`: the request, handed back by a
/// connection that never wrote it (safe to send on another).
#[derive(Debug)]
struct Failure {
    error: String,
    unsent: Option<Request<Full<Bytes>>>,
}

/// One destination's client: where it connects and its idle connections.
pub struct Client {
    host: String,
    port: u16,
    /// `Host` header value.
    authority: String,
    path: String,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    allow: Vec<IpNet>,
    timeout: Duration,
    connect_timeout: Duration,
    idle: Mutex<Vec<Conn>>,
    max_idle: usize,
}

/// Why a destination's client could not be built from its settings (the
/// config checked them, so this is rare: a certificate rustls refuses).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("`{url}`: {source}")]
    Url {
        url: String,
        #[source]
        source: url::ParseError,
    },
    #[error("{0}: no host")]
    NoHost(String),
    #[error("{0}: no port")]
    NoPort(String),
    #[error("{url}: scheme {scheme} is neither http nor https")]
    Scheme { url: String, scheme: String },
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("host name: {0}")]
    Name(#[from] rustls::pki_types::InvalidDnsNameError),
}

impl Client {
    /// A client for `url` (http or https; the config checked which is
    /// allowed), keeping up to `max_idle` connections open between requests.
    /// https trusts the Mozilla roots and `extra_roots`.
    pub fn new(
        url: &str,
        allow: Vec<IpNet>,
        extra_roots: &[CertificateDer<'static>],
        timeout: Duration,
        max_idle: usize,
    ) -> Result<Self, ClientError> {
        let url = reqwest::Url::parse(url).map_err(|e| ClientError::Url {
            url: url.to_owned(),
            source: e,
        })?;
        let Some(host_str) = url.host_str() else {
            return Err(ClientError::NoHost(url.to_string()));
        };
        // IPv6 literals come bracketed.
        let host = host_str
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| ClientError::NoPort(url.to_string()))?;
        let tls = match url.scheme() {
            "http" => None,
            // The root store (~150 certificates) only where it is used.
            "https" => {
                let mut roots = rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                for cert in extra_roots {
                    roots.add(cert.clone())?;
                }
                let name = ServerName::try_from(host.clone())?;
                Some((
                    tokio_rustls::TlsConnector::from(client_config(roots)?),
                    name,
                ))
            }
            other => {
                return Err(ClientError::Scheme {
                    url: url.to_string(),
                    scheme: other.to_owned(),
                });
            }
        };
        let authority = match url.port() {
            Some(p) => format!("{host_str}:{p}"),
            None => host_str.to_owned(),
        };
        let mut path = url.path().to_owned();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        Ok(Client {
            host,
            port,
            authority,
            path,
            tls,
            allow,
            timeout,
            connect_timeout: timeout.min(Duration::from_secs(10)),
            idle: Mutex::new(Vec::new()),
            max_idle,
        })
    }

    /// POSTs `body` with `headers` (plus `Host` and `Content-Length`),
    /// within the timeout, connect included.
    pub async fn post(&self, headers: &[(&str, &str)], body: Bytes) -> Result<Answer, String> {
        let mut req = Request::post(self.path.as_str()).header("host", self.authority.as_str());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| format!("bad request header: {e}"))?;
        match tokio::time::timeout(self.timeout, self.exchange(req)).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "timed out after {}",
                humantime::format_duration(self.timeout)
            )),
        }
    }

    async fn exchange(&self, mut req: Request<Full<Bytes>>) -> Result<Answer, String> {
        // Idle connections first; one the peer closed meanwhile hands the
        // request back unsent, and the next is tried.
        while let Some(conn) = self.take_idle() {
            match self.send(conn, req).await {
                Ok(answer) => return Ok(answer),
                Err(Failure {
                    unsent: Some(back), ..
                }) => req = back,
                Err(f) => return Err(f.error),
            }
        }
        let conn = self.connect().await?;
        self.send(conn, req).await.map_err(|f| f.error)
    }

    /// One request on `conn`, which goes back to the pool if it can carry
    /// another.
    async fn send(&self, mut conn: Conn, req: Request<Full<Bytes>>) -> Result<Answer, Failure> {
        let Conn { send, driver } = &mut conn;
        if let Err(e) = driving(driver, send.ready()).await {
            return Err(Failure {
                error: crate::error::chain(&e),
                unsent: Some(req),
            });
        }
        let resp = match driving(driver, send.try_send_request(req)).await {
            Ok(resp) => resp,
            Err(mut e) => {
                return Err(Failure {
                    unsent: e.take_message(),
                    error: crate::error::chain(&e.into_error()),
                });
            }
        };
        let (answer, drained) = read(driver, resp).await;
        if drained && driver.is_some() && !send.is_closed() {
            self.put_idle(conn);
        }
        Ok(answer)
    }

    fn take_idle(&self) -> Option<Conn> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn put_idle(&self, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle {
            idle.push(conn);
        }
    }

    /// A new connection: resolve (guarded), connect, TLS if https.
    async fn connect(&self) -> Result<Conn, String> {
        let addrs = match self.host.parse::<IpAddr>() {
            // Literal addresses were checked when the config was loaded.
            Ok(ip) => vec![SocketAddr::new(ip, self.port)],
            Err(_) => guard::resolve(&self.host, self.port, &self.allow).await?,
        };
        let mut last = String::from("no address");
        for addr in addrs {
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => return self.handshake(tcp).await,
                Ok(Err(e)) => last = format!("connect {addr}: {e}"),
                Err(_) => last = format!("connect {addr}: timed out"),
            }
        }
        Err(last)
    }

    async fn handshake(&self, tcp: TcpStream) -> Result<Conn, String> {
        // Small requests answered at once: Nagle would hold each one back.
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Stream> = match &self.tls {
            None => Box::new(tcp),
            Some((connector, name)) => Box::new(
                connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("TLS with {}: {e}", self.host))?,
            ),
        };
        let (send, driver) = http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| crate::error::chain(&e))?;
        Ok(Conn {
            send,
            driver: Some(Box::pin(driver)),
        })
    }
}

/// The answer in `resp`, with the first [`RESPONSE_HEAD`] bytes of its
/// body (a body that fails midway keeps what came); and whether the body
/// was read to its end (so the connection can carry another request).
async fn read(driver: &mut Option<Driver>, resp: Response<Incoming>) -> (Answer, bool) {
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = resp.into_body();
    let (mut head, mut seen) = (Vec::new(), 0usize);
    let drained = loop {
        match driving(driver, body.frame()).await {
            None => break true,
            Some(Err(_)) => break false,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let room = RESPONSE_HEAD.saturating_sub(head.len());
                    head.extend_from_slice(&data[..data.len().min(room)]);
                    seen += data.len();
                    if seen > DRAIN_MAX {
                        break false;
                    }
                }
            }
        }
    };
    let answer = Answer {
        status,
        retry_after,
        body_head: head,
    };
    (answer, drained)
}

/// rustls (ring) trusting `roots`, speaking HTTP/1.1 only.
fn client_config(roots: rustls::RootCertStore) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests;
