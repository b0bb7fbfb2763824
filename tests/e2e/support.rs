//! Test support: start the real `switchboard` binary on 127.0.0.1:0 with
//! the real `.wasm` plugins, send real-format fixtures to it byte for byte,
//! and run a local destination that records what it receives.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_plugin_sdk::fixture::Fixture;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fixture file of a provider plugin, e.g. `fixture("twilio", "status-delivered.http")`.
pub fn fixture(plugin: &str, name: &str) -> Fixture {
    Fixture::load(
        root()
            .join("plugins")
            .join(plugin)
            .join("fixtures")
            .join(name),
    )
    .unwrap()
}

/// A built plugin, shipped (`dist/plugins`) or test-only (`dist/test-plugins`).
pub fn wasm(name: &str) -> PathBuf {
    let dist = root().join("dist");
    let path = [dist.join("plugins"), dist.join("test-plugins")]
        .into_iter()
        .map(|d| d.join(format!("{name}.wasm")))
        .find(|p| p.exists());
    path.unwrap_or_else(|| {
        panic!("{name}.wasm not built: run `./dev test`, which builds the plugins first")
    })
}

/// A config for tests: the given plugins, public URL of the fixtures, and
/// `extra` TOML appended (destinations, routes, ...).
pub fn config(plugins: &[&str], extra: &str) -> String {
    let mut sections = String::new();
    if plugins.contains(&"twilio") {
        sections.push_str("[plugins.twilio]\nauth_token = \"fixture-auth-token\"\n");
    }
    if plugins.contains(&"mysmsgate") {
        sections.push_str("[plugins.mysmsgate]\nsecret = \"fixture-secret\"\n");
    }
    format!(
        "[server]\npublic_url = \"https://hooks.example.com\"\nheader_timeout = \"2s\"\nbody_timeout = \"2s\"\n\n\
         [runtime]\nplugin_dir = \"plugins\"\ncache_dir = \"{}\"\ntimeout = \"200ms\"\nmax_memory_mb = 16\n\n{sections}\n{extra}",
        root().join("target/e2e-plugin-cache").display()
    )
}

/// A running router process; killed when dropped.
pub struct Router {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// The admin API.
    pub admin: SocketAddr,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Router {
    /// Starts a router in a fresh directory holding the config and a
    /// plugin directory with the named plugins.
    pub fn start(plugins: &[&str], extra: &str) -> Router {
        Self::start_with_config(plugins, &config(plugins, extra))
    }

    /// Like `start`, with the whole config text given.
    pub fn start_with_config(plugins: &[&str], config_text: &str) -> Router {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        std::fs::create_dir_all(dir.join("plugins")).unwrap();
        for p in plugins {
            std::fs::copy(wasm(p), dir.join("plugins").join(format!("{p}.wasm"))).unwrap();
        }
        std::fs::write(dir.join("config.toml"), config_text).unwrap();
        let mut r = Router::spawn(&dir);
        r._tmp = Some(tmp);
        r
    }

    /// Starts (or restarts) a router on an existing directory.
    pub fn spawn(dir: &Path) -> Router {
        Self::spawn_with(dir, &[])
    }

    /// Like `spawn`, with extra `serve` arguments (e.g. `--log-format json`).
    pub fn spawn_with(dir: &Path, args: &[&str]) -> Router {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(args)
            .args(["serve", "--config"])
            .arg(dir.join("config.toml"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(dir.join("data"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut addr = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(a) = line.strip_prefix("switchboard listening on http://") {
                    addr = a.parse::<SocketAddr>().ok();
                }
                if let Some(a) = line.strip_prefix("switchboard admin on http://") {
                    let admin = a.parse::<SocketAddr>().unwrap();
                    let _ = tx.send((addr.unwrap(), admin));
                }
            }
        });
        let (addr, admin) = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "router did not start:\n{}",
                    std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
                );
            }
        };
        Router {
            child: Some(child),
            addr,
            admin,
            dir: dir.to_path_buf(),
            _tmp: None,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// Sends a fixture exactly as written (with a correct length).
    pub fn send(&self, fx: &Fixture) -> Reply {
        self.send_raw(&fx.to_http(&self.addr.to_string()))
    }

    /// Sends a plugin's fixture file; the reply status.
    pub fn post(&self, plugin: &str, name: &str) -> u16 {
        self.send(&fixture(plugin, name)).status
    }

    pub fn send_raw(&self, bytes: &[u8]) -> Reply {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(bytes).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        Reply::parse(&buf)
    }

    pub fn get(&self, path: &str) -> Reply {
        self.send_raw(
            format!(
                "GET {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
                self.addr
            )
            .as_bytes(),
        )
    }

    /// A request to the admin API; its reply.
    pub fn admin_call(&self, method: &str, path: &str) -> Reply {
        self.admin_call_with(method, path, &[])
    }

    /// A request to the admin API with extra headers; its reply.
    pub fn admin_call_with(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut s = TcpStream::connect(self.admin).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let extra: String = headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\n{extra}content-length: 0\r\nconnection: close\r\n\r\n",
            self.admin
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        Reply::parse(&buf)
    }

    /// Sends a signal (e.g. 1 for SIGHUP) to the router process.
    pub fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            send_signal(c.id(), sig);
        }
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        send_signal(c.id(), 15);
        c.wait().ok()?.code()
    }
}

fn send_signal(pid: u32, sig: i32) {
    Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
}

impl Drop for Router {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An HTTP reply, parsed just enough.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    fn parse(buf: &[u8]) -> Reply {
        let text = String::from_utf8_lossy(buf);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Reply {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

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

/// A MySMSGate delivery report for message `id`, signed with the fixture
/// secret: any number of distinct, valid callbacks.
pub fn mysmsgate_report(id: &str, status: &str) -> Fixture {
    use hmac::Mac as _;
    let body = format!(r#"{{"message_id":"{id}","to":"+61400000000","status":"{status}"}}"#);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"fixture-secret").unwrap();
    mac.update(body.as_bytes());
    let sig = hex::encode(mac.finalize().into_bytes());
    Fixture {
        method: "POST".into(),
        target: "/api/v1/mySmsGateCallback".into(),
        headers: vec![
            ("Host".into(), "hooks.example.com".into()),
            ("Content-Type".into(), "application/json".into()),
            ("X-Signature".into(), sig),
        ],
        body: body.into_bytes(),
    }
}

impl Router {
    /// Runs a `switchboard` CLI command against this router (its config and
    /// admin API); returns exit code, stdout and stderr.
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(args)
            .arg("--config")
            .arg(self.dir.join("config.toml"))
            .arg("--admin")
            .arg(format!("http://{}", self.admin))
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A CLI command's `--json` output, asserting success.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let (code, out, err) = self.cli(&all);
        assert_eq!(code, 0, "{args:?}: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }
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

/// A plugin's fixture files (`plugins/NAME/fixtures/*.http`), sorted.
pub fn fixtures(plugin: &str) -> Vec<PathBuf> {
    let dir = root().join("plugins").join(plugin).join("fixtures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "http"))
        .collect();
    files.sort();
    files
}
