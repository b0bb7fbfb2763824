//! https destinations: a delivery over TLS to a certificate the operator's
//! `ca_file` vouches for, and none without it (the public roots do not).
//! The certificates are the client's test ones (host/src/dispatch/testdata).

use std::net::{TcpListener as StdListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::support::*;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/dispatch/testdata")
}

/// Accepts TLS with the test CA's certificate for 127.0.0.1 and localhost.
fn tls(tcp: TcpStream) -> Option<Box<dyn Stream>> {
    static CONFIG: OnceLock<Arc<rustls::ServerConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let certs = vec![CertificateDer::from_pem_file(testdata().join("localhost.pem")).unwrap()];
        let key = PrivateKeyDer::from_pem_file(testdata().join("localhost.key")).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        Arc::new(config)
    });
    let conn = rustls::ServerConnection::new(config.clone()).ok()?;
    Some(Box::new(rustls::StreamOwned::new(conn, tcp)))
}

fn https_destination(sink: &Sink, ca_file: Option<&str>) -> String {
    let ca = ca_file.map_or(String::new(), |f| format!("ca_file = \"{f}\"\n"));
    format!(
        "[destinations.sink]\nkind = \"http\"\nurl = \"https://127.0.0.1:{}/hook\"\n\
         allow_addresses = [\"127.0.0.1\"]\ntimeout = \"2s\"\n{ca}\
         retry_schedule = [\"0s\", \"100ms\", \"10s\"]\n\n\
         [[routes]]\nname = \"all\"\nto = [\"sink\"]\n",
        sink.addr.port()
    )
}

#[test]
fn an_https_destination_is_reached_with_the_operators_ca() {
    let sink = Sink::serve(StdListener::bind("127.0.0.1:0").unwrap(), tls);
    let ca = testdata().join("ca.pem").display().to_string();
    let router = Router::start(&["mysmsgate"], &https_destination(&sink, Some(&ca)));
    assert_eq!(
        router.send(&mysmsgate_report("tls1", "delivered")).status,
        200
    );
    let got = sink.wait_for(1, Duration::from_secs(10));
    assert_eq!(got.len(), 1, "{}", router.log());
    assert_eq!(got[0].json["data"]["message_id"], "tls1");
    let host = got[0].headers.iter().find(|(k, _)| k == "host");
    assert_eq!(host.map(|(_, v)| v.clone()), Some(sink.addr.to_string()));
}

#[test]
fn an_https_destination_with_an_unknown_ca_gets_nothing() {
    let sink = Sink::serve(StdListener::bind("127.0.0.1:0").unwrap(), tls);
    let router = Router::start(&["mysmsgate"], &https_destination(&sink, None));
    assert_eq!(
        router.send(&mysmsgate_report("tls2", "delivered")).status,
        200
    );
    // Two attempts fail on the certificate; the job waits for the third.
    let deadline = Instant::now() + Duration::from_secs(10);
    let pending = loop {
        let p = router.cli_json(&["deliveries", "--pending"]);
        let tried = p[0]["attempts"].as_array().map_or(0, Vec::len);
        if tried >= 2 || Instant::now() > deadline {
            break p;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let error = pending[0]["attempts"][0]["error"].as_str().unwrap_or("");
    assert!(error.contains("certificate"), "{pending:#}");
    assert_eq!(sink.count(), 0);
}
