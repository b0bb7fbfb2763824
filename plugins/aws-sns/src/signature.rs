//! The SNS message signature: the canonical string SNS signs, the RSA
//! check (SignatureVersion 1: SHA1, 2: SHA256) against the signing
//! certificate (fetched by the host from an `sns.<region>.amazonaws.com`
//! URL, or pinned in config), and the timestamp tolerance.

use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};
use sha2::Sha256;
use switchboard_plugin_sdk::sign::base64_decode;
use switchboard_plugin_sdk::time::parse_datetime;
use switchboard_plugin_sdk::*;

use super::{DEFAULT_TOLERANCE_SECS, field, require};

/// The canonical string SNS signs: `name\nvalue\n` for each key, in this
/// fixed order; `Subject` only when the message has one.
pub fn string_to_sign(msg: &Map<String, Value>, kind: &str) -> Result<String, PluginError> {
    let keys: &[(&str, bool)] = if kind == "Notification" {
        &[
            ("Message", true),
            ("MessageId", true),
            ("Subject", false),
            ("Timestamp", true),
            ("TopicArn", true),
            ("Type", true),
        ]
    } else {
        &[
            ("Message", true),
            ("MessageId", true),
            ("SubscribeURL", true),
            ("Timestamp", true),
            ("Token", true),
            ("TopicArn", true),
            ("Type", true),
        ]
    };
    let mut out = String::new();
    for (key, required) in keys {
        match field(msg, key) {
            Some(value) => {
                out.push_str(key);
                out.push('\n');
                out.push_str(value);
                out.push('\n');
            }
            None if *required => return Err(bad_request(format!("missing field `{key}`"))),
            None => {}
        }
    }
    Ok(out)
}

/// Checks the signature against the certificate (pinned or fetched from a
/// validated SigningCertURL), then the freshness of the signed Timestamp.
pub(super) fn verify(
    req: &Request,
    config: &Config,
    msg: &Map<String, Value>,
    kind: &str,
) -> Result<(), PluginError> {
    let version =
        field(msg, "SignatureVersion").ok_or_else(|| unauthorized("missing SignatureVersion"))?;
    if !matches!(version, "1" | "2") {
        return Err(unauthorized(format!(
            "unsupported SignatureVersion `{version}`"
        )));
    }
    let signature = field(msg, "Signature")
        .and_then(base64_decode)
        .ok_or_else(|| unauthorized("missing or malformed Signature"))?;
    let cert_url =
        field(msg, "SigningCertURL").ok_or_else(|| unauthorized("missing SigningCertURL"))?;
    check_sns_url(cert_url, true)
        .map_err(|e| unauthorized(format!("SigningCertURL refused: {e}")))?;
    let text = string_to_sign(msg, kind)?;
    let keys = signing_keys(config, cert_url)?;
    let ok = keys.iter().any(|key| {
        let checked = if version == "1" {
            key.verify(
                Pkcs1v15Sign::new::<Sha1>(),
                &Sha1::digest(text.as_bytes()),
                &signature,
            )
        } else {
            key.verify(
                Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(text.as_bytes()),
                &signature,
            )
        };
        checked.is_ok()
    });
    if !ok {
        return Err(unauthorized("signature does not match the message"));
    }
    check_timestamp(req, config, msg)
}

pub(super) fn check_timestamp(
    req: &Request,
    config: &Config,
    msg: &Map<String, Value>,
) -> Result<(), PluginError> {
    let tolerance = match config.get("timestamp_tolerance_secs") {
        Some(v) => v.trim().parse::<i64>().map_err(|_| {
            PluginError::Internal(format!("timestamp_tolerance_secs `{v}` is not a number"))
        })?,
        None => DEFAULT_TOLERANCE_SECS,
    };
    if tolerance <= 0 {
        return Ok(());
    }
    let ts = require(msg, "Timestamp")?;
    let at = parse_datetime(ts, 0).ok_or_else(|| bad_request(format!("bad Timestamp `{ts}`")))?;
    let skew = (req.received_at() - at).abs();
    if skew > tolerance.saturating_mul(1000) {
        return Err(unauthorized(format!(
            "Timestamp {ts} is {}s away from arrival (tolerance {tolerance}s)",
            skew / 1000
        )));
    }
    Ok(())
}

/// `https://sns.<region>.amazonaws.com[.cn]/...`: the only place SNS
/// certificates and confirmation links live. `pem` also wants a `.pem` path
/// without query. Anything else (another host, `http`, a port, userinfo,
/// escapes) is refused before any fetch.
pub fn check_sns_url(url: &str, pem: bool) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| format!("`{url}` is not an https URL"))?;
    let split = rest
        .find('/')
        .ok_or_else(|| format!("`{url}` has no path"))?;
    let (host, path) = rest.split_at(split);
    host.strip_prefix("sns.")
        .and_then(|h| {
            h.strip_suffix(".amazonaws.com")
                .or_else(|| h.strip_suffix(".amazonaws.com.cn"))
        })
        .filter(|r| is_region(r))
        .ok_or_else(|| format!("host `{host}` is not sns.<region>.amazonaws.com"))?;
    if path
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '\\' | '#' | '@'))
        || path.contains("/..")
    {
        return Err(format!("`{url}` has a suspicious path"));
    }
    if pem && (path.contains('?') || !path.ends_with(".pem")) {
        return Err(format!("`{url}` is not a .pem certificate"));
    }
    Ok(())
}

/// An AWS region name: `us-east-1`, `us-gov-west-1`, `cn-north-1`...
fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    let Some((last, words)) = parts.split_last() else {
        return false;
    };
    words.len() >= 2
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

/// The RSA keys to verify with: from `certificate_pem` when pinned, else
/// from the certificate the host fetches at the (validated) URL.
fn signing_keys(config: &Config, url: &str) -> Result<Vec<RsaPublicKey>, PluginError> {
    if let Some(pinned) = config
        .get("certificate_pem")
        .filter(|p| !p.trim().is_empty())
    {
        let keys = rsa_keys_from_pem(pinned);
        if keys.is_empty() {
            return Err(PluginError::Internal(
                "certificate_pem holds no RSA certificate".into(),
            ));
        }
        return Ok(keys);
    }
    let pem = fetch_certificate(url).map_err(|e| {
        PluginError::Internal(format!(
            "could not fetch the signing certificate {url}: {e}"
        ))
    })?;
    let keys = rsa_keys_from_pem(&pem);
    if keys.is_empty() {
        return Err(unauthorized(format!("{url} is not an RSA certificate")));
    }
    Ok(keys)
}

/// The RSA public keys of every `CERTIFICATE` block in `pem`; blocks that
/// do not parse are skipped.
pub fn rsa_keys_from_pem(pem: &str) -> Vec<RsaPublicKey> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut keys = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let after = rest.get(start + BEGIN.len()..).unwrap_or("");
        let Some(end) = after.find(END) else { break };
        let b64: String = after
            .get(..end)
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        rest = after.get(end + END.len()..).unwrap_or("");
        let key = base64_decode(&b64)
            .and_then(|der| certificate_spki(&der).map(<[u8]>::to_vec))
            .and_then(|spki| RsaPublicKey::from_public_key_der(&spki).ok());
        keys.extend(key);
    }
    keys
}

/// The DER `SubjectPublicKeyInfo` of an X.509 certificate: the seventh
/// element of `tbsCertificate` (after the optional `[0]` version, serial,
/// signature algorithm, issuer, validity and subject).
pub fn certificate_spki(der: &[u8]) -> Option<&[u8]> {
    let cert = Tlv::parse(der).filter(|t| t.tag == 0x30)?;
    let tbs = Tlv::parse(cert.contents).filter(|t| t.tag == 0x30)?;
    let mut rest = tbs.contents;
    if rest.first() == Some(&0xA0) {
        rest = Tlv::parse(rest)?.rest;
    }
    // serial, signature, issuer, validity, subject
    for _ in 0..5 {
        rest = Tlv::parse(rest)?.rest;
    }
    Tlv::parse(rest).filter(|t| t.tag == 0x30).map(|t| t.whole)
}

/// One DER element.
struct Tlv<'a> {
    tag: u8,
    contents: &'a [u8],
    /// What follows the element.
    rest: &'a [u8],
    /// The element with its tag and length.
    whole: &'a [u8],
}

impl<'a> Tlv<'a> {
    fn parse(input: &'a [u8]) -> Option<Self> {
        let tag = *input.first()?;
        let first = *input.get(1)?;
        let (len, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let n = usize::from(first & 0x7F);
            if n == 0 || n > 4 {
                return None;
            }
            let mut len = 0usize;
            for b in input.get(2..2 + n)? {
                len = (len << 8) | usize::from(*b);
            }
            (len, 2 + n)
        };
        let end = header.checked_add(len)?;
        Some(Tlv {
            tag,
            contents: input.get(header..end)?,
            rest: input.get(end..)?,
            whole: input.get(..end)?,
        })
    }
}
