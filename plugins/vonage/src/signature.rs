//! The two signatures Vonage uses: the SMS API's `sig` parameter (md5 or
//! an HMAC of the sorted parameters) and the Messages API's JWT (HS256,
//! with a hash of the body), each with a recent timestamp.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use serde_json::Value;
use sha2::Sha512;
use switchboard_plugin_sdk::sign::{
    base64_decode, constant_time_eq, hmac_sha1, hmac_sha256, sha256_hex, verify_hex,
};
use switchboard_plugin_sdk::*;

use super::SIGNATURE_FIELDS;

const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// The SMS API signature: every parameter but `sig`, sorted by name, as
/// `&name=value` with `&` and `=` in values turned to `_`; then
/// `md5(base + secret)` (md5hash) or the HMAC of the base keyed by the
/// secret, in hex. The signed `timestamp` must be recent.
pub(crate) fn verify_sig(
    p: &Params,
    secret: &str,
    method: &str,
    tolerance: i64,
    received_at: i64,
) -> Result<(), PluginError> {
    let sig = p
        .get("sig")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| unauthorized("missing `sig` (signed webhooks are configured)"))?;
    let expected = sig_bytes(p, secret, method)?;
    if !verify_hex(sig, &expected) {
        return Err(unauthorized("`sig` does not match"));
    }
    if tolerance > 0 {
        let ts = p
            .get("timestamp")
            .and_then(|t| t.trim().parse::<i64>().ok())
            .ok_or_else(|| unauthorized("signed request without a numeric `timestamp`"))?;
        check_age(ts, tolerance, received_at)?;
    }
    Ok(())
}

/// The expected signature bytes for `p` (see [`verify_sig`]).
pub fn sig_bytes(p: &Params, secret: &str, method: &str) -> Result<Vec<u8>, PluginError> {
    let base = signature_base(p);
    let key = secret.as_bytes();
    Ok(match method.trim().to_ascii_lowercase().as_str() {
        "md5hash" => Md5::digest(format!("{base}{secret}").as_bytes()).to_vec(),
        "md5" => {
            let mut mac = <Hmac<Md5> as Mac>::new_from_slice(key)
                .map_err(|_| PluginError::Internal("HMAC-MD5 key".into()))?;
            mac.update(base.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        "sha1" => hmac_sha1(key, base.as_bytes()),
        "sha256" => hmac_sha256(key, base.as_bytes()),
        "sha512" => {
            let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(key)
                .map_err(|_| PluginError::Internal("HMAC-SHA512 key".into()))?;
            mac.update(base.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        other => {
            return Err(PluginError::Internal(format!(
                "unknown signature_method `{other}` (md5hash, md5, sha1, sha256 or sha512)"
            )));
        }
    })
}

/// `&a=1&b=x_y` from the parameters (last value of a repeated name).
pub fn signature_base(p: &Params) -> String {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for (k, v) in p.iter() {
        if SIGNATURE_FIELDS.contains(&k) {
            continue;
        }
        match pairs.iter_mut().find(|(ek, _)| *ek == k) {
            Some(entry) => entry.1 = v,
            None => pairs.push((k, v)),
        }
    }
    pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut base = String::new();
    for (k, v) in pairs {
        base.push('&');
        base.push_str(k);
        base.push('=');
        base.push_str(&v.replace(['&', '='], "_"));
    }
    base
}

/// The Messages API's `Authorization: Bearer <JWT>`: HS256 keyed by the
/// signature secret; `payload_hash` (if present) is the SHA-256 of the body
/// and `iat` must be recent.
pub(crate) fn verify_jwt(req: &Request, secret: &str, tolerance: i64) -> Result<(), PluginError> {
    let auth = req.header("authorization").ok_or_else(|| {
        unauthorized("missing Authorization bearer token (signed webhooks are configured)")
    })?;
    let token = auth
        .trim()
        .strip_prefix("Bearer ")
        .or_else(|| auth.trim().strip_prefix("bearer "))
        .ok_or_else(|| unauthorized("Authorization is not a bearer token"))?
        .trim();
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(unauthorized("bearer token is not a JWT"));
    };
    let header: Value = b64url_json(header_b64).ok_or_else(|| unauthorized("bad JWT header"))?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(unauthorized("JWT is not HS256"));
    }
    let expected = hmac_sha256(
        secret.as_bytes(),
        format!("{header_b64}.{payload}").as_bytes(),
    );
    let given = b64url(signature).ok_or_else(|| unauthorized("bad JWT signature encoding"))?;
    if !constant_time_eq(&given, &expected) {
        return Err(unauthorized("JWT signature does not match"));
    }
    let claims: Value = b64url_json(payload).ok_or_else(|| unauthorized("bad JWT payload"))?;
    if let Some(hash) = claims.get("payload_hash").and_then(Value::as_str)
        && !hash.eq_ignore_ascii_case(&sha256_hex(req.body()))
    {
        return Err(unauthorized("JWT payload_hash does not match the body"));
    }
    if tolerance > 0 {
        let iat = claims
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or_else(|| unauthorized("JWT without `iat`"))?;
        check_age(iat, tolerance, req.received_at())?;
    }
    Ok(())
}

fn b64url(s: &str) -> Option<Vec<u8>> {
    let mut std: String = s
        .trim()
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !std.len().is_multiple_of(4) {
        std.push('=');
    }
    base64_decode(&std)
}

fn b64url_json(s: &str) -> Option<Value> {
    serde_json::from_slice(&b64url(s)?).ok()
}

fn check_age(ts_secs: i64, tolerance: i64, received_at_ms: i64) -> Result<(), PluginError> {
    let age = received_at_ms.div_euclid(1000).saturating_sub(ts_secs);
    if age.saturating_abs() > tolerance {
        return Err(unauthorized(format!(
            "signed timestamp is {age} s away from now (tolerance {tolerance} s)"
        )));
    }
    Ok(())
}

pub(crate) fn tolerance(config: &Config) -> Result<i64, PluginError> {
    match config.get("timestamp_tolerance_secs").map(str::trim) {
        None | Some("") => Ok(DEFAULT_TOLERANCE_SECS),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|t| *t >= 0)
            .ok_or_else(|| PluginError::Internal(format!("bad timestamp_tolerance_secs `{v}`"))),
    }
}
