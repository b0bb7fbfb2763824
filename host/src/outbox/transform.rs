//! Per-route transforms: what the forwarded JSON carries. A destination
//! that expects a flat payload (a CRM, a chat webhook) gets it directly,
//! with no glue service in between.
//!
//! Templates are JSON shapes whose strings may hold `{path}` placeholders
//! into the envelope (`{data.to}`, `{provider}`, `{extra.campaign}`). A
//! string that is exactly one placeholder keeps the value's JSON type
//! (numbers stay numbers, a missing value is `null`); placeholders inside
//! longer text are interpolated (missing = empty).

use serde_json::{Map, Value};

/// Top-level fields of the forwarded envelope (`docs/event.schema.json`).
pub const ENVELOPE_FIELDS: [&str; 9] = [
    "id",
    "provider",
    "provider_event_id",
    "app_code",
    "capture_id",
    "received_at",
    "type",
    "data",
    "extra",
];

#[derive(Debug, Clone, PartialEq, Default)]
pub enum Transform {
    /// The whole envelope (default).
    #[default]
    Envelope,
    /// Only the `data` object.
    Data,
    /// A shape of the operator's.
    Template(Node),
}

/// A compiled template value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Literal(Value),
    /// Exactly one placeholder: the value as is.
    Whole(Vec<String>),
    /// Text with placeholders.
    Text(Vec<Piece>),
    Object(Vec<(String, Node)>),
    Array(Vec<Node>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Lit(String),
    Path(Vec<String>),
}

impl Transform {
    /// Parses `"envelope"`, `"data"` or a template table; the error names
    /// the offending part.
    pub fn compile(raw: &crate::config::RawTransform) -> Result<Self, String> {
        use crate::config::RawTransform as Raw;
        match raw {
            Raw::Named(n) if n == "envelope" => Ok(Transform::Envelope),
            Raw::Named(n) if n == "data" => Ok(Transform::Data),
            Raw::Named(n) => Err(format!(
                "`{n}`: want \"envelope\", \"data\" or {{ template = {{ ... }} }}"
            )),
            Raw::Template { template } => {
                let table = toml::Value::Table(template.clone().into_iter().collect());
                Ok(Transform::Template(compile_node(&table)?))
            }
        }
    }

    /// Renders the payload for one event envelope.
    pub fn apply(&self, envelope: &Value) -> Value {
        match self {
            Transform::Envelope => envelope.clone(),
            Transform::Data => envelope.get("data").cloned().unwrap_or(Value::Null),
            Transform::Template(node) => render(node, envelope),
        }
    }
}

fn compile_node(v: &toml::Value) -> Result<Node, String> {
    Ok(match v {
        toml::Value::String(s) => compile_text(s)?,
        toml::Value::Table(t) => Node::Object(
            t.iter()
                .map(|(k, v)| Ok((k.clone(), compile_node(v).map_err(|e| format!("{k}: {e}"))?)))
                .collect::<Result<_, String>>()?,
        ),
        toml::Value::Array(a) => Node::Array(a.iter().map(compile_node).collect::<Result<_, _>>()?),
        other => Node::Literal(
            serde_json::to_value(other).map_err(|e| format!("unsupported value: {e}"))?,
        ),
    })
}

fn compile_text(s: &str) -> Result<Node, String> {
    let mut pieces = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("`{s}`: `{{` without `}}`"))?;
        if open > 0 {
            pieces.push(Piece::Lit(rest[..open].to_owned()));
        }
        let path = &rest[open + 1..open + close];
        pieces.push(Piece::Path(
            compile_path(path).map_err(|e| format!("`{s}`: {e}"))?,
        ));
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Lit(rest.to_owned()));
    }
    Ok(match pieces.as_slice() {
        [Piece::Path(p)] => Node::Whole(p.clone()),
        _ if pieces.iter().all(|p| matches!(p, Piece::Lit(_))) => {
            Node::Literal(Value::String(s.to_owned()))
        }
        _ => Node::Text(pieces),
    })
}

fn compile_path(path: &str) -> Result<Vec<String>, String> {
    let segments: Vec<String> = path.trim().split('.').map(str::to_owned).collect();
    if segments.iter().any(String::is_empty) {
        return Err("empty path segment".into());
    }
    if !ENVELOPE_FIELDS.contains(&segments[0].as_str()) {
        return Err(format!(
            "`{}` is not an event field (want one of {ENVELOPE_FIELDS:?})",
            segments[0]
        ));
    }
    Ok(segments)
}

fn lookup<'a>(envelope: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(envelope, |v, seg| match v {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

fn render(node: &Node, envelope: &Value) -> Value {
    match node {
        Node::Literal(v) => v.clone(),
        Node::Whole(path) => lookup(envelope, path).cloned().unwrap_or(Value::Null),
        Node::Text(pieces) => {
            let mut out = String::new();
            for p in pieces {
                match p {
                    Piece::Lit(s) => out.push_str(s),
                    Piece::Path(path) => match lookup(envelope, path) {
                        Some(Value::String(s)) => out.push_str(s),
                        Some(Value::Null) | None => {}
                        Some(v) => out.push_str(&v.to_string()),
                    },
                }
            }
            Value::String(out)
        }
        Node::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, n)| (k.clone(), render(n, envelope)))
                .collect::<Map<_, _>>(),
        ),
        Node::Array(items) => Value::Array(items.iter().map(|n| render(n, envelope)).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawTransform as Raw;

    fn template(toml_text: &str) -> Result<Transform, String> {
        let raw: Raw = toml::from_str::<toml::Table>(toml_text)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                t["transform"]
                    .clone()
                    .try_into()
                    .map_err(|e: toml::de::Error| e.to_string())
            })?;
        Transform::compile(&raw)
    }

    fn envelope() -> Value {
        serde_json::json!({
            "id": "evt_1", "provider": "twilio", "type": "delivery-status",
            "data": {"message_id": "SM1", "state": "delivered", "to": "+61400000000", "segments": 2},
            "extra": {"AccountSid": "AC1"}
        })
    }

    #[test]
    fn named_transforms() {
        assert_eq!(
            template(r#"transform = "envelope""#)
                .unwrap()
                .apply(&envelope()),
            envelope()
        );
        assert_eq!(
            template(r#"transform = "data""#)
                .unwrap()
                .apply(&envelope()),
            envelope()["data"]
        );
        assert!(
            template(r#"transform = "flat""#)
                .unwrap_err()
                .contains("want")
        );
    }

    #[test]
    fn template_keeps_types_and_interpolates_text() {
        let t = template(
            r#"transform = { template = { phone = "{data.to}", parts = "{data.segments}", text = "SMS {data.message_id} is {data.state} ({extra.missing})", source = "switchboard", nested = { account = "{extra.AccountSid}", none = "{app_code}" }, n = 3 } }"#,
        )
        .unwrap();
        assert_eq!(
            t.apply(&envelope()),
            serde_json::json!({
                "phone": "+61400000000", "parts": 2, "text": "SMS SM1 is delivered ()",
                "source": "switchboard", "nested": {"account": "AC1", "none": null}, "n": 3
            })
        );
    }

    #[test]
    fn template_errors_name_the_problem() {
        let e = template(r#"transform = { template = { a = "{dta.to}" } }"#).unwrap_err();
        assert!(e.contains("`dta` is not an event field"), "{e}");
        let e = template(r#"transform = { template = { a = "{data.to" } }"#).unwrap_err();
        assert!(e.contains("without"), "{e}");
    }
}
