//! The part of Tailscale's HTTP API govctl uses, on reqwest: an OAuth access token from the
//! client credentials grant, and creating, listing, reading and deleting auth keys.
//!
//! A [`Session`] is one OAuth client: it fetches an access token when first needed, keeps
//! it (tokens last an hour), and fetches a new one once when the API answers 401, since a
//! token can expire in the middle of a run. Reads and deletes are retried on 429, 5xx and
//! broken connections; creating a key never is, because a create whose answer was lost
//! may still have minted a key: the rotation finds such keys by their description instead
//! (see [`super::rotation`]). Errors carry Tailscale's `message`, with anything that looks
//! like a key redacted, and never a token or secret of ours.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::secret::{OAuthClientValue, Secret, redact};
use crate::error::{Error, Result};

/// Where Tailscale's API lives unless `--tailscale-api-url` says otherwise.
pub const DEFAULT_API_URL: &str = "https://api.tailscale.com";

const TIMEOUT: Duration = Duration::from_secs(30);
const ATTEMPTS: u32 = 3;
const FIRST_DELAY: Duration = Duration::from_millis(250);

/// The HTTP client and the API's base URL, shared by every session of a run.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    pub fn new(base: &str) -> Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("govctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Tailscale {
                action: "client setup",
                status: None,
                detail: innermost(&e),
            })?;
        Ok(Api {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// A session for one OAuth client; no request is made until one is needed.
    pub fn session(&self, client: OAuthClientValue) -> Session {
        Session {
            api: self.clone(),
            client,
            token: Mutex::new(None),
        }
    }
}

/// What a new key is made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRequest {
    pub tags: Vec<String>,
    pub reusable: bool,
    pub ephemeral: bool,
    pub preauthorized: bool,
    pub expiry_seconds: u64,
    pub description: String,
}

/// A key just made: the only time Tailscale shows the key itself.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub id: String,
    pub key: Secret,
    pub created: String,
    pub expires: String,
}

/// What Tailscale says about a key (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyInfo {
    pub id: String,
    pub created: Option<String>,
    pub expires: Option<String>,
    pub revoked: Option<String>,
    /// Revoked or expired.
    pub invalid: bool,
    pub description: Option<String>,
    pub tags: Vec<String>,
}

impl KeyInfo {
    /// Whether the key can still join devices.
    pub fn is_valid(&self) -> bool {
        !self.invalid && self.revoked.is_none()
    }
}

/// One OAuth client talking to the API.
#[derive(Debug)]
pub struct Session {
    api: Api,
    client: OAuthClientValue,
    token: Mutex<Option<Secret>>,
}

impl Session {
    pub fn client_id(&self) -> &str {
        &self.client.client_id
    }

    /// Creates an auth key in `tailnet`. Not retried: see the module documentation.
    pub async fn create_key(&self, tailnet: &str, request: &KeyRequest) -> Result<CreatedKey> {
        let body = json!({
            "capabilities": {"devices": {"create": {
                "reusable": request.reusable,
                "ephemeral": request.ephemeral,
                "preauthorized": request.preauthorized,
                "tags": request.tags,
            }}},
            "expirySeconds": request.expiry_seconds,
            "description": request.description,
        });
        let path = format!("/api/v2/tailnet/{tailnet}/keys");
        let action = "create key";
        let (_, answer) = self
            .send(action, Method::POST, &path, Some(&body), false)
            .await?;
        let answer = answer.ok_or_else(|| bad_answer(action, "an empty body"))?;
        let field = |name: &str| {
            answer
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| bad_answer(action, &format!("no string field {name}")))
        };
        Ok(CreatedKey {
            id: field("id")?,
            key: Secret::new(field("key")?),
            created: field("created")?,
            expires: field("expires")?,
        })
    }

    /// What Tailscale says about key `id`; `None` when it does not know the key (404).
    pub async fn get_key(&self, tailnet: &str, id: &str) -> Result<Option<KeyInfo>> {
        let path = format!("/api/v2/tailnet/{tailnet}/keys/{id}");
        match self.send("get key", Method::GET, &path, None, true).await {
            Ok((_, Some(answer))) => Ok(Some(key_info(&answer))),
            Ok((_, None)) => Err(bad_answer("get key", "an empty body")),
            Err(Error::Tailscale {
                status: Some(404), ..
            }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Revokes key `id`; `false` when Tailscale does not know it (already gone).
    pub async fn delete_key(&self, tailnet: &str, id: &str) -> Result<bool> {
        let path = format!("/api/v2/tailnet/{tailnet}/keys/{id}");
        match self
            .send("delete key", Method::DELETE, &path, None, true)
            .await
        {
            Ok(_) => Ok(true),
            Err(Error::Tailscale {
                status: Some(404), ..
            }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// The tailnet's active keys.
    pub async fn list_keys(&self, tailnet: &str) -> Result<Vec<KeyInfo>> {
        let path = format!("/api/v2/tailnet/{tailnet}/keys");
        let (_, answer) = self
            .send("list keys", Method::GET, &path, None, true)
            .await?;
        let keys = answer
            .as_ref()
            .and_then(|a| a.get("keys"))
            .and_then(Value::as_array)
            .ok_or_else(|| bad_answer("list keys", "no keys list"))?;
        Ok(keys.iter().map(key_info).collect())
    }

    /// Sends an API request with the access token, fetching a new token once on 401.
    async fn send(
        &self,
        action: &'static str,
        method: Method,
        path: &str,
        body: Option<&Value>,
        retry: bool,
    ) -> Result<(StatusCode, Option<Value>)> {
        let url = format!("{}{path}", self.api.base);
        let mut renewed = false;
        loop {
            let token = self.token().await?;
            let build = || {
                let request = self
                    .api
                    .http
                    .request(method.clone(), &url)
                    .bearer_auth(token.expose());
                match body {
                    Some(body) => request.json(body),
                    None => request,
                }
            };
            match attempt(action, build, retry).await {
                Err(Error::Tailscale {
                    status: Some(401), ..
                }) if !renewed => {
                    tracing::debug!(action, "access token rejected; fetching a new one");
                    *self.token.lock().await = None;
                    renewed = true;
                }
                other => return other,
            }
        }
    }

    /// The cached access token, or a new one from the client credentials grant.
    async fn token(&self) -> Result<Secret> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref() {
            return Ok(token.clone());
        }
        let url = format!("{}/api/v2/oauth/token", self.api.base);
        let build = || {
            self.api.http.post(&url).form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.client.client_id.as_str()),
                ("client_secret", self.client.client_secret.expose()),
            ])
        };
        let action = "oauth token";
        let (_, answer) = attempt(action, build, true).await?;
        let token = answer
            .as_ref()
            .and_then(|a| a.get("access_token"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad_answer(action, "no access_token"))?;
        let token = Secret::new(token);
        *cached = Some(token.clone());
        tracing::debug!(client = %self.client.client_id, "fetched a Tailscale access token");
        Ok(token)
    }
}

/// One request, retried on 429, 5xx and broken connections when `retry` allows.
async fn attempt(
    action: &'static str,
    build: impl Fn() -> RequestBuilder,
    retry: bool,
) -> Result<(StatusCode, Option<Value>)> {
    let attempts = if retry { ATTEMPTS } else { 1 };
    let mut delay = FIRST_DELAY;
    let mut tried = 0;
    loop {
        tried += 1;
        let outcome = once(action, build()).await;
        let transient = match &outcome {
            Err(Error::Tailscale { status, .. }) => {
                status.is_none_or(|s| s == 429 || (500..600).contains(&s))
            }
            _ => false,
        };
        if !transient || tried >= attempts {
            return outcome.map_err(|e| gave_up(e, tried));
        }
        tracing::debug!(action, tried, "Tailscale API call failed; trying again");
        tokio::time::sleep(delay).await;
        delay *= 4;
    }
}

async fn once(
    action: &'static str,
    request: RequestBuilder,
) -> Result<(StatusCode, Option<Value>)> {
    let response = request.send().await.map_err(|e| Error::Tailscale {
        action,
        status: None,
        detail: innermost(&e),
    })?;
    let status = response.status();
    let text = response.text().await.map_err(|e| Error::Tailscale {
        action,
        status: Some(status.as_u16()),
        detail: innermost(&e),
    })?;
    let body: Option<Value> = if text.trim().is_empty() {
        None
    } else {
        serde_json::from_str(&text).ok()
    };
    if status.is_success() {
        if body.is_none() && !text.trim().is_empty() {
            return Err(bad_answer(action, "a body that is not JSON"));
        }
        return Ok((status, body));
    }
    let message = body
        .as_ref()
        .and_then(|b| b.get("message"))
        .and_then(Value::as_str)
        .map(redact)
        .unwrap_or_else(|| "no message".into());
    Err(Error::Tailscale {
        action,
        status: Some(status.as_u16()),
        detail: format!("HTTP {}: {message}", status.as_u16()),
    })
}

fn gave_up(error: Error, tried: u32) -> Error {
    match error {
        Error::Tailscale {
            action,
            status,
            detail,
        } if tried > 1 => Error::Tailscale {
            action,
            status,
            detail: format!("{detail} (gave up after {tried} attempts)"),
        },
        other => other,
    }
}

fn bad_answer(action: &'static str, what: &str) -> Error {
    Error::Tailscale {
        action,
        status: None,
        detail: format!("the answer makes no sense: {what}"),
    }
}

fn key_info(answer: &Value) -> KeyInfo {
    let text = |name: &str| answer.get(name).and_then(Value::as_str).map(str::to_string);
    let tags = answer
        .pointer("/capabilities/devices/create/tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    KeyInfo {
        id: text("id").unwrap_or_default(),
        created: text("created"),
        expires: text("expires"),
        revoked: text("revoked"),
        invalid: answer
            .get("invalid")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        description: text("description"),
        tags,
    }
}

/// The deepest cause, which for connection failures is the useful part; reqwest's messages
/// name the URL (base, tailnet and key ID: nothing secret).
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    redact(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_info_reads_the_documented_fields() {
        let info = key_info(&json!({
            "id": "k1", "created": "2022-05-05T18:55:44Z", "expires": "2022-08-03T18:55:44Z",
            "revoked": "2023-04-01T20:50:00Z", "invalid": true,
            "capabilities": {"devices": {"create": {"tags": ["tag:a", "tag:b"]}}},
            "description": "govctl x"
        }));
        assert_eq!(info.tags, ["tag:a", "tag:b"]);
        assert!(info.invalid && !info.is_valid());
        assert_eq!(info.revoked.as_deref(), Some("2023-04-01T20:50:00Z"));
        assert!(key_info(&json!({"id": "k2"})).is_valid());
    }
}
