//! The load generator: `CONNECTIONS` HTTP/1.1 connections sending prepared
//! requests and timing each response. It reconnects whenever a server
//! closes the connection (gunicorn's sync workers and Flask's dev server
//! answer one request per connection); the reconnect counts in the latency
//! of the request that needed it, as it would for a provider.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{CONNECTIONS, phase};

/// Prepared requests: request `i` is `parts[i].0 ++ pad ++ parts[i].1`.
/// Large bodies share one padding, so 250k unique 32 KB requests need
/// ~100 MB, not 8 GB; the copy into one buffer costs ~1 µs per request.
pub(crate) struct Reqs {
    parts: Vec<(Vec<u8>, Vec<u8>)>,
    pad: Vec<u8>,
}

impl Reqs {
    pub(crate) fn plain(reqs: Vec<Vec<u8>>) -> Self {
        Self::padded(
            reqs.into_iter().map(|r| (r, Vec::new())).collect(),
            Vec::new(),
        )
    }

    pub(crate) fn padded(parts: Vec<(Vec<u8>, Vec<u8>)>, pad: Vec<u8>) -> Self {
        Self { parts, pad }
    }

    pub(crate) fn len(&self) -> usize {
        self.parts.len()
    }

    /// Request `i` (borrowed when it has no padding).
    pub(crate) fn get(&self, i: usize) -> Option<Cow<'_, [u8]>> {
        let (head, tail) = self.parts.get(i)?;
        if self.pad.is_empty() && tail.is_empty() {
            return Some(Cow::Borrowed(head));
        }
        let mut out = Vec::with_capacity(head.len() + self.pad.len() + tail.len());
        out.extend_from_slice(head);
        out.extend_from_slice(&self.pad);
        out.extend_from_slice(tail);
        Some(Cow::Owned(out))
    }
}

pub(crate) struct Run {
    pub(crate) ok: usize,
    pub(crate) errors: usize,
    latencies_us: Vec<u64>,
    pub(crate) elapsed: Duration,
}

impl Run {
    pub(crate) fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// Runs driven side by side (one per router) as one.
    pub(crate) fn merge(runs: Vec<Run>) -> Run {
        let mut out = Run {
            ok: 0,
            errors: 0,
            latencies_us: Vec::new(),
            elapsed: Duration::ZERO,
        };
        for r in runs {
            out.ok += r.ok;
            out.errors += r.errors;
            out.latencies_us.extend(r.latencies_us);
            out.elapsed = out.elapsed.max(r.elapsed);
        }
        out.latencies_us.sort_unstable();
        out
    }

    pub(crate) fn pct(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }

    pub(crate) fn line(&self, name: &str) -> String {
        format!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
            self.rate(),
            self.pct(0.5),
            self.pct(0.99),
            self.pct(0.999),
            self.errors
        )
    }
}

/// Drives `addr` for one [`phase`] (see [`load_for`]).
pub(crate) async fn load(addr: SocketAddr, reqs: Arc<Reqs>, rate: Option<f64>) -> Run {
    load_for(addr, reqs, rate, phase()).await
}

/// Drives `addr` for `phase`. With `rate`, each connection sends on a fixed
/// schedule, and latency counts from the scheduled time when a late answer
/// held the connection past it (no coordinated omission), else from when
/// the timer fired; without, each sends its next request as soon as it is
/// answered.
pub(crate) async fn load_for(
    addr: SocketAddr,
    reqs: Arc<Reqs>,
    rate: Option<f64>,
    phase: Duration,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + phase;
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let (reqs, next) = (reqs.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let (mut ok, mut errors) = (0, 0);
            let mut conn: Option<TcpStream> = None;
            let interval = rate.map(|r| Duration::from_secs_f64(CONNECTIONS as f64 / r));
            let mut due = start
                + interval
                    .map(|i| i.mul_f64(c as f64 / CONNECTIONS as f64))
                    .unwrap_or_default();
            let mut buf = vec![0u8; 64 << 10];
            loop {
                let sent = match interval {
                    Some(i) => {
                        // Late because the server answered the previous
                        // request late: count from the scheduled time (no
                        // coordinated omission). On time: count from when
                        // the timer fired, as tokio's timer wakes up to
                        // 1 ms late, which is not the server's doing.
                        let sent = if Instant::now() >= due {
                            due
                        } else {
                            tokio::time::sleep_until(due.into()).await;
                            Instant::now()
                        };
                        due += i;
                        sent
                    }
                    None => Instant::now(),
                };
                if sent >= deadline {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(req) = reqs.get(i % reqs.len().max(1)) else {
                    break;
                };
                if conn.is_none() {
                    match TcpStream::connect(addr).await {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            conn = Some(s);
                        }
                        Err(_) => {
                            // Refused (a full backlog): retry shortly.
                            errors += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                }
                let Some(s) = conn.as_mut() else { continue };
                if s.write_all(&req).await.is_err() {
                    errors += 1;
                    conn = None;
                    continue;
                }
                match read_reply(s, &mut buf).await {
                    Some(reply) => {
                        if reply.status == 200 {
                            ok += 1;
                            lat.push(sent.elapsed().as_micros() as u64);
                        } else {
                            errors += 1;
                        }
                        if reply.close {
                            conn = None;
                        }
                    }
                    None => {
                        errors += 1;
                        conn = None;
                    }
                }
            }
            (lat, ok, errors)
        }));
    }
    let mut run = Run {
        ok: 0,
        errors: 0,
        latencies_us: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        if let Ok((lat, ok, errors)) = t.await {
            run.latencies_us.extend(lat);
            run.ok += ok;
            run.errors += errors;
        }
    }
    run.elapsed = start.elapsed().min(phase).max(Duration::from_millis(1));
    run.latencies_us.sort_unstable();
    run
}

/// One response: its status, and whether the server closes the connection
/// after it.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) close: bool,
}

/// Reads one HTTP/1.1 response with a Content-Length body; its status.
pub(crate) async fn read_response(s: &mut TcpStream, buf: &mut [u8]) -> Option<u16> {
    read_reply(s, buf).await.map(|r| r.status)
}

/// Reads one response (Content-Length or chunked body, not pipelined).
pub(crate) async fn read_reply(s: &mut TcpStream, buf: &mut [u8]) -> Option<Reply> {
    let mut filled = 0;
    let end = loop {
        let n = s.read(&mut buf[filled..]).await.ok()?;
        if n == 0 {
            return None;
        }
        filled += n;
        if let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if filled == buf.len() {
            return None;
        }
    };
    let head = std::str::from_utf8(&buf[..end]).ok()?.to_ascii_lowercase();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let header = |name: &str| {
        head.lines()
            .skip(1)
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim() == name))
            .map(|(_, v)| v.trim().to_owned())
    };
    let connection = header("connection").unwrap_or_default();
    // HTTP/1.0 closes unless told otherwise; 1.1 keeps unless told to close.
    let close = if head.starts_with("http/1.0") {
        connection != "keep-alive"
    } else {
        connection == "close"
    };
    let body_start = end + 4;
    if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        // Small bodies only: read until the last chunk's terminator.
        while !buf[body_start..filled].ends_with(b"0\r\n\r\n") {
            let n = s.read(&mut buf[filled..]).await.ok()?;
            if n == 0 || filled + n == buf.len() {
                return None;
            }
            filled += n;
        }
    } else {
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while filled < body_start + len {
            let n = s.read(&mut buf[filled..]).await.ok()?;
            if n == 0 {
                return None;
            }
            filled += n;
        }
    }
    Some(Reply { status, close })
}

/// Sends one request on a fresh connection; the status (a sanity check
/// before a phase, so a misconfigured server fails loudly, not as a fast
/// stream of errors).
pub(crate) async fn probe(addr: SocketAddr, req: &[u8]) -> anyhow::Result<u16> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(req).await?;
    let mut buf = vec![0u8; 64 << 10];
    read_reply(&mut s, &mut buf)
        .await
        .map(|r| r.status)
        .ok_or_else(|| anyhow::anyhow!("no response from {addr}"))
}
