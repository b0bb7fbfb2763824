//! The file as text into its sections. Each section, each `[plugins.X]`,
//! `[destinations.X]` and `[[routes]]` entry is deserialized on its own
//! (into the `raw` types), so a bad key in one does not hide the problems
//! of the others.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, IgnoredAny, IntoDeserializer};
use toml_edit::{ImDocument, Item};

use super::problems::{Problems, line_at};
use super::{ConfigError, raw};

/// Parses the TOML, keeping every key's position. A syntax error is the
/// one problem reported: nothing after it can be read reliably.
pub(super) fn document<'t>(file: &str, text: &'t str) -> Result<ImDocument<&'t str>, ConfigError> {
    ImDocument::parse(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| format!(" (line {})", line_at(text, s.start)))
            .unwrap_or_default();
        ConfigError {
            file: file.to_owned(),
            key: "(file)".into(),
            reason: format!("{}{line}", e.message()),
        }
    })
}

/// Reports every top-level key that is no section of the file.
pub(super) fn unknown_sections(p: &Problems) {
    for (key, _) in p.doc().iter() {
        if !raw::SECTIONS.contains(&key) {
            // serde's own wording, as for unknown keys inside a section.
            let reason =
                <serde::de::value::Error as serde::de::Error>::unknown_field(key, raw::SECTIONS);
            p.report(key, reason.to_string());
        }
    }
}

/// `[key]` as `T`: its default when the file has none; `None` (reported)
/// when it does not fit `T`.
pub(super) fn section<T: DeserializeOwned + Default>(p: &Problems, key: &str) -> Option<T> {
    match p.doc().get(key) {
        None => Some(T::default()),
        Some(item) => shape(p, key, item.clone()),
    }
}

/// The `[key.NAME]` entries, by name, each still to be shaped; `None`
/// (reported) when `key` is not a table.
pub(super) fn entries(p: &Problems, key: &str) -> Option<BTreeMap<String, Item>> {
    let Some(item) = p.doc().get(key) else {
        return Some(BTreeMap::new());
    };
    match item.as_table_like() {
        Some(t) => Some(
            t.iter()
                .map(|(name, item)| (name.to_owned(), item.clone()))
                .collect(),
        ),
        None => {
            // Reports serde's "invalid type: ..., expected a map".
            shape::<BTreeMap<String, IgnoredAny>>(p, key, item.clone());
            None
        }
    }
}

/// The `[[key]]` (or `key = [...]`) entries in order, each still to be
/// shaped; `None` (reported) when `key` is not a list.
pub(super) fn list(p: &Problems, key: &str) -> Option<Vec<Item>> {
    let Some(item) = p.doc().get(key) else {
        return Some(Vec::new());
    };
    match item {
        Item::ArrayOfTables(a) => Some(a.iter().map(|t| Item::Table(t.clone())).collect()),
        Item::Value(toml_edit::Value::Array(a)) => {
            Some(a.iter().map(|v| Item::Value(v.clone())).collect())
        }
        _ => {
            shape::<Vec<IgnoredAny>>(p, key, item.clone());
            None
        }
    }
}

/// One section or entry (at `key`) as `T`; a problem is reported with the
/// full key path (`destinations.a.kind`) and the line the parser saw.
pub(super) fn shape<T: DeserializeOwned>(p: &Problems, key: &str, item: Item) -> Option<T> {
    let value = item.into_value().ok()?;
    serde_path_to_error::deserialize(value.into_deserializer())
        .map_err(|e| {
            let path = e.path().to_string();
            let full = match path.as_str() {
                "." => key.to_owned(),
                rest if rest.starts_with('[') => format!("{key}{rest}"),
                rest => format!("{key}.{rest}"),
            };
            let inner = e.into_inner();
            p.add(p.err_at(&full, inner.message(), inner.span().map(|s| s.start)));
        })
        .ok()
}
