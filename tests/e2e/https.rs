//! HTTPS on the ingress listener (`[server.tls]`), with a CA and
//! certificates this test makes with `openssl`: a signed Twilio callback to
//! an `https://` URL is accepted (with and without `:443`), a certificate
//! replaced on disk is served to new connections while an open one goes
//! on, and a key that does not fit its certificate stops start-up.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::support::*;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (the tests make their certificates with it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, and `names` leaf certificates for localhost / 127.0.0.1 signed by
/// it (`NAME.pem`, `NAME.key`).
fn make_certs(dir: &Path, names: &[&str]) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Switchboard test CA",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext");
    for name in names {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN=localhost {name}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }
}

fn client(ca: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).expect("ca.pem"))
        .expect("a CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection to the router, trusting the test CA only.
fn connect(router: &Router, ca: &Path) -> Tls {
    connect_to(router.addr, ca)
}

fn connect_to(addr: std::net::SocketAddr, ca: &Path) -> Tls {
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let name = ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(client(ca), name).expect("client");
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.flush().expect("handshake");
    tls
}

/// The common name of the certificate the connection was served.
fn served_cn(tls: &Tls) -> String {
    let cert = &tls.conn.peer_certificates().expect("a certificate")[0];
    let text = String::from_utf8_lossy(cert.as_ref()).into_owned();
    ["localhost a", "localhost b"]
        .iter()
        .find(|cn| text.contains(*cn))
        .map_or_else(|| "?".into(), |cn| cn.to_string())
}

/// Sends one request on a kept-alive connection and reads one reply.
fn exchange(tls: &mut Tls, request: &[u8]) -> Reply {
    tls.write_all(request).expect("write");
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(tls.read(&mut byte).expect("read head"), 1, "closed early");
        buf.push(byte[0]);
    }
    let head = Reply::parse(&buf);
    let len: usize = head
        .header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    tls.read_exact(&mut body).expect("read body");
    buf.extend_from_slice(&body);
    Reply::parse(&buf)
}

/// A Twilio fixture as sent to `host`, on a connection that stays open.
fn twilio_request(name: &str, host: &str) -> Vec<u8> {
    let wire = fixture("twilio", name).to_http(host);
    let text = String::from_utf8(wire).expect("utf-8 fixture");
    text.replace("connection: close\r\n", "").into_bytes()
}

/// The header time is long: it is also how long hyper keeps an idle
/// connection, and the test holds one open across a certificate change.
fn tls_config(dir: &Path) -> String {
    format!(
        "[server]\nheader_timeout = \"30s\"\nbody_timeout = \"2s\"\ntls = {{ cert = \"tls/cert.pem\", key = \"tls/key.pem\" }}\n\n\
         [admin]\ntls = {{ cert = \"tls/cert.pem\", key = \"tls/key.pem\" }}\n\n\
         [runtime]\nplugin_dir = \"plugins\"\ncache_dir = \"{}\"\n\n\
         [plugins.twilio]\nauth_token = \"fixture-auth-token\"\n\n\
         [destinations.events]\nkind = \"file\"\npath = \"{}\"\n\n[[routes]]\nname = \"all\"\nto = [\"events\"]\n",
        root().join("target/e2e-plugin-cache").display(),
        dir.join("events.jsonl").display()
    )
}

#[test]
fn signed_callbacks_arrive_over_https_and_a_new_certificate_serves_new_connections() {
    let certs = tempfile::tempdir().expect("tmp");
    make_certs(certs.path(), &["a", "b"]);
    let ca = certs.path().join("ca.pem");
    let out = tempfile::tempdir().expect("tmp");
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("plugins")).expect("plugins");
    std::fs::create_dir_all(dir.join("tls")).expect("tls");
    std::fs::copy(wasm("twilio"), dir.join("plugins/twilio.wasm")).expect("wasm");
    std::fs::copy(certs.path().join("a.pem"), dir.join("tls/cert.pem")).expect("cert");
    std::fs::copy(certs.path().join("a.key"), dir.join("tls/key.pem")).expect("key");
    std::fs::write(dir.join("config.toml"), tls_config(out.path())).expect("config");
    let router = Router::spawn(dir);

    // The admin listener speaks TLS too, with the same pair.
    let mut admin = connect_to(router.admin, &ca);
    assert_eq!(served_cn(&admin), "localhost a");
    let reply = exchange(
        &mut admin,
        b"GET /healthz HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\n\r\n",
    );
    assert_eq!(reply.status, 200, "{}", reply.body);

    // Twilio signs the URL it called: https, without and with `:443`.
    let mut open = connect(&router, &ca);
    assert_eq!(served_cn(&open), "localhost a");
    for (name, host) in [
        ("status-delivered.http", "hooks.example.com"),
        ("inbound-sms.http", "hooks.example.com:443"),
    ] {
        let reply = exchange(&mut open, &twilio_request(name, host));
        assert_eq!(
            reply.status,
            200,
            "{name} via {host}: {}\n{}",
            reply.body,
            router.log()
        );
    }
    let reply = exchange(
        &mut open,
        &twilio_request("inbound-mms.http", "hooks.example.com"),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(out.path().join("events.jsonl")).map_or(0, |t| t.lines().count())
        < 3
    {
        assert!(
            Instant::now() < deadline,
            "events never written: {}",
            router.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Replace the pair on disk (written aside, then moved in).
    for (from, to) in [("b.pem", "cert.pem"), ("b.key", "key.pem")] {
        std::fs::copy(certs.path().join(from), dir.join(format!("tls/{to}.new"))).expect("copy");
        std::fs::rename(
            dir.join(format!("tls/{to}.new")),
            dir.join(format!("tls/{to}")),
        )
        .expect("mv");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fresh = connect(&router, &ca);
        if served_cn(&fresh) == "localhost b" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "new certificate never served: {}",
            router.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        router.log().contains("TLS certificate reloaded"),
        "{}",
        router.log()
    );
    // The connection opened before goes on with its session.
    let reply = exchange(
        &mut open,
        &twilio_request("status-undelivered.http", "hooks.example.com"),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);

    // A pair that does not load is refused and the one in force stays.
    std::fs::write(dir.join("tls/cert.pem"), "not a certificate").expect("write");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !router.log().contains("TLS certificate not reloaded") {
        assert!(Instant::now() < deadline, "{}", router.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(served_cn(&connect(&router, &ca)), "localhost b");
}

#[test]
fn a_key_that_does_not_fit_its_certificate_stops_start_up_with_file_and_reason() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("tls")).expect("tls");
    make_certs(&dir.join("tls"), &["a", "b"]);
    std::fs::create_dir_all(dir.join("plugins")).expect("plugins");
    std::fs::copy(wasm("twilio"), dir.join("plugins/twilio.wasm")).expect("wasm");
    let config = tls_config(dir)
        .replace("tls/cert.pem", "tls/a.pem")
        .replace("tls/key.pem", "tls/b.key");
    std::fs::write(dir.join("config.toml"), &config).expect("config");
    for command in ["serve", "check"] {
        let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args([command, "--config"])
            .arg(dir.join("config.toml"))
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {err}");
        assert!(
            err.contains("server.tls.key") && err.contains("b.key") && err.contains("does not fit"),
            "{command}: {err}"
        );
    }
    // A missing file is named too.
    std::fs::write(
        dir.join("config.toml"),
        config.replace("tls/a.pem", "tls/none.pem"),
    )
    .expect("config");
    let out = check_config(&dir.join("config.toml"), &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("server.tls.cert") && err.contains("none.pem"),
        "{err}"
    );
}
