//! zk-client sessions for ensemble tests: connecting to one member, and writes that ride out a
//! failover. They panic on failure (they are test steps) and bound every wait by `wait`.

use std::time::Duration;

use zk_client::{Client, CreateOptions, ErrorKind};

/// A session (30 s timeout) on `address` (one member, or a connect string).
pub async fn connect_member(address: &str, wait: Duration) -> Client {
    tokio::time::timeout(
        wait,
        Client::builder(address)
            .session_timeout(Duration::from_secs(30))
            .connect(),
    )
    .await
    .unwrap_or_else(|_| panic!("connecting to {address} timed out"))
    .unwrap_or_else(|e| panic!("connecting to {address}: {e}"))
}

/// Creates the persistent `path`, retrying through the connection losses of a failover until
/// `wait` has passed (a retry that finds the node created by an earlier, lost-reply attempt is
/// a success).
pub async fn create_retrying(client: &Client, path: &str, data: &[u8], wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match client
            .create(path, data, &CreateOptions::persistent())
            .await
        {
            Ok(_) => return,
            Err(e) if e == ErrorKind::NodeExists => return,
            Err(e)
                if matches!(e.kind(), ErrorKind::ConnectionLoss | ErrorKind::Timeout)
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("create {path}: {e}"),
        }
    }
}
