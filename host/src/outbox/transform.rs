//! Renders a route's transform (`config::Transform`, parsed and checked
//! when the config loads) into the payload one destination receives.

use serde_json::{Map, Value};

use crate::config::Transform;
use crate::config::transform::{Node, Piece};

/// Renders the payload for one event envelope.
pub fn apply(transform: &Transform, envelope: &Value) -> Value {
    match transform {
        Transform::Envelope => envelope.clone(),
        Transform::Data => envelope.get("data").cloned().unwrap_or(Value::Null),
        Transform::Template(node) => render(node, envelope),
    }
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
    use crate::config::Transform;

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
            apply(&template(r#"transform = "envelope""#).unwrap(), &envelope()),
            envelope()
        );
        assert_eq!(
            apply(&template(r#"transform = "data""#).unwrap(), &envelope()),
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
            apply(&t, &envelope()),
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
