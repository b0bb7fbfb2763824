//! The Debian package (`./dev package`, cargo-deb): unpacked into a
//! temporary root, it holds the binary, the shipped plugins, the config (a
//! conffile) and the hardened unit; its own `switchboard check` passes on
//! its own config; it serves a signed Twilio callback end to end from the
//! unpacked files; and its unit passes `systemd-analyze verify` where that
//! runs.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchboard_plugin_sdk::fixture::Fixture;

use crate::support::*;

/// The test's Twilio fixtures are signed with this token for this URL.
const TWILIO_TOKEN: &str = "fixture-auth-token";
const PUBLIC_URL: &str = "https://hooks.example.com";

#[test]
fn the_debian_package_installs_checks_and_serves_a_signed_callback() {
    let deb = newest_deb();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    let control = tmp.path().join("DEBIAN");
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control));

    // Name and control data.
    let field = |name: &str| output(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(name));
    assert_eq!(field("Package"), "switchboard");
    // cargo-deb writes a semver pre-release `-beta.1` as `~beta.1`.
    let version = field("Version");
    assert_eq!(
        version.replace('~', "-"),
        env!("CARGO_PKG_VERSION"),
        "{}: not this version's package; run `./dev package`",
        deb.display()
    );
    assert_eq!(
        deb.file_name().unwrap().to_string_lossy(),
        format!("switchboard_{version}_{}.deb", field("Architecture"))
    );
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap_or_default();
    assert!(
        conffiles
            .lines()
            .any(|l| l.trim() == "/etc/switchboard/config.toml"),
        "conffiles: {conffiles:?}"
    );
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap_or_default();
    assert!(
        postinst.contains("deb-systemd-helper enable switchboard.service"),
        "the unit is not enabled on install; postinst:\n{postinst}"
    );

    // The files.
    let bin = root.join("usr/bin/switchboard");
    let mode = std::fs::metadata(&bin)
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()))
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "{} is not executable", bin.display());
    let plugin_dir = root.join("usr/lib/switchboard/plugins");
    let mut packaged: Vec<String> = std::fs::read_dir(&plugin_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", plugin_dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    packaged.sort();
    assert_eq!(packaged, shipped_plugins(), "plugins in the package");
    assert!(root.join("usr/share/doc/switchboard/README.md").is_file());
    let unit_path = ["usr/lib/systemd/system", "lib/systemd/system"]
        .iter()
        .map(|d| root.join(d).join("switchboard.service"))
        .find(|p| p.is_file())
        .expect("no switchboard.service under /usr/lib/systemd/system or /lib/systemd/system");
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    // The unit: hardened, what it runs is in the package, and systemd
    // accepts it.
    check_unit(&unit, &root);
    verify_unit(&unit, &root, tmp.path());

    // The packaged config points at the packaged plugins and the unit's
    // state directory; the copy points the same into the temporary root.
    let packaged_config = root.join("etc/switchboard/config.toml");
    let text = std::fs::read_to_string(&packaged_config).unwrap();
    let mut config: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", packaged_config.display()));
    let state_dir = directive(&unit, "StateDirectory").expect("no StateDirectory= in the unit");
    let data_dir = format!("/var/lib/{state_dir}");
    assert_eq!(
        get(&config, "runtime", "plugin_dir").as_deref(),
        Some("/usr/lib/switchboard/plugins")
    );
    assert_eq!(get(&config, "store", "data_dir"), Some(data_dir.clone()));
    let in_root = |abs: &str| root.join(abs.trim_start_matches('/')).display().to_string();
    set(
        &mut config,
        "runtime",
        "plugin_dir",
        &in_root("/usr/lib/switchboard/plugins"),
    );
    set(&mut config, "store", "data_dir", &in_root(&data_dir));
    if let Some(cache) = get(&config, "runtime", "cache_dir") {
        assert!(
            cache.starts_with(&format!("{data_dir}/")),
            "runtime.cache_dir = {cache}"
        );
        set(&mut config, "runtime", "cache_dir", &in_root(&cache));
    }
    // The tests' shared compile cache instead: the Python and JavaScript
    // plugins take seconds each to compile, and the other tests have.
    set(
        &mut config,
        "runtime",
        "cache_dir",
        &crate::support::root()
            .join("target/e2e-plugin-cache")
            .display()
            .to_string(),
    );
    let mut events_file = None;
    let destinations = config
        .get_mut("destinations")
        .and_then(|d| d.as_table_mut())
        .expect("no [destinations] in the packaged config");
    for (name, d) in destinations.iter_mut() {
        let d = d.as_table_mut().unwrap();
        if d.get("kind").and_then(|k| k.as_str()) != Some("file") {
            continue;
        }
        let path = d["path"].as_str().unwrap().to_owned();
        assert!(
            path.starts_with(&format!("{data_dir}/")),
            "destinations.{name}.path = {path}: outside the state directory"
        );
        d.insert("path".into(), toml::Value::String(in_root(&path)));
        if events_file.is_none() {
            events_file = Some(PathBuf::from(in_root(&path)));
        }
    }
    let events_file = events_file.expect("no file destination in the packaged config");
    set(&mut config, "server", "listen", "127.0.0.1:0");
    set(&mut config, "server", "public_url", PUBLIC_URL);
    set(&mut config, "admin", "listen", "127.0.0.1:0");
    let copy = tmp.path().join("config.toml");
    std::fs::write(&copy, toml::to_string(&config).unwrap()).unwrap();
    // What systemd's StateDirectory= makes before the start.
    std::fs::create_dir_all(root.join(data_dir.trim_start_matches('/'))).unwrap();

    // `switchboard check` from the package, on its config.
    let out = Command::new(&bin)
        .args(["check", "--config"])
        .arg(&copy)
        .env("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "packaged `switchboard check` failed ({:?}):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Serve from the unpacked files: a signed callback is accepted and lands
    // in the events file; a forged one is refused.
    let mut served = Served::start(&bin, &copy, tmp.path());
    let fx = fixture("twilio", "status-delivered.http");
    let sid = form_value(&fx, "MessageSid");
    assert_eq!(served.send(&fx), 200, "{}", served.log());
    assert_eq!(
        served.send(&fixture("twilio", "reject-bad-signature.http")),
        403,
        "{}",
        served.log()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while !std::fs::read_to_string(&events_file)
        .unwrap_or_default()
        .contains(&sid)
    {
        assert!(
            Instant::now() < deadline,
            "no event {sid} in {}\n{}",
            events_file.display(),
            served.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The unit's ExecReload (SIGHUP) keeps it serving; its KillSignal
    // (SIGTERM) stops it cleanly within TimeoutStopSec.
    served.signal(1);
    assert_eq!(
        served.send(&fixture("twilio", "status-sent.http")),
        200,
        "{}",
        served.log()
    );
    assert_eq!(
        served.terminate(Duration::from_secs(30)),
        Some(0),
        "{}",
        served.log()
    );
}

/// The newest `switchboard_*.deb` in the target dir's `debian/`.
fn newest_deb() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_switchboard"));
    let dir = bin
        .parent()
        .and_then(Path::parent)
        .map(|t| t.join("debian"))
        .unwrap_or_else(|| root().join("target/debian"));
    let newest = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("switchboard_") && name.ends_with(".deb")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max();
    let Some((built, deb)) = newest else {
        panic!(
            "no switchboard_*.deb in {}: `./dev package` builds it (`./dev test` does, before the tests)",
            dir.display()
        );
    };
    if std::fs::metadata(bin)
        .and_then(|m| m.modified())
        .is_ok_and(|b| b > built)
    {
        eprintln!(
            "note: {} is older than {}: `./dev package` makes a current one",
            deb.display(),
            bin.display()
        );
    }
    deb
}

/// The plugins `./dev` ships: every provider plugin under plugins/, in
/// whichever language.
fn shipped_plugins() -> Vec<String> {
    crate::providers::provider_plugins()
        .into_iter()
        .map(|p| format!("{p}.wasm"))
        .collect()
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (dpkg-deb comes with dpkg)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn get(config: &toml::Table, section: &str, key: &str) -> Option<String> {
    config.get(section)?.get(key)?.as_str().map(str::to_owned)
}

fn set(config: &mut toml::Table, section: &str, key: &str, value: &str) {
    config
        .entry(section)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .unwrap_or_else(|| panic!("[{section}] is not a table"))
        .insert(key.to_owned(), toml::Value::String(value.to_owned()));
}

/// A field of a form-encoded fixture body, as written (no decoding needed
/// for the ids searched for).
fn form_value(fx: &Fixture, name: &str) -> String {
    let body = String::from_utf8_lossy(&fx.body).into_owned();
    body.split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")).map(str::to_owned))
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

/// The router started from the unpacked binary; killed when dropped.
struct Served {
    child: Option<Child>,
    addr: SocketAddr,
    stderr: PathBuf,
}

impl Served {
    fn start(bin: &Path, config: &Path, dir: &Path) -> Served {
        let stderr = dir.join("stderr.log");
        let mut child = Command::new(bin)
            .args(["serve", "--config"])
            .arg(config)
            .env("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let rx = announced(child.stdout.take().unwrap());
        let mut served = Served {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr,
        };
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok((addr, _admin)) => served.addr = addr,
            Err(_) => panic!("the packaged router did not start:\n{}", served.log()),
        }
        served
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends a fixture (Host: the listener; the signature is over
    /// `public_url`); the reply's status.
    fn send(&self, fx: &Fixture) -> u16 {
        let mut s = TcpStream::connect(self.addr)
            .unwrap_or_else(|e| panic!("connect {}: {e}\n{}", self.addr, self.log()));
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(&fx.to_http(&self.addr.to_string())).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf)
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            let ok = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(c.id().to_string())
                .status()
                .unwrap()
                .success();
            assert!(ok, "kill -{sig} {}", c.id());
        }
    }

    /// SIGTERM, then the exit code, or None if it is still running after
    /// `within` (then killed) or died of a signal.
    fn terminate(&mut self, within: Duration) -> Option<i32> {
        self.signal(15);
        let mut child = self.child.take()?;
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `Key=value` lines of a unit (comments and section headers skipped).
fn directives(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with(['#', ';', '[']))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The last value of a directive, if set and not empty.
fn directive(unit: &str, key: &str) -> Option<String> {
    directives(unit)
        .into_iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

fn check_unit(unit: &str, root: &Path) {
    let all = directives(unit);
    let has = |k: &str, v: &str| all.iter().any(|(a, b)| a == k && b == v);
    for (k, v) in [
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
    ] {
        assert!(has(k, v), "the unit lacks {k}={v}:\n{unit}");
    }
    assert!(
        has("DynamicUser", "yes") || directive(unit, "User").is_some_and(|u| u != "root"),
        "the unit runs as root (no DynamicUser=yes or User=):\n{unit}"
    );
    for k in ["StateDirectory", "ExecReload", "TimeoutStopSec"] {
        assert!(directive(unit, k).is_some(), "the unit lacks {k}=:\n{unit}");
    }
    assert!(
        directive(unit, "ExecReload").unwrap().contains("-HUP"),
        "ExecReload= does not send SIGHUP"
    );
    // wasmtime's JIT flips pages from writable to executable.
    assert!(
        !has("MemoryDenyWriteExecute", "yes"),
        "MemoryDenyWriteExecute=yes stops wasmtime from loading plugins"
    );
    let exec = directive(unit, "ExecStart").expect("no ExecStart=");
    assert_eq!(
        exec,
        "/usr/bin/switchboard serve --config /etc/switchboard/config.toml"
    );
    assert!(root.join("usr/bin/switchboard").is_file());
    assert!(root.join("etc/switchboard/config.toml").is_file());
}

/// `systemd-analyze verify` on a copy of the unit whose ExecStart is the
/// unpacked binary. Where it cannot run (no systemd-analyze, a container
/// it refuses), says so and returns; a complaint about the unit fails.
fn verify_unit(unit: &str, root: &Path, dir: &Path) {
    let copy_dir = dir.join("unit");
    std::fs::create_dir_all(&copy_dir).unwrap();
    let copy = copy_dir.join("switchboard.service");
    let bin = root.join("usr/bin/switchboard");
    std::fs::write(
        &copy,
        unit.replace("/usr/bin/switchboard", &bin.display().to_string()),
    )
    .unwrap();
    let out = match Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            eprintln!("note: systemd-analyze cannot run here ({e}): the unit is not verified");
            return;
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    // verify exits 0 on unknown keys and bad values, printing them with the
    // unit's name: any line about the unit is a failure.
    assert!(
        !text.contains("switchboard.service"),
        "systemd-analyze verify on the packaged unit:\n{text}"
    );
    if !out.status.success() {
        eprintln!(
            "note: systemd-analyze verify cannot run here (exit {:?}): {}",
            out.status.code(),
            text.trim()
        );
        return;
    }
    // For the log: the exposure score, where offline analysis works.
    if let Ok(sec) = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&copy)
        .output()
    {
        let sec = String::from_utf8_lossy(&sec.stdout);
        if let Some(line) = sec.lines().find(|l| l.contains("Overall exposure")) {
            eprintln!("systemd-analyze security: {}", line.trim());
        }
    }
}
