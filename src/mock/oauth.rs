//! The token endpoint, `POST /oauth/token` (ZOOM.md section 3): Basic auth,
//! form parameters, Zoom's success and error bodies, failure injection.

use std::time::Instant;

use base64::Engine as _;

use super::observe::TokenRequest;
use super::server::{form_decode, Request, Response};
use super::state::Shared;

pub(crate) const PATH: &str = "/oauth/token";

/// The `scope` of issued tokens: the emulator checks none.
const SCOPE: &str = "websockets:read:admin";

pub(crate) fn handle(shared: &Shared, req: &Request, body: &[u8]) -> Response {
    let body_params = form_decode(&String::from_utf8_lossy(body));
    let query_params = form_decode(&req.query);
    // The body is what Zoom documents and clients should use; the query is
    // accepted too (also documented), and the request records which it was.
    let params_in_query = !query_params.is_empty() && body_params.is_empty();
    let params = if params_in_query {
        query_params
    } else {
        body_params
    };
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let grant_type = param("grant_type").unwrap_or_default();
    let account_id = param("account_id");
    let basic = req.header("authorization").and_then(basic_credentials);
    let config = &shared.config;

    let mut record = TokenRequest {
        grant_type: grant_type.clone(),
        account_id: account_id.clone(),
        client_id: basic.as_ref().map(|(id, _)| id.clone()),
        params_in_query,
        status: 0,
        at: Instant::now(),
    };

    shared.update(|s| {
        let response = if let Some(failure) = take_failure(&mut s.token_failures) {
            let mut r = match &failure.body {
                Some(body) => Response::json(failure.status, body.clone()),
                None => default_failure(failure.status),
            };
            if let Some(d) = failure.retry_after {
                r.headers.push(("Retry-After", d.as_secs().to_string()));
            }
            r
        } else if !matches!(&basic, Some((id, secret))
            if *id == config.client_id && secret == config.client_secret.expose())
        {
            Response::error(401, "invalid_client", "Invalid client_id or client_secret")
        } else {
            match grant_type.as_str() {
                "account_credentials" => match account_id.as_deref() {
                    None | Some("") => Response::error(
                        400,
                        "invalid_request",
                        "Missing required parameter: account_id",
                    ),
                    // Zoom's answer to a wrong account id is unverified.
                    Some(a) if a != config.account_id => {
                        Response::error(400, "invalid_request", "Invalid account_id")
                    }
                    Some(_) => issue(s, shared),
                },
                "client_credentials" => issue(s, shared),
                _ => Response::error(400, "unsupported_grant_type", "unsupported grant type"),
            }
        };
        record.status = response.status;
        log::debug!(
            "zoom mock: token request (grant {:?}) answered {}",
            record.grant_type,
            response.status
        );
        s.token_requests.push(record);
        response
    })
}

fn issue(s: &mut super::state::State, shared: &Shared) -> Response {
    let (token, lifetime) = s.issue_token();
    let body = serde_json::json!({
        "access_token": token.expose(),
        "token_type": "bearer",
        "expires_in": lifetime.as_secs(),
        "scope": SCOPE,
        "api_url": super::api_base(shared),
    });
    Response::json(200, body.to_string())
}

fn take_failure(failures: &mut Option<(u32, super::TokenFailure)>) -> Option<super::TokenFailure> {
    let (left, failure) = failures.as_mut()?;
    let failure = (*left > 0).then(|| failure.clone());
    *left = left.saturating_sub(1);
    if *left == 0 {
        *failures = None;
    }
    failure
}

/// A Zoom-style error body that fits `status`.
fn default_failure(status: u16) -> Response {
    match status {
        400 => Response::error(400, "invalid_request", "Bad request"),
        401 => Response::error(401, "invalid_client", "Invalid client_id or client_secret"),
        429 => Response::error(429, "too_many_requests", "Too many requests"),
        s if s >= 500 => Response::error(s, "server_error", "Internal server error"),
        s => Response::error(s, "mock_failure", "Injected failure"),
    }
}

/// `(client_id, client_secret)` from `Basic base64(id:secret)`.
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header() {
        let h = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("id:se:cret")
        );
        assert_eq!(basic_credentials(&h), Some(("id".into(), "se:cret".into())));
        assert_eq!(basic_credentials("Bearer x"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
    }
}
