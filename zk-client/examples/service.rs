//! A small service built the way zk-client means it to be: one [`Supervisor`] owns the
//! session and re-runs everything after an expiry; the service registers itself in a group,
//! follows its configuration, runs for leadership, and does fenced work under a lock.
//!
//! ```sh
//! cargo run -p zk-client --example service -- 127.0.0.1:2181 worker-1 [<run-ms>]
//! ```
//!
//! Layout (all shared with Curator's recipes of the same names):
//!
//! - `/services/demo/members/<id>`: this process (`GroupMember`), holding its address;
//! - `/services/demo/config`: a UTF-8 setting (`ConfigNode`), created with a default;
//! - `/services/demo/leader`: the election (`LeaderLatch`, joined again in every session);
//! - `/services/demo/lock`: a mutex (`InterProcessMutex`) around a fenced counter update.
//!
//! Prints one line per thing that happens (`state Lost`, `members [..]`, `config ..`,
//! `leader`, `work ..`). Kill the server for longer than the session timeout, or pause the
//! process (`kill -STOP`), and watch everything come back in the next session.

use std::time::Duration;

use zk_client::recipes::config::{ConfigEvent, ConfigNode};
use zk_client::recipes::group::GroupMember;
use zk_client::recipes::leader::{LatchState, SupervisedLatch};
use zk_client::recipes::lock::Mutex;
use zk_client::{Client, ErrorKind, Op, Session, Supervisor};

const ROOT: &str = "/services/demo";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (connect, id, run_ms) = match args.as_slice() {
        [connect, id] => (connect.clone(), id.clone(), None),
        [connect, id, run_ms] => (connect.clone(), id.clone(), Some(run_ms.parse::<u64>()?)),
        _ => {
            eprintln!("usage: service <connect string> <id> [<run ms>]");
            std::process::exit(2);
        }
    };
    let supervisor = Client::builder(connect)
        .session_timeout(Duration::from_secs(6))
        .supervised();

    // Connection states, as Curator's ConnectionStateListener sees them.
    let mut states = supervisor.states();
    tokio::spawn(async move {
        while let Some(state) = states.next().await {
            println!("state {state:?}");
        }
    });

    // 1. Membership: re-created in every session; the list follows every change.
    let member = GroupMember::join(
        &supervisor,
        &format!("{ROOT}/members"),
        &id,
        format!("{id}.example:8080").as_bytes(),
    )?;
    let mut members = member.changes();
    tokio::spawn(async move {
        while let Some(now) = members.next().await {
            println!("members {:?}", now.keys().collect::<Vec<_>>());
        }
    });

    // 2. Configuration: a per-session recipe, started again by the supervisor in each new
    // session (the future of a lost session is dropped).
    let _config = supervisor.on_session(follow_config);

    // 3. Leadership: a latch that joins the election again in every session.
    let latch = SupervisedLatch::start(&supervisor, &format!("{ROOT}/leader"), &id)?;
    let mut leadership = latch.changes();
    tokio::spawn(async move {
        while let Some(state) = leadership.next().await {
            match state {
                LatchState::Leader => println!("leader"),
                LatchState::Waiting => println!("follower"),
                LatchState::Suspended => println!("leadership suspended"),
                other if other.is_final() => return println!("election over: {other:?}"),
                _ => {}
            }
        }
    });

    // 4. Work under a lock, every second, with whatever session is live.
    let work = async {
        loop {
            if let Err(e) = locked_work(&supervisor).await {
                println!("work failed: {e}");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    let stop = async {
        match run_ms {
            Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::select! {
        () = work => {}
        () = stop => {}
    }
    latch.close().await;
    member.leave().await?;
    supervisor.close().await;
    println!("closed");
    Ok(())
}

async fn follow_config(session: Session) {
    let path = format!("{ROOT}/config");
    let decode = |data: &[u8]| std::str::from_utf8(data).map(str::to_owned);
    let config = match ConfigNode::start_or_create(&session.client, &path, b"default", decode).await
    {
        Ok(config) => config,
        Err(e) => return println!("config unavailable in this session: {e}"),
    };
    let mut events = config.events();
    while let Some(event) = events.next().await {
        match event {
            ConfigEvent::Value(value) => println!("config {}", value.value),
            ConfigEvent::Deleted => println!("config deleted"),
            ConfigEvent::DecodeFailed { error, .. } => println!("config unreadable: {error}"),
            // The session ended; the supervisor runs this again in the next one.
            ConfigEvent::Ended(e) => return println!("config ended: {e}"),
        }
    }
}

/// Takes the lock and bumps a counter node in a write fenced by the lock: if the lock was lost
/// meanwhile (the session expired), the write is refused instead of racing the next holder.
async fn locked_work(supervisor: &Supervisor) -> zk_client::Result<()> {
    let client = supervisor.client().await?;
    let counter = format!("{ROOT}/counter");
    client.ensure_path(&counter).await?;
    let mutex = Mutex::new(&client, &format!("{ROOT}/lock"))?;
    let Some(guard) = mutex.acquire_timeout(Duration::from_secs(5)).await? else {
        println!("work skipped: the lock is busy");
        return Ok(());
    };
    let (data, stat) = client.get_data(&counter).await?;
    let count = std::str::from_utf8(&data)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    let next = (count + 1).to_string();
    match guard
        .fence(vec![Op::SetData {
            path: counter.clone(),
            data: next.clone().into_bytes().into(),
            version: Some(stat.version),
        }])
        .await
    {
        Ok(_) => println!("work {next}"),
        Err(e) if e == ErrorKind::LockLost => println!("work refused: the lock was lost"),
        Err(e) => println!("work failed: {e}"),
    }
    guard.release().await
}
