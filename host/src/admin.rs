//! The admin API, on its own listener (loopback by default; a bearer token
//! is required when it listens anywhere else). JSON in and out; the CLI's
//! operational commands talk to it while the router runs.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/` | the dashboard (HTML, no token; it asks for one when the API answers `401`) |
//! | GET | `/v1/destinations` | state of every destination: breaker, disabled, backlog |
//! | POST | `/v1/destinations/{name}/enable` | re-enable a destination disabled by `410 Gone` |
//! | GET | `/v1/deliveries?state=dead\|pending\|delivered&destination=&event=&limit=` | delivery jobs with their attempts |
//! | POST | `/v1/redrive?job=ID` or `?destination=NAME` | dead jobs back to pending |
//! | * | `/v1/webhooks...` | webhooks made at runtime (`admin/webhooks.rs`) |
//! | GET | `/metrics` | Prometheus metrics |
//! | GET | `/v1/plugins` | loaded plugins: version, digest, routes, request counts |
//! | POST | `/v1/reload` | reload the plugin directory now |
//! | GET | `/v1/captures?plugin=&status=&before=&limit=` | requests as received, newest first |
//! | GET | `/v1/captures/{id}` | one capture, with its body as text |
//! | GET | `/v1/events?provider=&limit=` | recent events, newest first |
//! | POST | `/v1/replay?capture=ID` or `?plugin=&status=&since=&until=&limit=` | run captures again through the current plugins (times in ms) |

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

mod jobs;
mod records;
mod webhooks;
pub use jobs::JobFilter;

use crate::dispatch::Dispatcher;
use crate::store::Store;

pub struct Admin {
    pub dispatcher: Arc<Dispatcher>,
    pub store: Arc<dyn Store>,
    /// Required as `Authorization: Bearer <token>` when set.
    pub token: Option<String>,
    pub mounts: Arc<crate::mount::LiveTable>,
    pub reloader: Arc<crate::reload::Reloader>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub pipeline: Arc<crate::pipeline::Pipeline>,
    pub webhooks: Arc<crate::webhooks::Registry>,
}

pub async fn serve(
    listener: TcpListener,
    admin: Arc<Admin>,
    tls: Option<Arc<crate::tls::Certs>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            a = listener.accept() => match a {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!("admin accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let admin = admin.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let Some(tls) = tls else {
                return connection(admin, stream).await;
            };
            if let Some(stream) = tls
                .handshake(stream, std::time::Duration::from_secs(10))
                .await
            {
                connection(admin, stream).await;
            }
        });
    }
}

async fn connection<S>(admin: Arc<Admin>, stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let admin = admin.clone();
        async move { Ok::<_, Infallible>(admin.handle(req).await) }
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

type Reply = Response<Full<Bytes>>;

fn param<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(n, _)| n == key)
        .map(|(_, v)| v.as_str())
}

fn json(status: StatusCode, value: &impl Serialize) -> Reply {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Reply {
    json(status, &serde_json::json!({ "error": message.to_string() }))
}

impl Admin {
    async fn handle(&self, req: Request<hyper::body::Incoming>) -> Reply {
        // The dashboard page is public (no data in it); the API calls it
        // makes carry the token.
        if req.method() == Method::GET && req.uri().path() == "/" {
            return Response::builder()
                .header("content-type", "text/html; charset=utf-8")
                .header("cache-control", "no-store")
                .header(
                    "content-security-policy",
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
                )
                .header("x-frame-options", "DENY")
                .body(Full::new(Bytes::from_static(
                    include_str!("admin/dashboard.html").as_bytes(),
                )))
                .unwrap_or_default();
        }
        if let Some(token) = &self.token {
            let given = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                // The scheme's name is case-insensitive (RFC 9110 §11.1).
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim());
            let ok = given.is_some_and(|g| {
                use subtle::ConstantTimeEq as _;
                bool::from(g.as_bytes().ct_eq(token.as_bytes()))
            });
            if !ok {
                return error(StatusCode::UNAUTHORIZED, "bearer token required");
            }
        }
        if let Some(rest) = req.uri().path().strip_prefix("/v1/webhooks")
            && (rest.is_empty() || rest.starts_with('/'))
        {
            let segments: Vec<String> = rest
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8_lossy()
                        .into_owned()
                })
                .collect();
            let method = req.method().clone();
            return self.webhooks(method, &segments, req.into_body()).await;
        }
        let query: Vec<(String, String)> =
            form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let q = |k: &str| param(&query, k);
        // Decoded: a destination named `crm west` arrives as `crm%20west`.
        let decoded: Vec<std::borrow::Cow<'_, str>> = req
            .uri()
            .path()
            .trim_matches('/')
            .split('/')
            .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy())
            .collect();
        let segments: Vec<&str> = decoded.iter().map(|s| s.as_ref()).collect();
        let result = match (req.method(), segments.as_slice()) {
            (&Method::GET, ["healthz"]) => {
                Ok(json(StatusCode::OK, &serde_json::json!({"status": "ok"})))
            }
            (&Method::GET, ["v1", "destinations"]) => {
                Ok(json(StatusCode::OK, &self.dispatcher.status()))
            }
            (&Method::POST, ["v1", "destinations", name, "enable"]) => {
                match self.dispatcher.enable(name) {
                    Ok(true) => Ok(json(StatusCode::OK, &serde_json::json!({"enabled": name}))),
                    Ok(false) => Ok(error(
                        StatusCode::NOT_FOUND,
                        format!("no destination `{name}`"),
                    )),
                    Err(e) => Err(e),
                }
            }
            (&Method::GET, ["metrics"]) => {
                let text = self
                    .metrics
                    .render(&self.dispatcher.gauges(), self.store.size_on_disk().ok());
                Ok(Response::builder()
                    .header(
                        "content-type",
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )
                    .body(Full::new(Bytes::from(text)))
                    .unwrap_or_default())
            }
            (&Method::GET, ["v1", "plugins"]) => Ok(json(StatusCode::OK, &self.plugins())),
            (&Method::POST, ["v1", "reload"]) => {
                Ok(json(StatusCode::OK, &self.reloader.reload().await))
            }
            (&Method::GET, ["v1", "captures"]) => self.captures(&query),
            (&Method::POST, ["v1", "replay"]) => self.replay(&query).await,
            (&Method::GET, ["v1", "captures", id]) => match id.parse::<u64>() {
                Err(_) => Ok(error(
                    StatusCode::BAD_REQUEST,
                    "capture id must be a number",
                )),
                Ok(id) => self.store.capture(id).map(|c| match c {
                    None => error(StatusCode::NOT_FOUND, format!("no capture {id}")),
                    Some(c) => {
                        let text = String::from_utf8_lossy(&c.body).into_owned();
                        json(
                            StatusCode::OK,
                            &serde_json::json!({ "capture": c, "body_text": text }),
                        )
                    }
                }),
            },
            (&Method::GET, ["v1", "events"]) => self.events(q("provider"), q("limit")),
            (&Method::GET, ["v1", "deliveries"]) => {
                let filter = JobFilter {
                    destination: q("destination"),
                    event: q("event"),
                };
                self.deliveries(q("state"), &filter, q("limit"))
            }
            (&Method::POST, ["v1", "redrive"]) => {
                let job = q("job").map(str::parse::<u64>);
                match (job, q("destination")) {
                    (Some(Err(_)), _) => {
                        Ok(error(StatusCode::BAD_REQUEST, "`job` must be a number"))
                    }
                    (None, None) => Ok(error(
                        StatusCode::BAD_REQUEST,
                        "give `job` or `destination`",
                    )),
                    (job, dest) => {
                        self.dispatcher
                            .redrive(job.and_then(Result::ok), dest)
                            .map(|jobs| {
                                let ids: Vec<u64> = jobs.iter().map(|j| j.id).collect();
                                json(StatusCode::OK, &serde_json::json!({"redriven": ids}))
                            })
                    }
                }
            }
            _ => Ok(error(
                StatusCode::NOT_FOUND,
                "no such admin endpoint (see README: Admin API)",
            )),
        };
        result.unwrap_or_else(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e))
    }

    fn plugins(&self) -> Vec<serde_json::Value> {
        self.mounts
            .current()
            .plugins()
            .iter()
            .map(|m| {
                let requests: std::collections::BTreeMap<String, u64> = self
                    .metrics
                    .requests_of(m.name())
                    .into_iter()
                    .map(|(status, n)| (status.to_string(), n))
                    .collect();
                let routes: Vec<_> = m
                    .plugin
                    .info
                    .routes
                    .iter()
                    .map(|r| serde_json::json!({ "path": r.path, "methods": r.methods.iter().map(|x| crate::plugin::method_name(*x)).collect::<Vec<_>>() }))
                    .collect();
                serde_json::json!({
                    "name": m.name(),
                    "version": m.plugin.info.version,
                    "description": m.plugin.info.description,
                    "digest": m.plugin.digest,
                    "path": m.plugin.path,
                    "routes": routes,
                    "requests": requests,
                    "verifies": m.verifies(),
                    "protected": m.settings.protect.is_some(),
                    "unprotected": m.unprotected(),
                })
            })
            .collect()
    }
}
