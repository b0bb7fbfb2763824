//! Stage 1: ingress. A hyper 1 server that matches the endpoints the
//! loaded plugins declared, bounds what a client may send (connections,
//! header time, body size and time), and turns each callback into the
//! contract's `http-request`. It is the only place that turns errors into
//! HTTP status codes: its own (404, 405, 408, 413) here, the pipeline's
//! outcomes in `answer.rs`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

mod answer;
pub use answer::answer;

use crate::config::Server;
use crate::mount::Lookup;
use crate::pipeline::{Pipeline, Reply};
use crate::plugin::{self, wit};
use crate::time::now_ms;

pub struct Ingress {
    pub config: Server,
    /// The routing table in force (swapped by a reload).
    pub table: Arc<crate::mount::LiveTable>,
    pub pipeline: Arc<Pipeline>,
    /// The certificate in force when the listener speaks HTTPS.
    pub tls: Option<Arc<crate::tls::Certs>>,
}

/// Accepts connections until `shutdown` flips, then lets in-flight
/// requests finish (connections are closed gracefully).
pub async fn serve(
    listener: TcpListener,
    ingress: Arc<Ingress>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(ingress.config.max_connections));
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off, retry.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let ingress = ingress.clone();
        let shutdown = shutdown.clone();
        conns.spawn(async move {
            let _permit = permit;
            let Some(tls) = ingress.tls.clone() else {
                return ingress.connection(stream, remote, shutdown).await;
            };
            // The handshake counts against the header time: a client that
            // stalls in it is cut off like one that stalls in its headers.
            let limit = ingress.config.header_timeout;
            if let Some(stream) = tls.handshake(stream, limit).await {
                ingress.connection(stream, remote, shutdown).await;
            }
        });
        while conns.try_join_next().is_some() {}
    }
    while conns.join_next().await.is_some() {}
}

type Body = Full<Bytes>;

impl Ingress {
    /// Serves one connection (plain or TLS) until it closes or shutdown.
    async fn connection<S>(
        self: Arc<Self>,
        stream: S,
        remote: SocketAddr,
        mut shutdown: watch::Receiver<bool>,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let header_timeout = self.config.header_timeout;
        let service = service_fn(move |req| {
            let ingress = self.clone();
            async move { Ok::<_, Infallible>(ingress.handle(req, remote).await) }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), service);
        tokio::pin!(conn);
        tokio::select! {
            _ = conn.as_mut() => {}
            _ = shutdown.changed() => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    }
}

fn respond(
    status: u16,
    headers: &[(&'static str, String)],
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in headers {
        if let Ok(v) = hyper::header::HeaderValue::from_str(v) {
            r.headers_mut().insert(*k, v);
        }
    }
    r
}

fn text(status: u16, body: &str) -> Response<Body> {
    respond(
        status,
        &[("content-type", "text/plain; charset=utf-8".into())],
        body.to_owned(),
    )
}

fn method_of(m: &hyper::Method) -> Option<wit::Method> {
    Some(match *m {
        hyper::Method::GET => wit::Method::Get,
        hyper::Method::POST => wit::Method::Post,
        hyper::Method::PUT => wit::Method::Put,
        hyper::Method::PATCH => wit::Method::Patch,
        hyper::Method::DELETE => wit::Method::Delete,
        _ => return None,
    })
}

impl Ingress {
    async fn handle(&self, req: Request<Incoming>, remote: SocketAddr) -> Response<Body> {
        let path = req.uri().path().to_owned();
        if path == "/healthz" {
            return self.health();
        }
        let Some(rel) = path
            .strip_prefix(self.config.route_prefix.as_str())
            .filter(|r| r.starts_with('/'))
        else {
            return text(404, "no such route");
        };
        let Some(method) = method_of(req.method()) else {
            return self.not_allowed(rel);
        };
        let table = self.table.current();
        let (mount, route, params) = match table.find(rel, method) {
            Lookup::Endpoint {
                mount,
                pattern,
                params,
            } => (mount.clone(), pattern.to_owned(), params),
            Lookup::WrongMethod(allowed) => return method_not_allowed(&allowed),
            Lookup::NotFound => return text(404, "no such route"),
        };
        let received_at = now_ms();
        let url = self.public_url(&req);
        let query = req.uri().query().unwrap_or("").to_owned();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = match self.read_body(req).await {
            Ok(b) => b,
            Err(resp) => return resp,
        };
        let request = wit::HttpRequest {
            method,
            url,
            path: rel.to_owned(),
            query,
            headers,
            body,
            params,
            route,
            received_at,
            remote_addr: remote.ip().to_string(),
        };
        to_response(self.pipeline.handle(mount, request).await)
    }

    /// Reads the body within the size and time limits.
    async fn read_body(&self, req: Request<Incoming>) -> Result<Vec<u8>, Response<Body>> {
        let max = self.config.max_body_bytes;
        let declared = req
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(text(413, &format!("body larger than {max} bytes")));
        }
        let limited = Limited::new(req.into_body(), max);
        match tokio::time::timeout(self.config.body_timeout, limited.collect()).await {
            Err(_) => Err(text(408, "body not received in time")),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                Err(text(413, &format!("body larger than {max} bytes")))
            }
            Ok(Err(e)) => Err(text(400, &format!("bad body: {e}"))),
            Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
        }
    }

    /// The URL as the provider called it: the configured public base (the
    /// proxy's view) or `http(s)://` + `Host` (https when this listener
    /// speaks TLS), then the path and query as sent.
    fn public_url<B>(&self, req: &Request<B>) -> String {
        let path_and_query = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        match &self.config.public_url {
            Some(base) => format!("{base}{path_and_query}"),
            None => {
                let host = req
                    .headers()
                    .get(hyper::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned)
                    .unwrap_or_else(|| self.config.listen.to_string());
                let scheme = if self.tls.is_some() { "https" } else { "http" };
                format!("{scheme}://{host}{path_and_query}")
            }
        }
    }

    /// A method no route uses (HEAD, OPTIONS, ...): 405 if the path
    /// exists, else 404.
    fn not_allowed(&self, rel: &str) -> Response<Body> {
        let allowed = self.table.current().allowed(rel);
        if allowed.is_empty() {
            text(404, "no such route")
        } else {
            method_not_allowed(&allowed)
        }
    }

    fn health(&self) -> Response<Body> {
        let plugins: Vec<_> = self
            .table
            .current()
            .plugins()
            .iter()
            .map(|m| serde_json::json!({"name": m.name(), "version": m.plugin.info.version}))
            .collect();
        let body = serde_json::json!({ "status": "ok", "plugins": plugins });
        respond(
            200,
            &[("content-type", "application/json".into())],
            body.to_string(),
        )
    }
}

fn method_not_allowed(allowed: &[wit::Method]) -> Response<Body> {
    let allow = allowed
        .iter()
        .map(|m| plugin::method_name(*m))
        .collect::<Vec<_>>()
        .join(", ");
    respond(
        405,
        &[
            ("allow", allow),
            ("content-type", "text/plain; charset=utf-8".into()),
        ],
        "method not allowed",
    )
}

fn to_response(reply: Reply) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(reply.body)));
    *r.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(k.as_bytes()),
            hyper::header::HeaderValue::from_str(&v),
        ) {
            r.headers_mut().append(k, v);
        }
    }
    r
}
