//! Decoding the legacy charsets SMS gateways still send: Windows-1251
//! (Russian gateways), ISO-8859-1 and Windows-1252 (old HTTP defaults),
//! ISO-8859-15 (French gateways: Latin-1 with `€`, `Œ`, ...), and
//! UCS-2 / UTF-16BE as hex (SMPP gateways pass `data_coding=8` text through
//! as hex). Written out here because a full encoding crate would triple the
//! size of every plugin for tables nobody uses.

/// Windows-1251 bytes 0x80..=0xBF (0xC0..=0xFF are А..я, contiguous).
const CP1251_HIGH: [char; 64] = [
    'Ђ', 'Ѓ', '‚', 'ѓ', '„', '…', '†', '‡', '€', '‰', 'Љ', '‹', 'Њ', 'Ќ', 'Ћ', 'Џ', //
    'ђ', '‘', '’', '“', '”', '•', '–', '—', '\u{FFFD}', '™', 'љ', '›', 'њ', 'ќ', 'ћ', 'џ', //
    '\u{A0}', 'Ў', 'ў', 'Ј', '¤', 'Ґ', '¦', '§', 'Ё', '©', 'Є', '«', '¬', '\u{AD}', '®',
    'Ї', //
    '°', '±', 'І', 'і', 'ґ', 'µ', '¶', '·', 'ё', '№', 'є', '»', 'ј', 'Ѕ', 'ѕ', 'ї',
];

/// Windows-1252 bytes 0x80..=0x9F (the rest is ISO-8859-1).
const CP1252_HIGH: [char; 32] = [
    '€', '\u{FFFD}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{FFFD}', 'Ž',
    '\u{FFFD}', '\u{FFFD}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{FFFD}',
    'ž', 'Ÿ',
];

/// A charset this module can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    Utf8,
    Latin1,
    /// ISO-8859-15 (Latin-9): Latin-1 with eight code points replaced.
    Latin9,
    Windows1252,
    Windows1251,
    Utf16Be,
}

impl Charset {
    /// Looks a charset up by any of its usual labels (case-insensitive).
    pub fn from_label(label: &str) -> Option<Self> {
        Some(match label.trim().to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Self::Utf8,
            "iso-8859-1" | "iso8859-1" | "latin1" | "latin-1" | "l1" => Self::Latin1,
            "iso-8859-15" | "iso8859-15" | "latin9" | "latin-9" | "l9" => Self::Latin9,
            "windows-1252" | "cp1252" => Self::Windows1252,
            "windows-1251" | "cp1251" | "win-1251" => Self::Windows1251,
            "utf-16be" | "utf-16" | "ucs-2" | "ucs2" => Self::Utf16Be,
            _ => return None,
        })
    }

    /// Decodes `bytes`; bytes that are invalid in the charset become U+FFFD
    /// (a provider's text is kept, never refused for one bad byte).
    pub fn decode(self, bytes: &[u8]) -> String {
        match self {
            Self::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
            Self::Latin1 => bytes.iter().map(|&b| b as char).collect(),
            Self::Latin9 => bytes
                .iter()
                .map(|&b| match b {
                    0xA4 => '€',
                    0xA6 => 'Š',
                    0xA8 => 'š',
                    0xB4 => 'Ž',
                    0xB8 => 'ž',
                    0xBC => 'Œ',
                    0xBD => 'œ',
                    0xBE => 'Ÿ',
                    b => char::from(b),
                })
                .collect(),
            Self::Windows1252 => bytes
                .iter()
                .map(|&b| match b {
                    0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)],
                    _ => b as char,
                })
                .collect(),
            Self::Windows1251 => bytes
                .iter()
                .map(|&b| match b {
                    0x00..=0x7F => b as char,
                    0x80..=0xBF => CP1251_HIGH[usize::from(b - 0x80)],
                    // А (U+0410) .. я (U+044F)
                    _ => char::from_u32(0x0410 + u32::from(b - 0xC0)).unwrap_or('\u{FFFD}'),
                })
                .collect(),
            Self::Utf16Be => {
                let units = bytes.chunks(2).map(|c| {
                    let hi = u16::from(c[0]) << 8;
                    hi | c.get(1).map_or(0xFFFD, |&lo| u16::from(lo))
                });
                char::decode_utf16(units)
                    .map(|r| r.unwrap_or('\u{FFFD}'))
                    .collect()
            }
        }
    }
}

/// Decodes `bytes` in the charset named `label`; unknown labels decode as
/// UTF-8 (lossy), the only sane guess.
pub fn decode(bytes: &[u8], label: Option<&str>) -> String {
    label
        .and_then(Charset::from_label)
        .unwrap_or(Charset::Utf8)
        .decode(bytes)
}

/// Decodes UCS-2/UTF-16BE text sent as hex (`041f04400438` = "При"), as SMPP
/// gateways forward `data_coding=8` messages; `None` if it is not hex.
pub fn decode_ucs2_hex(hex_text: &str) -> Option<String> {
    let bytes = hex::decode(hex_text.trim()).ok()?;
    Some(Charset::Utf16Be.decode(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1251_decodes_russian() {
        // "Привет Ёё №1" in Windows-1251.
        let bytes = [
            0xCF, 0xF0, 0xE8, 0xE2, 0xE5, 0xF2, 0x20, 0xA8, 0xB8, 0x20, 0xB9, 0x31,
        ];
        assert_eq!(decode(&bytes, Some("windows-1251")), "Привет Ёё №1");
        assert_eq!(decode(&bytes, Some("CP1251")), "Привет Ёё №1");
    }

    #[test]
    fn latin1_cp1252_and_utf8() {
        assert_eq!(
            decode(&[0x63, 0x61, 0x66, 0xE9], Some("iso-8859-1")),
            "café"
        );
        assert_eq!(decode(&[0x80, 0x93, 0x94], Some("windows-1252")), "€“”");
        assert_eq!(
            decode(
                &[0xA4, 0xBC, 0x75, 0x76, 0x72, 0x65, 0xE9],
                Some("ISO-8859-15")
            ),
            "€Œuvreé"
        );
        assert_eq!(decode(&[0xA4], Some("latin1")), "¤");
        assert_eq!(decode("ok ✓".as_bytes(), None), "ok ✓");
        assert_eq!(decode(&[0xFF], Some("utf-8")), "\u{FFFD}");
    }

    #[test]
    fn ucs2_hex() {
        assert_eq!(decode_ucs2_hex("041f04400438").as_deref(), Some("При"));
        assert_eq!(decode_ucs2_hex("d83dde00").as_deref(), Some("😀"));
        assert_eq!(decode_ucs2_hex("zz"), None);
    }
}
