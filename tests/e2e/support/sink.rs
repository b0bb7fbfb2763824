//! The local HTTP destination the tests deliver to: it records every
//! request, answers what the test scripts, and can sit behind TLS.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request a destination received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub json: serde_json::Value,
    /// The body exactly as sent (what a signature covers).
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Every request a destination saw, whatever it answered.
#[derive(Debug, Clone)]
pub struct Hit {
    pub at: Instant,
    pub status: u16,
    pub event_id: String,
}

/// A scripted answer: status and optional `Retry-After`.
pub type Answer = (u16, Option<&'static str>);

/// A local HTTP destination. It answers `status` (200 unless changed).
pub struct Sink {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    /// What it answers; tests flip it to simulate an unhealthy destination.
    pub status: Arc<AtomicU16>,
    /// Answers used first, in order, before falling back to `status`.
    pub script: Arc<Mutex<std::collections::VecDeque<Answer>>>,
    pub hits: Arc<Mutex<Vec<Hit>>>,
    _thread: std::thread::JoinHandle<()>,
}

impl Sink {
    pub fn start() -> Sink {
        Self::start_on(StdListener::bind("127.0.0.1:0").unwrap())
    }

    /// A port nothing listens on yet (for "destination down").
    pub fn reserve_port() -> SocketAddr {
        StdListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    }

    pub fn start_on(listener: StdListener) -> Sink {
        Self::serve(listener, |tcp| Some(Box::new(tcp)))
    }

    /// A sink whose connections go through `wrap` (TLS, say) first; a
    /// connection it refuses (`None`) is dropped.
    pub fn serve(listener: StdListener, wrap: fn(TcpStream) -> Option<Box<dyn Stream>>) -> Sink {
        let addr = listener.local_addr().unwrap();
        let shared = SinkState {
            received: Arc::new(Mutex::new(Vec::new())),
            status: Arc::new(AtomicU16::new(200)),
            script: Arc::new(Mutex::new(Default::default())),
            hits: Arc::new(Mutex::new(Vec::new())),
        };
        let state = shared.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = state.clone();
                std::thread::spawn(move || {
                    if let Some(s) = wrap(stream) {
                        serve_one(s, &state)
                    }
                });
            }
        });
        Sink {
            addr,
            received: shared.received,
            status: shared.status,
            script: shared.script,
            hits: shared.hits,
            _thread: thread,
        }
    }

    /// Queues scripted answers.
    pub fn answer(&self, answers: &[Answer]) {
        self.script.lock().unwrap().extend(answers.iter().copied());
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits (bounded) until at least `n` requests were answered, whatever
    /// the answer.
    pub fn wait_for_hits(&self, n: usize, within: Duration) -> Vec<Hit> {
        let deadline = Instant::now() + within;
        while self.hits.lock().unwrap().len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.hits()
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    pub fn events(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits for `n` requests, then a little longer so that anything extra
    /// would have arrived too; the `data.state` of each (`-` if none).
    pub fn settled_states(&self, n: usize) -> Vec<String> {
        self.wait_for(n, Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(300));
        self.events()
            .iter()
            .map(|r| r.json["data"]["state"].as_str().unwrap_or("-").to_owned())
            .collect()
    }

    /// Waits (bounded) until at least `n` requests arrived.
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        while self.count() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.events()
    }
}

#[derive(Clone)]
struct SinkState {
    received: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
    script: Arc<Mutex<std::collections::VecDeque<Answer>>>,
    hits: Arc<Mutex<Vec<Hit>>>,
}

/// A sink's connection: TCP, or TLS over it.
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// Serves HTTP/1.1 keep-alive requests with a Content-Length body.
fn serve_one(stream: Box<dyn Stream>, state: &SinkState) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
                if k == "content-length" {
                    len = v.parse().unwrap_or(0);
                }
                headers.push((k, v));
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let scripted = state.script.lock().unwrap().pop_front();
        let (code, retry_after) = scripted.unwrap_or((state.status.load(Ordering::SeqCst), None));
        let event_id = headers
            .iter()
            .find(|(k, _)| k == "webhook-id")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        state.hits.lock().unwrap().push(Hit {
            at: Instant::now(),
            status: code,
            event_id,
        });
        if code == 200 {
            let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            state.received.lock().unwrap().push(Received {
                headers,
                json,
                body,
            });
        }
        let extra = retry_after.map_or(String::new(), |v| format!("retry-after: {v}\r\n"));
        let resp = format!("HTTP/1.1 {code} X\r\n{extra}content-length: 2\r\n\r\nok");
        let out = reader.get_mut();
        if out
            .write_all(resp.as_bytes())
            .and_then(|_| out.flush())
            .is_err()
        {
            return;
        }
    }
}

/// Destination + route TOML sending everything to `url`, with fast retries.
pub fn http_destination(url: &str) -> String {
    format!(
        "[destinations.sink]\nkind = \"http\"\nurl = \"{url}\"\nallow_http = true\nallow_addresses = [\"127.0.0.1\"]\ntimeout = \"2s\"\n\
         retry_schedule = [\"0s\", \"100ms\", \"200ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\"]\n\n\
         [[routes]]\nname = \"all\"\nto = [\"sink\"]\n"
    )
}

/// An HTTP destination named `sink` at `url` with `settings` (TOML lines),
/// allowed to reach 127.0.0.1, and a route sending everything to it.
pub fn sink_destination(url: &str, settings: &str) -> String {
    format!(
        "[destinations.sink]\nkind = \"http\"\nurl = \"{url}\"\nallow_http = true\n\
         allow_addresses = [\"127.0.0.1\"]\ntimeout = \"2s\"\n{settings}\n\n\
         [[routes]]\nname = \"all\"\nto = [\"sink\"]\n"
    )
}
