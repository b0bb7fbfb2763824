//! What SMPP gateways pass through to HTTP callbacks: the delivery receipt
//! text of a `deliver_sm` (`id:… sub:… dlvrd:… submit date:… done date:…
//! stat:… err:… text:…`) and its `YYMMDDhhmm[ss]` dates.

use crate::time::unix_ms;

/// The fields of an SMPP delivery receipt text (SMPP 3.4 appendix B). Each
/// is `None` when absent or empty.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Receipt {
    pub id: Option<String>,
    pub sub: Option<String>,
    pub dlvrd: Option<String>,
    pub submit_date: Option<String>,
    pub done_date: Option<String>,
    pub stat: Option<String>,
    pub err: Option<String>,
    pub text: Option<String>,
}

const LABELS: [&str; 8] = [
    "id:",
    "sub:",
    "dlvrd:",
    "submit date:",
    "done date:",
    "stat:",
    "err:",
    "text:",
];

impl Receipt {
    /// Parses a receipt leniently: labels are matched ignoring case, at
    /// the start or after white space, in any order; `text:` is last and
    /// runs to the end (labels inside it are text). Text that is not a
    /// receipt gives an empty one.
    pub fn parse(s: &str) -> Self {
        Self::scan(s).0
    }

    /// A receipt only if `s` has both an `id:` and a `stat:` label (values
    /// may be empty): for gateways that may put one in any field.
    pub fn detect(s: &str) -> Option<Self> {
        let (receipt, has_id_and_stat) = Self::scan(s);
        has_id_and_stat.then_some(receipt)
    }

    fn scan(s: &str) -> (Self, bool) {
        // ASCII lower-casing keeps byte offsets, so indices match `s`.
        let lower = s.to_ascii_lowercase();
        let text_at = find_label(&lower, "text:");
        let head = &lower[..text_at.unwrap_or(lower.len())];
        let mut marks: Vec<(usize, &str)> = LABELS[..7]
            .iter()
            .filter_map(|l| find_label(head, l).map(|at| (at, *l)))
            .collect();
        marks.extend(text_at.map(|at| (at, "text:")));
        marks.sort_unstable();
        let has = |l: &str| marks.iter().any(|(_, m)| *m == l);
        let has_id_and_stat = has("id:") && has("stat:");
        let mut r = Receipt::default();
        for (i, (start, label)) in marks.iter().enumerate() {
            let end = marks.get(i + 1).map_or(s.len(), |m| m.0);
            let value = s
                .get(start + label.len()..end)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned);
            let slot = match *label {
                "id:" => &mut r.id,
                "sub:" => &mut r.sub,
                "dlvrd:" => &mut r.dlvrd,
                "submit date:" => &mut r.submit_date,
                "done date:" => &mut r.done_date,
                "stat:" => &mut r.stat,
                "err:" => &mut r.err,
                _ => &mut r.text,
            };
            *slot = value;
        }
        (r, has_id_and_stat)
    }

    /// `err:` when it names an error (not `000`).
    pub fn error_code(&self) -> Option<String> {
        self.err.clone().filter(|e| !crate::status::is_no_error(e))
    }

    /// `done date:` in ms since the epoch, read at `offset_minutes`.
    pub fn done_at(&self, offset_minutes: i32) -> Option<i64> {
        parse_date(self.done_date.as_deref()?, offset_minutes)
    }

    /// The fields present, as `(name, value)` with names `id`, `sub`,
    /// `dlvrd`, `submit_date`, `done_date`, `stat`, `err`, `text`.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("id", &self.id),
            ("sub", &self.sub),
            ("dlvrd", &self.dlvrd),
            ("submit_date", &self.submit_date),
            ("done_date", &self.done_date),
            ("stat", &self.stat),
            ("err", &self.err),
            ("text", &self.text),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.as_deref()?)))
        .collect()
    }
}

/// The byte offset of the first `label` in `lower` at the start or after
/// white space.
fn find_label(lower: &str, label: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(pos) = lower.get(from..)?.find(label) {
        let at = from + pos;
        let boundary = lower[..at]
            .chars()
            .next_back()
            .is_none_or(char::is_whitespace);
        if boundary {
            return Some(at);
        }
        from = at + label.len();
    }
    None
}

/// An SMPP date `YYMMDDhhmm` or `YYMMDDhhmmss` (receipt `done date:`,
/// `submit date:`, Twilio's `RawDlrDoneDate`, Vonage's `scts`) in ms since
/// the epoch, read at `offset_minutes`; years are 2000-2099.
pub fn parse_date(s: &str, offset_minutes: i32) -> Option<i64> {
    let b = s.trim().as_bytes();
    if !matches!(b.len(), 10 | 12) || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |i: usize| u32::from(b[i] - b'0') * 10 + u32::from(b[i + 1] - b'0');
    let secs = if b.len() == 12 { n(10) } else { 0 };
    unix_ms(
        2000 + i64::from(n(0)),
        n(2),
        n(4),
        n(6),
        n(8),
        secs,
        offset_minutes,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_datetime;

    fn utc(s: &str) -> i64 {
        parse_datetime(s, 0).unwrap()
    }

    #[test]
    fn receipt_fields() {
        let r = Receipt::parse(
            "id:0123456789 sub:001 dlvrd:001 submit date:2311231410 done date:231123141530 stat:DELIVRD err:000 text:stat:fake err:999",
        );
        assert_eq!(r.id.as_deref(), Some("0123456789"));
        assert_eq!(r.sub.as_deref(), Some("001"));
        assert_eq!(r.submit_date.as_deref(), Some("2311231410"));
        assert_eq!(r.done_date.as_deref(), Some("231123141530"));
        assert_eq!(r.stat.as_deref(), Some("DELIVRD"));
        assert_eq!(r.err.as_deref(), Some("000"));
        // Labels inside the free text are text.
        assert_eq!(r.text.as_deref(), Some("stat:fake err:999"));
        assert_eq!(r.error_code(), None);
        assert_eq!(r.done_at(0), Some(utc("2023-11-23T14:15:30Z")));
        assert_eq!(r.pairs().len(), 8);
        assert_eq!(r.pairs()[4], ("done_date", "231123141530"));
        // Lower case, other order, tabs, no text.
        let r = Receipt::parse("STAT:UNDELIV\tERR:0x0A ID:abc");
        assert_eq!(
            (r.id.as_deref(), r.stat.as_deref(), r.err.as_deref()),
            (Some("abc"), Some("UNDELIV"), Some("0x0A"))
        );
        assert_eq!(r.error_code().as_deref(), Some("0x0A"));
        // Labels count only at a word start.
        assert_eq!(Receipt::parse("msgid:1 stat:X").id, None);
        assert_eq!(Receipt::parse("ACK/"), Receipt::default());
        assert_eq!(Receipt::parse(""), Receipt::default());
    }

    #[test]
    fn detect_needs_id_and_stat() {
        let r = Receipt::detect(
            "id:0123456789 sub:001 dlvrd:001 submit date:2311231414 done date:2311231415 stat:DELIVRD err:000 text:Hello stat:x",
        )
        .unwrap();
        assert_eq!(r.id.as_deref(), Some("0123456789"));
        assert_eq!(r.stat.as_deref(), Some("DELIVRD"));
        assert_eq!(r.text.as_deref(), Some("Hello stat:x"));
        assert_eq!(Receipt::detect("hello world"), None);
        assert_eq!(Receipt::detect("stat:DELIVRD err:0"), None);
        assert_eq!(Receipt::detect("stat:"), None);
        let r = Receipt::detect("id: stat:é").unwrap();
        assert_eq!((r.id, r.stat.as_deref()), (None, Some("é")));
    }

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("231123141530", 0),
            Some(utc("2023-11-23T14:15:30Z"))
        );
        assert_eq!(
            parse_date(" 2311231415 ", 180),
            Some(utc("2023-11-23T11:15:00Z"))
        );
        assert_eq!(parse_date("23112314", 0), None);
        assert_eq!(parse_date("2399999999", 0), None);
        assert_eq!(parse_date("23112314１5", 0), None);
        assert_eq!(parse_date("+311231415", 0), None);
    }

    #[test]
    fn never_panics_on_tricky_text() {
        let base = "id:1 sub:001 done date:2311231415 stat:DELIVRD err:000 text:hi";
        let chars: Vec<char> = base.chars().collect();
        for i in 0..=chars.len() {
            for t in ["é", "ß", "İ", "\u{301}", " ", ":", "\t", "😀"] {
                let s: String = chars[..i]
                    .iter()
                    .copied()
                    .chain(t.chars())
                    .chain(chars[i..].iter().copied())
                    .collect();
                let _ = Receipt::parse(&s);
                let _ = Receipt::detect(&s);
                let _ = parse_date(&s, 0);
                let _ = parse_date(s.get(i..).unwrap_or_default(), 0);
            }
        }
    }
}
