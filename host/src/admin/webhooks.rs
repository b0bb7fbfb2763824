//! `/v1/webhooks`: the admin API's webhooks (`crate::webhooks`), in seed
//! 001's shape. Bad input is `422` with every problem at once; an unknown
//! id is `404`.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/v1/webhooks` | webhooks, and the config's routes (read-only) |
//! | POST | `/v1/webhooks` | create: `201` with its `secret` (shown only here) |
//! | GET | `/v1/webhooks/{id}` | one, with its delivery state |
//! | PATCH | `/v1/webhooks/{id}` | change any field; `enabled: false` pauses |
//! | DELETE | `/v1/webhooks/{id}` | delete; pending deliveries are cancelled (dead-lettered) |
//! | POST | `/v1/webhooks/{id}/secret` | rotate: `{"grace": "24h"}`, the old secret signs beside the new meanwhile |
//! | POST | `/v1/webhooks/{id}/test` | `{"event_type": "SMS_STATUS"}`: a sample event through the delivery path |

use std::time::Duration;

use http_body_util::BodyExt as _;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Admin, Reply, error, json as reply};
use crate::event::EventType;
use crate::webhooks::{Error, Webhook};

/// Bodies are small JSON objects; anything bigger is refused unread.
const MAX_BODY: usize = 64 * 1024;
/// How long a rotated-out secret keeps signing unless told.
const DEFAULT_GRACE: &str = "24h";

impl Admin {
    pub(super) async fn webhooks(
        &self,
        method: Method,
        segments: &[String],
        body: hyper::body::Incoming,
    ) -> Reply {
        let body = match read_json(body).await {
            Ok(b) => b,
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        };
        let hooks = &self.webhooks;
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let result = match (&method, segs.as_slice()) {
            (&Method::GET, []) => hooks.list().map(|all| {
                let webhooks: Vec<Value> = all.iter().map(|w| self.view(w)).collect();
                reply(
                    StatusCode::OK,
                    &json!({ "webhooks": webhooks, "config_routes": self.config_routes() }),
                )
            }),
            (&Method::POST, []) => hooks.create(&body).await.map(|w| {
                let mut v = self.view(&w);
                v["secret"] = w.secrets[0].key.clone().into();
                reply(StatusCode::CREATED, &v)
            }),
            (&Method::GET, [id]) => hooks.get(id).map(|w| reply(StatusCode::OK, &self.view(&w))),
            (&Method::PATCH, [id]) => hooks
                .update(id, &body)
                .await
                .map(|w| reply(StatusCode::OK, &self.view(&w))),
            (&Method::DELETE, [id]) => hooks.delete(id).await.map(|cancelled| {
                reply(
                    StatusCode::OK,
                    &json!({ "id": id, "deleted": true, "cancelled": cancelled }),
                )
            }),
            (&Method::POST, [id, "secret"]) => match grace(&body) {
                Err(problem) => return unprocessable(vec![problem]),
                Ok(grace) => hooks.rotate(id, grace).await.map(|(w, secret)| {
                    let mut v = self.view(&w);
                    v["secret"] = secret.key.into();
                    reply(StatusCode::OK, &v)
                }),
            },
            (&Method::POST, [id, "test"]) => match event_type(&body) {
                Err(problem) => return unprocessable(vec![problem]),
                Ok(t) => hooks.test(id, t).await.map(|job| {
                    reply(
                        StatusCode::ACCEPTED,
                        &json!({ "job": job.id, "event_id": job.event_id, "event_type": t.name }),
                    )
                }),
            },
            (_, [] | [_] | [_, "secret" | "test"]) => {
                return error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here");
            }
            _ => {
                return error(
                    StatusCode::NOT_FOUND,
                    "no such admin endpoint (see README: Admin API)",
                );
            }
        };
        match result {
            Ok(r) => r,
            Err(Error::NotFound(id)) => error(StatusCode::NOT_FOUND, format!("no webhook `{id}`")),
            Err(Error::Invalid(problems)) => unprocessable(problems),
            Err(e @ (Error::Store(_) | Error::Broken { .. })) => {
                error(StatusCode::INTERNAL_SERVER_ERROR, e)
            }
        }
    }

    /// A webhook as shown, with its destination's live state.
    fn view(&self, w: &Webhook) -> Value {
        let mut v = w.view();
        let status = self.dispatcher.status_of(&w.id);
        v["status"] = serde_json::to_value(status).unwrap_or_default();
        v
    }

    fn config_routes(&self) -> Vec<Value> {
        self.reloader
            .routes()
            .iter()
            .map(|r| {
                let mut filter = serde_json::to_value(&r.filter).unwrap_or_default();
                if let Some(o) = filter.as_object_mut() {
                    o.retain(|_, v| v.as_array().is_none_or(|a| !a.is_empty()));
                }
                json!({ "name": r.name, "match": filter, "to": r.to, "read_only": true })
            })
            .collect()
    }
}

fn unprocessable(problems: Vec<crate::webhooks::Problem>) -> Reply {
    reply(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({ "error": "invalid webhook", "problems": problems }),
    )
}

/// The request's JSON body; an empty body is `{}`.
async fn read_json(body: hyper::body::Incoming) -> Result<Value, String> {
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    let bytes = limited
        .collect()
        .await
        .map_err(|e| format!("cannot read the body (at most {MAX_BODY} bytes): {e}"))?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("the body is not JSON: {e}"))
}

/// A key of the body as text: absent = `default`, anything but a string
/// is refused like a bad value.
fn text_field<'a>(
    body: &'a Value,
    key: &str,
    default: &'a str,
) -> Result<&'a str, crate::webhooks::Problem> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(crate::webhooks::Problem {
            field: key.into(),
            reason: format!("{other}: want a string"),
        }),
    }
}

fn grace(body: &Value) -> Result<Duration, crate::webhooks::Problem> {
    let text = text_field(body, "grace", DEFAULT_GRACE)?;
    humantime::parse_duration(text)
        .ok()
        .filter(|d| *d <= Duration::from_secs(30 * 24 * 3600))
        .ok_or_else(|| crate::webhooks::Problem {
            field: "grace".into(),
            reason: format!("`{text}`: want a duration up to 30d, such as \"24h\" or \"0s\""),
        })
}

fn event_type(body: &Value) -> Result<EventType, crate::webhooks::Problem> {
    let name = text_field(body, "event_type", "SMS_STATUS")?;
    EventType::parse(name).ok_or_else(|| crate::webhooks::Problem {
        field: "event_type".into(),
        reason: format!(
            "unknown event type `{name}`: want one of {}",
            EventType::names().join(", ")
        ),
    })
}
