//! The requests the benchmarks send: unique, correctly signed Twilio status
//! callbacks of a chosen body size, and a mix of providers built from the
//! plugins' real fixtures, each made unique so none is deduplicated.

use std::path::Path;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use switchboard_plugin_sdk::fixture::Fixture;

use super::TOKEN;
use super::load::Reqs;

/// The URL Twilio signs: the router's `public_url` plus the path, which the
/// Flask and Express handlers rebuild the same way.
const SIGNED_URL: &str = "https://hooks.example.com/api/v1/smsCallback";
/// The parameter that pads a body to the size under test. Twilio signs
/// every POST parameter, so it is signed like the others; the plugin keeps
/// it in the event's `extra` and the handlers in the line they append.
const PAD_PARAM: &str = "BenchPadding";

/// A message id unique per (batch name, index), so batches never collide.
pub(crate) fn sid(batch: &str, i: usize) -> String {
    let h = batch.bytes().fold(0x811c9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x01000193)
    });
    format!("SM{h:08x}{i:024x}")
}

/// `n` signed, unique Twilio status callbacks (each its own message).
pub(crate) fn twilio_requests(n: usize, host: &str) -> Vec<Vec<u8>> {
    let reqs = twilio(n, host, 0);
    (0..n)
        .filter_map(|i| reqs.get(i).map(|r| r.into_owned()))
        .collect()
}

/// `n` signed, unique Twilio status callbacks whose bodies are exactly
/// `body_bytes` long (0: the natural ~230 bytes, no padding parameter).
pub(crate) fn twilio(n: usize, batch: &str, body_bytes: usize) -> Reqs {
    let fixed = [
        ("AccountSid", "AC00000000000000000000000000000001"),
        ("ApiVersion", "2010-04-01"),
    ];
    let form_of = |pairs: &[(&str, &str)]| {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    };
    // Twilio signs the URL then each parameter's name and value, sorted by
    // name. The fixed parameters and the padding sort before the unique
    // ones, so their HMAC state is computed once and cloned per request:
    // signing 400k bodies of 32 KB one by one would take minutes.
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(TOKEN.as_bytes()).expect("any key");
    mac.update(SIGNED_URL.as_bytes());
    for (k, v) in fixed {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    let tail_len = {
        let s = sid(batch, 0);
        form_of(&unique_params(&s)).len() + 1 + form_of(&fixed).len()
    };
    let pad_len = body_bytes.saturating_sub(tail_len + PAD_PARAM.len() + 2);
    let pad = vec![b'x'; pad_len];
    if pad_len > 0 {
        mac.update(PAD_PARAM.as_bytes());
        mac.update(&pad);
    }
    let parts = (0..n)
        .map(|i| {
            let sid = sid(batch, i);
            let unique = unique_params(&sid);
            let mut m = mac.clone();
            for (k, v) in &unique {
                m.update(k.as_bytes());
                m.update(v.as_bytes());
            }
            let sig = base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes());
            let tail = format!("{}&{}", form_of(&fixed), form_of(&unique));
            let len = if pad_len > 0 {
                PAD_PARAM.len() + 2 + pad_len + tail.len()
            } else {
                tail.len()
            };
            let mut head = format!(
                "POST /api/v1/smsCallback HTTP/1.1\r\nhost: {batch}\r\n\
                 content-type: application/x-www-form-urlencoded\r\n\
                 x-twilio-signature: {sig}\r\ncontent-length: {len}\r\n\r\n"
            );
            if pad_len > 0 {
                head.push_str(PAD_PARAM);
                head.push('=');
                (head.into_bytes(), format!("&{tail}").into_bytes())
            } else {
                head.push_str(&tail);
                (head.into_bytes(), Vec::new())
            }
        })
        .collect();
    Reqs::padded(parts, pad)
}

/// The per-message parameters, sorted by name (they all sort after the
/// fixed ones and the padding, which the signature relies on).
fn unique_params(sid: &str) -> [(&'static str, &str); 6] {
    [
        ("From", "+15005550006"),
        ("MessageSid", sid),
        ("MessageStatus", "delivered"),
        ("SmsSid", sid),
        ("SmsStatus", "delivered"),
        ("To", "+15558675310"),
    ]
}

/// The providers of the mix, in the order requests cycle through them.
pub(crate) const MIX: [&str; 4] = ["twilio", "mysmsgate", "kannel", "infobip"];

/// `n` unique requests cycling through [`MIX`]: a Twilio status callback
/// (HMAC-SHA1 of URL and parameters), a MySMSGate delivery report
/// (HMAC-SHA256 of the body), a Kannel DLR (GET, SMPP receipt text) and an
/// Infobip batch of two reports, the last three from their fixtures with
/// the message ids made unique (and MySMSGate's body re-signed).
pub(crate) fn mix(root: &Path, n: usize, batch: &str) -> anyhow::Result<Reqs> {
    providers(root, n, batch, &MIX)
}

/// `n` unique requests cycling through `which` (names from [`MIX`]).
pub(crate) fn providers(
    root: &Path,
    n: usize,
    batch: &str,
    which: &[&str],
) -> anyhow::Result<Reqs> {
    let fixture = |p: &str, f: &str| {
        Fixture::load(root.join(format!("plugins/{p}/fixtures/{f}"))).map_err(anyhow::Error::msg)
    };
    let mysmsgate = fixture("mysmsgate", "delivered.http")?;
    let kannel = fixture("kannel", "dlr-delivered.http")?;
    let infobip = fixture("infobip", "delivered-batch.http")?;
    let twilio = match which.contains(&"twilio") {
        true => twilio_requests(n, &format!("{batch}-twilio")),
        false => Vec::new(),
    };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let id = sid(batch, i);
        let req = match which[i % which.len().max(1)] {
            "twilio" => twilio[i].clone(),
            "mysmsgate" => {
                let mut fx = with_id(&mysmsgate, "unique_message_identifier", &id);
                let sig = hmac_sha256_hex(b"fixture-secret", &fx.body);
                set_header(&mut fx, "x-signature", &sig);
                wire(&fx)
            }
            "kannel" => wire(&with_id(&kannel, "ORD-1001", &id)),
            "infobip" => {
                let fx = with_id(&infobip, "4019946523210359371", &format!("{id}-1"));
                wire(&with_id(&fx, "4019946523210359372", &format!("{id}-2")))
            }
            other => anyhow::bail!("no requests for `{other}` (the mix: {MIX:?})"),
        };
        out.push(req);
    }
    Ok(Reqs::plain(out))
}

/// The fixture with every occurrence of `old` (in target and body) replaced.
fn with_id(fx: &Fixture, old: &str, new: &str) -> Fixture {
    let body = String::from_utf8_lossy(&fx.body).replace(old, new);
    Fixture {
        target: fx.target.replace(old, new),
        body: body.into_bytes(),
        ..fx.clone()
    }
}

fn set_header(fx: &mut Fixture, name: &str, value: &str) {
    fx.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    fx.headers.push((name.to_owned(), value.to_owned()));
}

fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("any key");
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

/// The fixture on the wire, keep-alive (`Fixture::to_http` closes the
/// connection, right for the tests' one-shot requests, not for a load).
pub(crate) fn wire(fx: &Fixture) -> Vec<u8> {
    let mut out = format!("{} {} HTTP/1.1\r\nhost: bench\r\n", fx.method, fx.target);
    for (k, v) in &fx.headers {
        if !k.eq_ignore_ascii_case("host") && !k.eq_ignore_ascii_case("content-length") {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", fx.body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&fx.body);
    bytes
}
