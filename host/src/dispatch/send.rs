//! How one attempt reaches a destination: HTTP POST or a JSON Lines file.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client::Client;
use super::schedule::{Next, next_for};
use crate::config::HttpDestination;
use crate::store::{Attempt, Job};
use crate::time::now_ms;

/// One destination's transport.
pub enum Sender {
    Http {
        client: Box<Client>,
        headers: Vec<(String, String)>,
        signing_keys: Vec<Vec<u8>>,
    },
    File {
        path: PathBuf,
        file: Arc<std::sync::Mutex<Option<std::fs::File>>>,
    },
}

impl Sender {
    pub fn http(d: &HttpDestination) -> Result<Self, super::client::ClientError> {
        let client = Box::new(Client::new(
            &d.url,
            d.allow_addresses.clone(),
            &d.ca_certs,
            d.timeout,
            d.concurrency,
        )?);
        Ok(Sender::Http {
            client,
            headers: d.headers.clone(),
            signing_keys: d.signing_keys.clone(),
        })
    }

    pub fn file(path: PathBuf) -> Self {
        Sender::File {
            path,
            file: Arc::new(std::sync::Mutex::new(None)),
        }
    }

    /// Makes one attempt and says what to do next.
    pub async fn attempt(&self, job: &Job) -> (Attempt, Next) {
        let start = Instant::now();
        let at = now_ms();
        let (status, error, response, verdict) = match self {
            Sender::Http {
                client,
                headers,
                signing_keys,
            } => http_attempt(client, headers, signing_keys, job).await,
            Sender::File { path, file } => {
                let (path, file, line) = (path.clone(), file.clone(), job.payload.clone());
                match tokio::task::spawn_blocking(move || append_line(&path, &file, &line)).await {
                    Ok(Ok(())) => (None, None, String::new(), Next::Delivered),
                    Ok(Err(e)) => (None, Some(e), String::new(), Next::Retry(None)),
                    Err(e) => (None, Some(e.to_string()), String::new(), Next::Retry(None)),
                }
            }
        };
        let attempt = Attempt {
            at,
            status,
            error,
            latency_ms: start.elapsed().as_millis() as u64,
            response,
        };
        (attempt, verdict)
    }
}

async fn http_attempt(
    client: &Client,
    static_headers: &[(String, String)],
    signing_keys: &[Vec<u8>],
    job: &Job,
) -> (Option<u16>, Option<String>, String, Next) {
    let timestamp = (now_ms() / 1000).to_string();
    let signed = (!signing_keys.is_empty()).then(|| {
        signature(
            signing_keys,
            &job.event_id,
            &timestamp,
            job.payload.as_bytes(),
        )
    });
    // Static headers first: the protocol's own cannot be overridden.
    let mut headers: Vec<(&str, &str)> = static_headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    headers.extend([
        ("user-agent", USER_AGENT),
        ("content-type", "application/json"),
        // Same id on every retry, so receivers can deduplicate.
        ("webhook-id", job.event_id.as_str()),
        ("webhook-timestamp", timestamp.as_str()),
    ]);
    if let Some(sig) = &signed {
        headers.push(("webhook-signature", sig));
    }
    let body = bytes::Bytes::from_owner(Payload(job.payload.clone()));
    match client.post(&headers, body).await {
        Err(e) => (None, Some(e), String::new(), Next::Retry(None)),
        Ok(answer) => {
            let retry_after = answer.retry_after.as_deref().and_then(parse_retry_after);
            let head = String::from_utf8_lossy(&answer.body_head).into_owned();
            (
                Some(answer.status),
                None,
                head,
                next_for(answer.status, retry_after),
            )
        }
    }
}

/// A job's payload as a request body, shared rather than copied.
struct Payload(Arc<str>);

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

const USER_AGENT: &str = concat!("Switchboard/", env!("CARGO_PKG_VERSION"));

/// The Standard Webhooks `webhook-signature` value: `v1,<base64 HMAC-SHA256
/// of "id.timestamp.body">` per key, space-separated (several keys while a
/// secret is rotated; receivers accept any one that verifies).
pub fn signature(keys: &[Vec<u8>], id: &str, timestamp: &str, body: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let mut out = String::new();
    for key in keys {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail.
        let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(key) else {
            continue;
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("v1,");
        out.push_str(
            &base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()),
        );
    }
    out
}

/// `Retry-After` is either seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v.trim()).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Appends one line and syncs it before the job counts as delivered.
fn append_line(
    path: &PathBuf,
    file: &std::sync::Mutex<Option<std::fs::File>>,
    line: &str,
) -> Result<(), String> {
    let mut guard = file.lock().map_err(|_| "file lock poisoned".to_string())?;
    if guard.is_none() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        *guard = Some(f);
    }
    let Some(f) = guard.as_mut() else {
        return Err("file not open".into());
    };
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    let result = f.write_all(&bytes).and_then(|_| f.sync_data());
    if let Err(e) = result {
        // Reopen next time: the file may have been rotated or the disk fixed.
        *guard = None;
        return Err(format!("{}: {e}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks specification's published test vector.
    #[test]
    fn signature_matches_the_spec_vector() {
        use base64::Engine as _;
        let key = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        let sig = signature(
            std::slice::from_ref(&key),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        // Rotation: one signature per key, space-separated, new key first.
        let two = signature(
            &[b"another-key-of-16+".to_vec(), key],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            br#"{"test": 2432232314}"#,
        );
        let parts: Vec<_> = two.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(parts[0].starts_with("v1,") && parts[0] != parts[1]);
    }
}
