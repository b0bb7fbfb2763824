//! How one attempt reaches a destination: HTTP POST or a JSON Lines file.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::schedule::{Verdict, classify};
use crate::store::{Attempt, Job};
use crate::time::now_ms;

/// Bytes of a response body kept with an attempt.
const RESPONSE_HEAD: usize = 256;

/// One destination's transport.
pub enum Sender {
    Http {
        client: reqwest::Client,
        url: String,
        headers: Vec<(String, String)>,
    },
    File {
        path: PathBuf,
        file: Arc<std::sync::Mutex<Option<std::fs::File>>>,
    },
}

impl Sender {
    pub fn http(
        url: String,
        timeout: Duration,
        headers: Vec<(String, String)>,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // A redirect could point anywhere, including inside our network.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Switchboard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Sender::Http {
            client,
            url,
            headers,
        })
    }

    pub fn file(path: PathBuf) -> Self {
        Sender::File {
            path,
            file: Arc::new(std::sync::Mutex::new(None)),
        }
    }

    /// Makes one attempt and says what to do next.
    pub async fn attempt(&self, job: &Job) -> (Attempt, Verdict) {
        let start = Instant::now();
        let at = now_ms();
        let (status, error, response, verdict) = match self {
            Sender::Http {
                client,
                url,
                headers,
            } => http_attempt(client, url, headers, job).await,
            Sender::File { path, file } => {
                let (path, file, line) = (path.clone(), file.clone(), job.payload.clone());
                match tokio::task::spawn_blocking(move || append_line(&path, &file, &line)).await {
                    Ok(Ok(())) => (None, None, String::new(), Verdict::Delivered),
                    Ok(Err(e)) => (None, Some(e), String::new(), Verdict::Retry(None)),
                    Err(e) => (
                        None,
                        Some(e.to_string()),
                        String::new(),
                        Verdict::Retry(None),
                    ),
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
    client: &reqwest::Client,
    url: &str,
    headers: &[(String, String)],
    job: &Job,
) -> (Option<u16>, Option<String>, String, Verdict) {
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        // Same id on every retry, so receivers can deduplicate.
        .header("webhook-id", &job.event_id)
        .header("webhook-timestamp", (now_ms() / 1000).to_string())
        .body(job.payload.clone());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    match req.send().await {
        Err(e) => (
            None,
            Some(error_chain(&e)),
            String::new(),
            Verdict::Retry(None),
        ),
        Ok(resp) => {
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let head = read_head(resp).await;
            (Some(status), None, head, classify(status, retry_after))
        }
    }
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

async fn read_head(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < RESPONSE_HEAD {
        match resp.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            _ => break,
        }
    }
    buf.truncate(RESPONSE_HEAD);
    String::from_utf8_lossy(&buf).into_owned()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
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
