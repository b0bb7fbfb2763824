//! Every problem of a config file, collected as `Config::load` goes, so one
//! `check` shows all that needs fixing instead of one problem per run;
//! each names the line of its key where the file has it.

use std::cell::RefCell;
use std::fmt;
use std::ops::Range;

use toml_edit::{ImDocument, Item, TableLike, Value};

use super::ConfigError;

/// All the problems of one config file, in the order they were found (see
/// `Config::load`); never empty. Displays as one `{file}: {key}: {reason}`
/// per line.
#[derive(Debug, thiserror::Error)]
pub struct ConfigErrors(Vec<ConfigError>);

impl ConfigErrors {
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    pub fn as_slice(&self) -> &[ConfigError] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<ConfigError> {
        self.0
    }
}

/// So the checks that find one problem (plugins against the config, TLS
/// files at start-up) stay `?`-compatible with `Config::load`.
impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        Self(vec![e])
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// The collector the resolvers share while loading one file. It takes
/// `&self` (a `RefCell` inside) so a resolver can hand it to helpers and
/// closures while still reporting, and carry on after a problem.
pub(super) struct Problems<'a> {
    file: String,
    doc: ImDocument<&'a str>,
    found: RefCell<Vec<ConfigError>>,
}

impl<'a> Problems<'a> {
    pub fn new(file: String, doc: ImDocument<&'a str>) -> Self {
        Self {
            file,
            doc,
            found: RefCell::new(Vec::new()),
        }
    }

    /// The parsed file, with the spans of its keys and values.
    pub fn doc(&self) -> &ImDocument<&'a str> {
        &self.doc
    }

    /// A problem at `key`, with the line of that key if the file has it.
    pub fn err(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        let line = line_of(&self.doc, key);
        self.with_line(key, reason.into(), line)
    }

    /// A problem the parser located (byte offset `at`); by `key` otherwise.
    pub fn err_at(&self, key: &str, reason: impl Into<String>, at: Option<usize>) -> ConfigError {
        let line = match at {
            Some(at) => Some(line_at(self.doc.raw(), at)),
            None => line_of(&self.doc, key),
        };
        self.with_line(key, reason.into(), line)
    }

    fn with_line(&self, key: &str, reason: String, line: Option<usize>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            key: key.to_owned(),
            reason: match line {
                // A reason that names its line already keeps that one.
                Some(n) if !names_line(&reason) => format!("{reason} (line {n})"),
                _ => reason,
            },
        }
    }

    pub fn add(&self, e: ConfigError) {
        self.found.borrow_mut().push(e);
    }

    /// Records a problem at `key`.
    pub fn report(&self, key: &str, reason: impl Into<String>) {
        self.add(self.err(key, reason));
    }

    /// The value, or `None` with `key`'s problem recorded.
    pub fn check<T>(&self, key: &str, r: Result<T, String>) -> Option<T> {
        r.map_err(|reason| self.report(key, reason)).ok()
    }

    /// `Ok(value)` when nothing was found, every problem otherwise.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, ConfigErrors> {
        let found = self.found.into_inner();
        if !found.is_empty() {
            return Err(ConfigErrors(found));
        }
        value.ok_or_else(|| {
            // A resolver gave up without saying why: still refuse the file.
            ConfigErrors(vec![ConfigError {
                file: self.file,
                key: "(file)".into(),
                reason: "not resolved, and no problem named (a bug in switchboard)".into(),
            }])
        })
    }
}

/// Whether `reason` ends in ` (line N)`.
fn names_line(reason: &str) -> bool {
    reason
        .strip_suffix(')')
        .and_then(|r| r.rsplit_once(" (line "))
        .is_some_and(|(_, n)| n.parse::<usize>().is_ok())
}

/// The 1-based line of byte offset `at` in `text` (clamped, never panics).
pub(super) fn line_at(text: &str, at: usize) -> usize {
    let end = at.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// One step of a key path as the problems name it: `routes[0].match.state`
/// is `routes`, `[0]`, `match`, `state`.
enum Step<'k> {
    Name(&'k str),
    Index(usize),
}

fn steps(key: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        let mut indexes = Vec::new();
        while let Some((digits, after)) = rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
            let Ok(n) = digits.parse::<usize>() else {
                break;
            };
            indexes.push(Step::Index(n));
            rest = after;
        }
        if rest.is_empty() && !name.is_empty() {
            out.push(Step::Name(name));
            out.extend(indexes);
        } else {
            // Not `name[i]...`: a key that merely contains brackets.
            out.push(Step::Name(part));
        }
    }
    out
}

/// Where a key path leads in the parsed file: a table, inline table, array
/// of tables or value.
#[derive(Clone, Copy)]
enum Node<'d> {
    Item(&'d Item),
    Value(&'d Value),
    Table(&'d toml_edit::Table),
}

impl<'d> Node<'d> {
    fn table(self) -> Option<&'d dyn TableLike> {
        match self {
            Node::Item(i) => i.as_table_like(),
            Node::Value(v) => v.as_inline_table().map(|t| t as &dyn TableLike),
            Node::Table(t) => Some(t as &dyn TableLike),
        }
    }

    fn index(self, n: usize) -> Option<Node<'d>> {
        match self {
            Node::Item(Item::ArrayOfTables(a)) => a.get(n).map(Node::Table),
            Node::Item(i) => i.as_array()?.get(n).map(Node::Value),
            Node::Value(v) => v.as_array()?.get(n).map(Node::Value),
            Node::Table(_) => None,
        }
    }

    fn span(self) -> Option<Range<usize>> {
        match self {
            Node::Item(i) => i.span(),
            Node::Value(v) => v.span(),
            Node::Table(t) => t.span(),
        }
    }
}

/// The line of `key` (`destinations.hook.timeout`, `routes[0].match.state`)
/// if the file has it. A trailing index may be missing: one value written
/// where a list is allowed (`signing_secret = "..."` for `[0]`).
fn line_of(doc: &ImDocument<&str>, key: &str) -> Option<usize> {
    let steps = steps(key);
    let mut node = Node::Item(doc.as_item());
    let mut at: Option<usize> = None;
    let mut i = 0;
    while i < steps.len() {
        match steps[i] {
            Step::Index(n) => match node.index(n) {
                Some(next) => {
                    at = next.span().map(|s| s.start).or(at);
                    node = next;
                    i += 1;
                }
                None if steps[i..].iter().all(|s| matches!(s, Step::Index(_))) => break,
                None => return None,
            },
            Step::Name(_) => {
                let table = node.table()?;
                let names = steps[i..]
                    .iter()
                    .take_while(|s| matches!(s, Step::Name(_)))
                    .count();
                // The longest run of names that is one key: a destination
                // may be called `crm.eu`.
                let (len, k, item) = (1..=names).rev().find_map(|len| {
                    let name = steps[i..i + len]
                        .iter()
                        .filter_map(|s| match s {
                            Step::Name(n) => Some(*n),
                            Step::Index(_) => None,
                        })
                        .collect::<Vec<_>>()
                        .join(".");
                    table.get_key_value(&name).map(|(k, v)| (len, k, v))
                })?;
                at = k.span().or_else(|| item.span()).map(|s| s.start).or(at);
                node = Node::Item(item);
                i += len;
            }
        }
    }
    at.map(|at| line_at(doc.raw(), at))
}
