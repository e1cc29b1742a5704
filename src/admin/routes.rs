//! Routing of admin requests: path and method in, a complete response out.
//! Thin by design: each endpoint is one read-only broker call mapped to a
//! JSON or text body; no business logic and no socket handling here.

use super::error::AdminError;
use super::json;
use super::metrics::RequestMetrics;
use crate::broker::{Broker, BrokerError};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Response, StatusCode};
use serde::Serialize;

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";
/// What prometheus-client's text encoder writes (it ends with `# EOF`).
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The endpoints, once the path is parsed.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Healthz,
    Readyz,
    Metrics,
    Topics,
    Topic(String),
    Groups,
    Group(String),
}

/// Answers one request. Never fails: errors become their JSON error answer.
pub(super) fn respond(
    broker: &Broker,
    requests: &RequestMetrics,
    method: &Method,
    path: &str,
) -> Response<Full<Bytes>> {
    match dispatch(broker, requests, method, path) {
        Ok(response) => response,
        Err(e) => error_response(&e),
    }
}

fn dispatch(
    broker: &Broker,
    requests: &RequestMetrics,
    method: &Method,
    path: &str,
) -> Result<Response<Full<Bytes>>, AdminError> {
    let route = parse(path).ok_or_else(|| AdminError::UnknownPath {
        path: path.to_owned(),
    })?;
    // HEAD is GET without the body (hyper drops it), so probes may use either.
    if method != Method::GET && method != Method::HEAD {
        return Err(AdminError::MethodNotAllowed {
            method: method.clone(),
        });
    }
    let reads_broker = matches!(
        route,
        Route::Topics | Route::Topic(_) | Route::Groups | Route::Group(_)
    );
    if reads_broker && !broker.is_open() {
        // A closed broker has let go of its topics and groups; say so
        // rather than answer empty lists or 404s that look like data.
        return Err(BrokerError::Closed.into());
    }
    match route {
        Route::Healthz => Ok(text(StatusCode::OK, "ok\n")),
        Route::Readyz if broker.is_open() => match requests.disk_watch().stuck() {
            None => Ok(text(StatusCode::OK, "ready\n")),
            // Requests that write hang; say why instead of looking healthy.
            Some(age) => Ok(response(
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT,
                format!(
                    "disk stuck: an operation has been running for {:.1} s\n",
                    age.as_secs_f64()
                )
                .into(),
            )),
        },
        Route::Readyz => Ok(text(StatusCode::SERVICE_UNAVAILABLE, "closed\n")),
        Route::Metrics => {
            let body = super::render_metrics(broker, requests)?;
            Ok(response(StatusCode::OK, OPENMETRICS, body.into()))
        }
        Route::Topics => {
            let topics = broker
                .list_topics(false)
                .iter()
                .filter_map(|name| match broker.describe_topic(name) {
                    Ok(d) => Some(Ok(json::TopicSummary::from(&d))),
                    // Deleted between the listing and the description.
                    Err(BrokerError::UnknownTopic { .. }) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            json_ok(&json::TopicList { topics })
        }
        Route::Topic(name) => json_ok(&json::Topic::from(broker.describe_topic(&name)?)),
        Route::Groups => {
            let groups = broker.list_groups().into_iter().map(Into::into).collect();
            json_ok(&json::GroupList { groups })
        }
        Route::Group(name) => json_ok(&json::Group::from(broker.describe_group(&name)?)),
    }
}

/// The route of `path` (without its query string), or `None` if unknown.
fn parse(path: &str) -> Option<Route> {
    let path = path.split('?').next().unwrap_or(path);
    match path {
        "/healthz" => return Some(Route::Healthz),
        "/readyz" => return Some(Route::Readyz),
        "/metrics" => return Some(Route::Metrics),
        "/v1/topics" => return Some(Route::Topics),
        "/v1/groups" => return Some(Route::Groups),
        _ => {}
    }
    let name = |prefix: &str| {
        path.strip_prefix(prefix)
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .and_then(percent_decode)
    };
    if let Some(name) = name("/v1/topics/") {
        return Some(Route::Topic(name));
    }
    name("/v1/groups/").map(Route::Group)
}

/// Decodes `%XX` escapes (group ids may hold any character); `None` for a
/// malformed escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn response(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    response(status, TEXT, Bytes::from_static(body.as_bytes()))
}

fn json_ok(value: &impl Serialize) -> Result<Response<Full<Bytes>>, AdminError> {
    let body = serde_json::to_vec(value).map_err(|source| AdminError::Json { source })?;
    Ok(response(StatusCode::OK, JSON, body.into()))
}

fn error_response(e: &AdminError) -> Response<Full<Bytes>> {
    let body = json::ErrorBody {
        error: e.code(),
        message: e.message(),
    };
    // Two plain fields cannot fail to encode; should it happen anyway, the
    // status stays right and the encoder's complaint becomes the body.
    let mut r = match serde_json::to_vec(&body) {
        Ok(bytes) => response(e.status(), JSON, bytes.into()),
        Err(encode) => response(e.status(), TEXT, encode.to_string().into()),
    };
    if let AdminError::MethodNotAllowed { .. } = e {
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::{Route, parse, percent_decode};

    #[test]
    fn paths_parse_to_routes_and_unknown_paths_to_none() {
        assert_eq!(parse("/healthz"), Some(Route::Healthz));
        assert_eq!(parse("/metrics?x=1"), Some(Route::Metrics));
        assert_eq!(
            parse("/v1/topics/orders"),
            Some(Route::Topic("orders".into()))
        );
        assert_eq!(parse("/v1/groups/a%20b"), Some(Route::Group("a b".into())));
        assert_eq!(parse("/v1/topics/"), None);
        assert_eq!(parse("/v1/topics/a/b"), None);
        assert_eq!(parse("/"), None);
    }

    #[test]
    fn percent_decoding_rejects_malformed_escapes_and_non_utf8() {
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
