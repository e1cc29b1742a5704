//! The seam through which a network face reports each request it served:
//! a one-method trait the TCP server calls and the admin face implements
//! (as a Prometheus histogram). A leaf so that the server can depend on it
//! without knowing the admin face, and the admin face without the server.

/// Receives one observation per request a face has served.
///
/// Implementations must be cheap and non-blocking: the server calls this on
/// its request path, once per request.
pub trait RequestObserver: Send + Sync {
    /// Records that a request to `api` took `seconds` and whether it failed.
    fn observe(&self, api: &'static str, seconds: f64, error: bool);
}

/// An observer that drops every observation, for a server run without metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl RequestObserver for NoopObserver {
    fn observe(&self, _api: &'static str, _seconds: f64, _error: bool) {}
}
