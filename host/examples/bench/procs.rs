//! The servers under test, as child processes, and what they cost: CPU
//! time and peak RSS read from `/proc` for the process and its children
//! (gunicorn's workers), so every server is measured the same way.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::TOKEN;
use super::load::{Reqs, Run, load};

/// A child process and the address it serves; killed on drop.
pub(crate) struct Proc(pub(crate) Child, pub(crate) SocketAddr);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns a server that prints `... http://ADDR` on stdout once listening.
pub(crate) fn spawn(cmd: &mut Command) -> anyhow::Result<Proc> {
    use std::io::BufRead;
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let out = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = std::io::BufReader::new(out).lines();
    while let Some(line) = lines.next().transpose()? {
        if let Some((_, addr)) = line.split_once("http://") {
            let addr = addr.trim().parse()?;
            // Keep draining stdout so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines.by_ref() {});
            return Ok(Proc(child, addr));
        }
    }
    anyhow::bail!("process exited before listening")
}

/// Spawns a server told to listen on `port` (gunicorn logs its address on
/// stderr in its own format); ready once it accepts a connection.
pub(crate) fn spawn_on_port(cmd: &mut Command, port: u16) -> anyhow::Result<Proc> {
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut proc = Proc(child, addr);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(proc);
        }
        if let Some(status) = proc.0.try_wait()? {
            anyhow::bail!("exited with {status} before listening");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    anyhow::bail!("not listening on {addr} after 20 s")
}

/// A port nothing listens on right now.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A router directory: `plugins/` with the named plugins from
/// `dist/plugins`, and a config giving each its fixtures' settings (twilio
/// the bench's auth token), so every configured plugin must load or the
/// router refuses to start. With `sink`, every event is forwarded there
/// (`settings`: extra destination lines); without, events match no route.
pub(crate) fn router_dir(
    root: &Path,
    dir: &Path,
    plugins: &[&str],
    sink: Option<SocketAddr>,
    settings: &str,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("plugins"))?;
    let mut config = String::from(
        "[server]\npublic_url = \"https://hooks.example.com\"\n\
         [runtime]\nplugin_dir = \"plugins\"\ncache_dir = \"cache\"\n",
    );
    for p in plugins {
        std::fs::copy(
            root.join(format!("dist/plugins/{p}.wasm")),
            dir.join(format!("plugins/{p}.wasm")),
        )?;
        config.push_str(&format!("[plugins.{p}]\n"));
        if *p == "twilio" {
            config.push_str(&format!("auth_token = \"{TOKEN}\"\n"));
        } else {
            let fixture_config = root.join(format!("plugins/{p}/fixtures/config.toml"));
            config.push_str(&std::fs::read_to_string(fixture_config).unwrap_or_default());
            config.push('\n');
        }
    }
    if let Some(sink) = sink {
        config.push_str(&format!(
            "[destinations.sink]\nkind = \"http\"\nurl = \"http://{sink}/hook\"\nallow_http = true\n\
             allow_addresses = [\"127.0.0.1\"]\n{settings}\n\
             [[routes]]\nname = \"all\"\nto = [\"sink\"]\n"
        ));
    }
    std::fs::write(dir.join("config.toml"), config)?;
    Ok(())
}

/// The router on a directory made by [`router_dir`], with its store in
/// `data` (a fresh one each time, so a restart measures loading, not the
/// recovery of a big store).
pub(crate) fn router_cmd(root: &Path, dir: &Path, data: &str) -> Command {
    let mut cmd = Command::new(root.join("target/release/switchboard"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--config",
    ])
    .arg(dir.join("config.toml"))
    .arg("--data-dir")
    .arg(dir.join(data))
    .env("RUST_LOG", "warn");
    cmd
}

/// The router with the twilio plugin only (see [`router_dir`]).
pub(crate) fn router(
    root: &Path,
    dir: &Path,
    sink: Option<SocketAddr>,
    settings: &str,
) -> anyhow::Result<Proc> {
    router_dir(root, dir, &["twilio"], sink, settings)?;
    spawn(&mut router_cmd(root, dir, "data"))
}

// ---------------------------------------------------------------- costs

/// What a server used during a phase.
#[derive(Clone, Copy, Default)]
pub(crate) struct Usage {
    /// CPU seconds of the server (and its children) per wall second: 1.0 is
    /// one core busy.
    pub(crate) cores: f64,
    /// The load generator's own cores, for context: on 2 cores it competes.
    pub(crate) client_cores: f64,
    /// The rest of the machine's busy cores: the router's destination for
    /// the router, and anything foreign (another build on this shared
    /// machine: a row with much of it is not to be trusted).
    pub(crate) rest_cores: f64,
    /// Peak resident set during the phase (summed over processes), MB.
    pub(crate) peak_rss_mb: f64,
}

/// The process and its descendants.
pub(crate) fn tree(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    let parents: Vec<(u32, u32)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| Some((p, stat_field(p, 4)? as u32)))
        .collect();
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        out.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    out
}

/// Field `n` (1-based, as in proc(5)) of `/proc/PID/stat`.
fn stat_field(pid: u32, n: usize) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(n - 3)?.parse().ok()
}

/// Busy CPU seconds of the whole machine so far (all but idle and iowait).
fn machine_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let busy: u64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    busy as f64 / 100.0
}

/// CPU seconds (user + system) of these processes so far.
pub(crate) fn cpu_secs(pids: &[u32]) -> f64 {
    let ticks: u64 = pids
        .iter()
        .map(|p| stat_field(*p, 14).unwrap_or(0) + stat_field(*p, 15).unwrap_or(0))
        .sum();
    // /proc counts in USER_HZ, 100 on Linux whatever the kernel's HZ.
    ticks as f64 / 100.0
}

fn status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Current resident set of these processes, MB.
pub(crate) fn rss_mb(pids: &[u32]) -> f64 {
    pids.iter().map(|p| status_kb(*p, "VmRSS:")).sum::<u64>() as f64 / 1024.0
}

/// Peak resident set (VmHWM) since the last [`reset_peak`], MB.
pub(crate) fn peak_rss_mb(pids: &[u32]) -> f64 {
    pids.iter().map(|p| status_kb(*p, "VmHWM:")).sum::<u64>() as f64 / 1024.0
}

/// Resets VmHWM to the current RSS (proc(5), `clear_refs` value 5), so a
/// phase's peak is its own, not the process's lifetime peak.
pub(crate) fn reset_peak(pids: &[u32]) {
    for p in pids {
        let _ = std::fs::write(format!("/proc/{p}/clear_refs"), "5");
    }
}

/// Waits until the server is idle (CPU below 5 % over 200 ms), so a phase
/// does not pay for the previous one's backlog (deliveries still going out,
/// a store flush); gives up after 10 s. First writes back every dirty page
/// of the machine (`sync`): the previous phase's files would otherwise be
/// written during this one, slowing its fsyncs.
pub(crate) async fn settle(pid: u32) {
    let _ = std::process::Command::new("sync").status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let pids = tree(pid);
        let before = cpu_secs(&pids);
        tokio::time::sleep(Duration::from_millis(200)).await;
        // One or two 10 ms ticks: timers and the epoch ticker, not work.
        if cpu_secs(&pids) - before <= 0.02 {
            return;
        }
    }
}

/// One load phase against `proc` with what it cost.
pub(crate) async fn measure(proc: &Proc, reqs: Arc<Reqs>, rate: Option<f64>) -> (Run, Usage) {
    let pids = tree(proc.0.id());
    settle(proc.0.id()).await;
    reset_peak(&pids);
    let me = std::process::id();
    let (cpu0, me0, all0) = (cpu_secs(&pids), cpu_secs(&[me]), machine_busy_secs());
    let started = Instant::now();
    let run = load(proc.1, reqs, rate).await;
    let wall = started.elapsed().as_secs_f64();
    let cores = (cpu_secs(&pids) - cpu0) / wall;
    let client_cores = (cpu_secs(&[me]) - me0) / wall;
    let usage = Usage {
        cores,
        client_cores,
        rest_cores: ((machine_busy_secs() - all0) / wall - cores - client_cores).max(0.0),
        peak_rss_mb: peak_rss_mb(&pids),
    };
    (run, usage)
}
