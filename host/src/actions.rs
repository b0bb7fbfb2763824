//! After the commit: side effects a plugin asked for, performed by the
//! host once the callback is durable, and only where the operator allows
//! them (per mount, `[plugins.NAME.actions]`). Today: confirming an Amazon SNS subscription
//! by fetching its `SubscribeURL` (https, public addresses, no redirects).

use std::sync::Arc;
use std::time::Duration;

use crate::config::MountSettings;
use crate::guard::GuardedResolver;

/// A side effect a plugin asked for (the contract's `action`, converted by
/// the plugin stage).
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Fetch `url` to confirm a subscription to `topic` (Amazon SNS).
    ConfirmSubscription { url: String, topic: String },
}

pub fn perform(plugin: &str, settings: &MountSettings, capture: u64, actions: Vec<Action>) {
    let plugin = plugin.to_owned();
    for action in actions {
        match action {
            Action::ConfirmSubscription { url, topic } => {
                if !settings.confirm_subscriptions {
                    tracing::warn!(
                        plugin, capture, %topic,
                        "subscription confirmation not performed: disabled by `actions.confirm_subscriptions`"
                    );
                    continue;
                }
                let plugin = plugin.clone();
                tokio::spawn(async move {
                    match confirm(&url).await {
                        Ok(status) => {
                            tracing::info!(plugin, capture, %topic, status, "subscription confirmed")
                        }
                        Err(e) => {
                            tracing::error!(plugin, capture, %topic, "subscription confirmation failed: {e}")
                        }
                    }
                });
            }
        }
    }
}

/// GETs the confirmation URL; the HTTP status on success.
pub async fn confirm(url: &str) -> Result<u16, String> {
    confirm_with(url, Vec::new(), false).await
}

async fn confirm_with(
    url: &str,
    allow: Vec<ipnet::IpNet>,
    allow_http: bool,
) -> Result<u16, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("bad URL: {e}"))?;
    let scheme_ok = parsed.scheme() == "https" || (allow_http && parsed.scheme() == "http");
    if !scheme_ok || !parsed.username().is_empty() {
        return Err(format!("`{url}`: only plain https URLs are fetched"));
    }
    if let Some(ip) = parsed
        .host_str()
        .and_then(|h| h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().ok())
    {
        crate::guard::check(ip, &allow)?;
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(GuardedResolver::new(allow)))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .get(parsed)
        .send()
        .await
        .map_err(|e| crate::error::chain(&e))?;
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(format!("HTTP {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn confirmation_is_a_guarded_get() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 4096];
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        let url = format!("http://{addr}/?Action=ConfirmSubscription&Token=abc");
        // Refused by default: plain http and a loopback address.
        assert!(confirm(&url).await.is_err());
        let ok = confirm_with(&url, vec!["127.0.0.1/32".parse().unwrap()], true).await;
        assert_eq!(ok, Ok(200));
        let request = server.await.unwrap();
        assert!(
            request.starts_with("GET /?Action=ConfirmSubscription&Token=abc "),
            "{request}"
        );
    }
}
