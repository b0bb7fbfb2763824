//! The `fetch-certificate` host import: providers that sign with a
//! certificate they host (Amazon SNS) name its URL in every message. The
//! plugin validates the URL against the provider's rules; the host fetches
//! it once (https only, public addresses only, no redirects, bounded size
//! and time) and caches it for the life of the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::guard::GuardedResolver;

const MAX_BYTES: usize = 64 << 10;
const TIMEOUT: Duration = Duration::from_secs(5);
/// Certificates rotate rarely; a bound keeps a hostile plugin from growing
/// the cache without limit.
const MAX_CACHED: usize = 256;

fn cache() -> &'static Mutex<HashMap<String, Arc<str>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<str>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The PEM text at `url`, from the cache or fetched now (blocking: called
/// from a plugin call on an executor thread, never on the async runtime).
pub fn fetch(url: &str) -> Result<String, String> {
    if let Some(pem) = cache().lock().unwrap_or_else(|p| p.into_inner()).get(url) {
        return Ok(pem.to_string());
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("bad URL `{url}`: {e}"))?;
    if parsed.scheme() != "https" || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("`{url}`: only plain https URLs are fetched"));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("fetch runtime: {e}"))?;
    let pem = rt.block_on(download(parsed))?;
    let mut c = cache().lock().unwrap_or_else(|p| p.into_inner());
    if c.len() >= MAX_CACHED {
        c.clear();
    }
    c.insert(url.to_owned(), Arc::from(pem.as_str()));
    tracing::info!(url, "signing certificate fetched and cached");
    Ok(pem)
}

async fn download(url: reqwest::Url) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(GuardedResolver::new(Vec::new())))
        .build()
        .map_err(|e| e.to_string())?;
    let mut resp = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| format!("{url}: {}", crate::error::chain(&e)))?;
    if !resp.status().is_success() {
        return Err(format!("{url}: HTTP {}", resp.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("{url}: {e}"))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BYTES {
            return Err(format!("{url}: larger than {MAX_BYTES} bytes"));
        }
    }
    let text = String::from_utf8(body).map_err(|_| format!("{url}: not text"))?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!("{url}: not a PEM certificate"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_without_userinfo_is_fetched() {
        for url in [
            "http://sns.us-east-1.amazonaws.com/cert.pem",
            "https://user:pw@sns.us-east-1.amazonaws.com/cert.pem",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(fetch(url).is_err(), "{url}");
        }
    }

    #[test]
    fn private_addresses_are_refused_after_resolution() {
        let err = fetch("https://localhost:1/cert.pem").unwrap_err();
        assert!(err.contains("loopback"), "{err}");
    }
}
