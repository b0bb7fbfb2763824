//! Per-route transforms, as the config states them: `compile` parses and
//! checks a route's `transform`; `outbox::transform::apply` renders it.
//! What the forwarded JSON carries. A destination
//! that expects a flat payload (a CRM, a chat webhook) gets it directly,
//! with no glue service in between.
//!
//! Templates are JSON shapes whose strings may hold `{path}` placeholders
//! into the envelope (`{data.to}`, `{provider}`, `{extra.campaign}`). A
//! string that is exactly one placeholder keeps the value's JSON type
//! (numbers stay numbers, a missing value is `null`); placeholders inside
//! longer text are interpolated (missing = empty).

use serde_json::Value;

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
    pub fn compile(raw: &super::raw::Transform) -> Result<Self, String> {
        use super::raw::Transform as Raw;
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
