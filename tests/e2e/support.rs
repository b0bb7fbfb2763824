//! Test support: start the real `switchboard` binary on 127.0.0.1:0 with
//! the real `.wasm` plugins, send real-format fixtures to it byte for byte,
//! and run a local destination that records what it receives.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use switchboard_plugin_sdk::fixture::Fixture;

mod sink;
pub use sink::*;

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
/// `switchboard check [flags] --config CONFIG`, run to the end.
pub fn check_config(config: &Path, flags: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("check")
        .args(flags)
        .arg("--config")
        .arg(config)
        .output()
        .expect("switchboard check")
}

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

/// The shipped `config.toml` as is, but for its plugin directory (made
/// absolute) and the tests' shared compile cache.
pub fn default_config() -> String {
    std::fs::read_to_string(root().join("config.toml"))
        .unwrap()
        .replace(
            "plugin_dir = \"dist/plugins\"",
            &format!(
                "plugin_dir = \"{}\"\ncache_dir = \"{}\"",
                root().join("dist/plugins").display(),
                root().join("target/e2e-plugin-cache").display()
            ),
        )
}

/// The listener and admin addresses a starting router prints on stdout
/// (`switchboard listening on http(s)://...`, then `switchboard admin on
/// ...`), sent once both are read.
pub fn announced(
    stdout: std::process::ChildStdout,
) -> std::sync::mpsc::Receiver<(SocketAddr, SocketAddr)> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut addr = None;
        let address = |line: &str, what: &str| {
            ["http", "https"].iter().find_map(|scheme| {
                line.strip_prefix(&format!("switchboard {what} on {scheme}://"))
                    .and_then(|a| a.parse::<SocketAddr>().ok())
            })
        };
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(a) = address(&line, "listening") {
                addr = Some(a);
            }
            if let (Some(admin), Some(addr)) = (address(&line, "admin"), addr) {
                let _ = tx.send((addr, admin));
            }
        }
    });
    rx
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
        let rx = announced(child.stdout.take().unwrap());
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

    /// A JSON request to the admin API: status and JSON answer.
    pub fn admin_send(
        &self,
        method: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let mut s = TcpStream::connect(self.admin).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let body = body.to_string();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            self.admin,
            body.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let reply = Reply::parse(&buf);
        let json = serde_json::from_str(&reply.body).unwrap_or(serde_json::Value::Null);
        (reply.status, json)
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
    pub fn parse(buf: &[u8]) -> Reply {
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
