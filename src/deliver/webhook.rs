//! Webhook sink: an HTTP POST signed with HMAC-SHA256.
//!
//! Headers: `Paywatch-Event-Id`, `Paywatch-Delivery-Id`, `Paywatch-Attempt`,
//! `Paywatch-Timestamp` (Unix seconds) and `Paywatch-Signature:
//! v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`. Any 2xx answer is
//! success. Redirects are not followed: a client following a 301 or 302
//! sends a GET without the body, and a 200 to that would count an event
//! nobody received as delivered. A 3xx is a failed attempt whose error
//! names the `Location` to configure instead.

use super::{EventView, SendError};
use crate::config::Secret;
use crate::store::Delivery;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;
use url::Url;

pub struct Webhook {
    url: Url,
    secret: Secret,
    timeout: Duration,
    client: reqwest::Client,
}

/// The `Paywatch-Signature` value for `body` sent at `timestamp`.
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    pub fn new(url: Url, secret: Secret, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("paywatch/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Webhook {
            url,
            secret,
            timeout,
            client,
        })
    }

    pub async fn send(
        &self,
        d: &Delivery,
        body: &[u8],
        event: &EventView<'_>,
    ) -> Result<(), SendError> {
        let timestamp = crate::clock::now_ms() / 1000;
        let response = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("paywatch-event-id", event.id.as_ref())
            .header("paywatch-delivery-id", &d.id)
            .header("paywatch-attempt", (d.attempts + 1).to_string())
            .header("paywatch-timestamp", timestamp.to_string())
            .header(
                "paywatch-signature",
                signature(self.secret.expose().as_bytes(), timestamp, body),
            )
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    SendError::Timeout(self.timeout)
                } else {
                    SendError::Unreachable(describe(&e))
                }
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or("nowhere");
            return Err(SendError::Redirected {
                url: self.url.clone(),
                status,
                location: location.to_string(),
            });
        }
        let text = response.text().await.unwrap_or_default();
        let text: String = text.chars().take(200).collect();
        Err(SendError::Refused {
            url: self.url.clone(),
            status,
            text: text.trim().to_string(),
        })
    }
}

fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec_0123456789abcdef'
        assert_eq!(
            signature(b"whsec_0123456789abcdef", 1_700_000_000, br#"{"a":1}"#),
            "v1=9f5e37cdc7ea587c7c02062d93283cad000d66a831b2a1676418696db47ed6c2"
        );
    }
}
