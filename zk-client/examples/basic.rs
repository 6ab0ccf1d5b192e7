//! Connects, creates an ephemeral node, watches it, changes it and closes.
//!
//! ```sh
//! cargo run -p zk-client --example basic -- 127.0.0.1:2181
//! ```

use std::time::Duration;

use zk_client::{Client, CreateOptions};

#[tokio::main]
async fn main() -> zk_client::Result<()> {
    let connect_string = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2181".into());
    let client = Client::builder(connect_string)
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await?;
    println!("session {:#x}", client.session().session_id);

    let path = format!("/zk-rs-example-{}", std::process::id());
    let (path, stat) = client
        .create(&path, b"hello", &CreateOptions::ephemeral())
        .await?;
    println!("created {path} (czxid {:#x})", stat.czxid);

    let (data, _stat, watch) = client.get_data_watch(&path).await?;
    println!("read {:?}", String::from_utf8_lossy(&data));
    client.set_data(&path, b"world", None).await?;
    let event = watch.await;
    println!("watch fired: {:?} on {}", event.event_type, event.path);

    client.close().await?;
    println!("closed; the ephemeral node is gone");
    Ok(())
}
