//! Watches one configuration node and prints one line per event until `run-ms` passes (or
//! forever without it):
//!
//! ```text
//! value <unix-ms> <data as UTF-8>
//! deleted <unix-ms>
//! invalid <unix-ms> <why the data is not UTF-8>
//! ended <unix-ms> <why the watch stopped>
//! ```
//!
//! The first line is the node's state at start. Try it while changing the node with zkCli:
//!
//! ```sh
//! cargo run -p zk-client --example config -- 127.0.0.1:2181 /app/config 60000
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zk_client::recipes::config::{ConfigEvent, ConfigNode};
use zk_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(connect_string), Some(path)) = (args.next(), args.next()) else {
        eprintln!("usage: config <connect-string> <path> [<run-ms>]");
        std::process::exit(2);
    };
    let run_for = args
        .next()
        .map(|ms| ms.parse::<u64>().map(Duration::from_millis))
        .transpose()?;

    let client = Client::connect(&connect_string).await?;
    let config = ConfigNode::start(&client, &path, |data: &[u8]| {
        std::str::from_utf8(data).map(str::to_owned)
    })
    .await?;
    let mut events = config.events();
    let print_events = async {
        while let Some(event) = events.next().await {
            let now = unix_ms();
            match event {
                ConfigEvent::Value(v) => println!("value {now} {}", v.value),
                ConfigEvent::Deleted => println!("deleted {now}"),
                ConfigEvent::DecodeFailed { error, .. } => println!("invalid {now} {error}"),
                ConfigEvent::Ended(e) => println!("ended {now} {e}"),
            }
        }
    };
    match run_for {
        Some(limit) => {
            let _ = tokio::time::timeout(limit, print_events).await;
        }
        None => print_events.await,
    }
    drop(config);
    client.close().await?;
    Ok(())
}

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}
