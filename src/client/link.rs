//! A connection that can be re-dialled: the current [`Client`], replaced
//! by a new connection to the same address when it drops. Reconnects are
//! serialised, so tasks that see the same drop at once dial only once.
//! Knows the [`Client`] only.

use super::connection::Client;
use super::error::ClientError;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// First pause between connection attempts; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(20);
/// Longest pause between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The current connection to one address, and how to replace it.
#[derive(Debug)]
pub(super) struct Link {
    current: Mutex<Client>,
    dialing: tokio::sync::Mutex<()>,
    /// Longest one reconnect keeps trying.
    window: Duration,
}

impl Link {
    /// Starts with `client`; a reconnect keeps dialling for at most `window`.
    pub(super) fn new(client: Client, window: Duration) -> Link {
        Link {
            current: Mutex::new(client),
            dialing: tokio::sync::Mutex::new(()),
            window,
        }
    }

    /// The connection in use.
    pub(super) fn client(&self) -> Client {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A live connection: the current one if it is still open (another
    /// task reconnected already), else a new one to the same address with
    /// the same settings, dialled with exponential backoff for at most the
    /// link's window.
    ///
    /// # Errors
    /// The last connection error once the window has passed, or a
    /// non-retriable one at once.
    pub(super) async fn reconnect(&self) -> Result<Client, ClientError> {
        let _dialing = self.dialing.lock().await;
        let old = self.client();
        if !old.is_closed() {
            return Ok(old);
        }
        let deadline = Instant::now() + self.window;
        let mut backoff = FIRST_BACKOFF;
        loop {
            match Client::connect_with(old.addr(), old.config().clone()).await {
                Ok(client) => {
                    *self.current.lock().unwrap_or_else(PoisonError::into_inner) = client.clone();
                    tracing::debug!(addr = old.addr(), "reconnected");
                    return Ok(client);
                }
                Err(e) if e.is_retriable() && Instant::now() + backoff < deadline => {
                    tracing::debug!(addr = old.addr(), error = %e, ?backoff, "reconnect failed; retrying");
                    // A client-side back-off, not a broker timer: real time is right here.
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => return Err(e),
            }
        }
    }
}
