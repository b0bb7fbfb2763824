//! Scale-out: durable acks per second of one router on sled, then 1, 2 and
//! 3 routers sharing one `nats-server -js` (the JetStream store), all
//! forwarding to a local destination, in one run. Each instance gets its
//! own load generator (64 connections) with its own unique callbacks, as
//! behind a load balancer; the rates add up.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::load::{Run, load_for};
use super::procs::{Proc, cpu_secs, free_port, router_cmd, router_dir, settle, spawn, tree};
use super::reqs::twilio;
use super::{phase, unique};

/// A nats-server with JetStream on a fresh store directory; killed on drop.
struct NatsServer {
    proc: Proc,
    _dir: tempfile::TempDir,
}

fn nats_server() -> anyhow::Result<NatsServer> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let bin = ["/usr/sbin/nats-server", "nats-server"]
        .into_iter()
        .find(|b| !b.starts_with('/') || Path::new(b).exists())
        .unwrap_or("nats-server");
    let child = Command::new(bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("nats-server ({e}): `./dev bench` installs it"))?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let proc = Proc(child, addr);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(addr).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "nats-server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    // JetStream finishes starting just after the port opens.
    std::thread::sleep(Duration::from_millis(500));
    Ok(NatsServer { proc, _dir: dir })
}

struct Row {
    name: String,
    run: Run,
    /// Busy cores of the routers, and of nats-server.
    router_cores: f64,
    nats_cores: f64,
}

impl Row {
    fn line(&self, sled: f64) -> String {
        let r = &self.run;
        format!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            self.name,
            r.rate(),
            r.rate() / sled,
            r.pct(0.5),
            r.pct(0.99),
            self.router_cores,
            self.nats_cores,
            r.errors
        )
    }
}

/// Drives every router at once, each with its own requests; one merged run.
async fn drive(routers: &[Proc], nats: Option<&Proc>, batch: &str) -> Row {
    for r in routers {
        settle(r.0.id()).await;
    }
    let pids: Vec<u32> = routers.iter().flat_map(|r| tree(r.0.id())).collect();
    let nats_pids: Vec<u32> = nats.map(|n| vec![n.0.id()]).unwrap_or_default();
    let (cpu0, ncpu0) = (cpu_secs(&pids), cpu_secs(&nats_pids));
    let started = Instant::now();
    let runs = futures::future::join_all(routers.iter().enumerate().map(|(i, r)| {
        let reqs = Arc::new(twilio(unique(), &format!("{batch}-{i}"), 512));
        load_for(r.1, reqs, None, phase())
    }))
    .await;
    let wall = started.elapsed().as_secs_f64();
    Row {
        name: String::new(),
        run: Run::merge(runs),
        router_cores: (cpu_secs(&pids) - cpu0) / wall,
        nats_cores: (cpu_secs(&nats_pids) - ncpu0) / wall,
    }
}

pub(crate) async fn bench(root: &Path) -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    let sink = spawn(Command::new(&me).arg("bare"))?;
    let tmp = tempfile::tempdir()?;
    let mut rows = Vec::new();

    let dir = tmp.path().join("sled");
    router_dir(root, &dir, &["twilio"], Some(sink.1), "concurrency = 32")?;
    let sled = spawn(&mut router_cmd(root, &dir, "data"))?;
    let mut row = drive(std::slice::from_ref(&sled), None, "cl-sled").await;
    row.name = "1 router, sled (embedded)".into();
    rows.push(row);
    drop(sled);

    let nats = nats_server()?;
    for n in 1..=3 {
        // A prefix per row: each starts on empty streams.
        let store = format!(
            "\n[store]\nkind = \"jetstream\"\nservers = [\"nats://{}\"]\nprefix = \"bench{n}\"\n",
            nats.proc.1
        );
        let mut routers = Vec::new();
        for i in 0..n {
            let dir = tmp.path().join(format!("js{n}-{i}"));
            router_dir(root, &dir, &["twilio"], Some(sink.1), "concurrency = 32")?;
            let mut config = std::fs::read_to_string(dir.join("config.toml"))?;
            config.push_str(&store);
            std::fs::write(dir.join("config.toml"), config)?;
            routers.push(spawn(&mut router_cmd(root, &dir, "data"))?);
        }
        let mut row = drive(&routers, Some(&nats.proc), &format!("cl-js{n}")).await;
        row.name = format!(
            "{n} router{}, JetStream (one nats-server)",
            if n > 1 { "s" } else { "" }
        );
        rows.push(row);
    }

    let sled_rate = rows[0].run.rate();
    println!("## Scale-out: sled vs JetStream with 1, 2, 3 routers\n");
    println!(
        "Twilio callbacks of 512 B, durable and forwarded; 64 connections per router, {:?} per row.\n",
        phase()
    );
    println!("| setup | acks/s | × sled | p50 ms | p99 ms | router cores | nats cores | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!("{}", r.line(sled_rate));
    }
    println!();
    Ok(())
}
