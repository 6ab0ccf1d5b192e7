//! failover_probe: keeps writing to a ZooKeeper ensemble and says how long writes stop when a
//! server is killed. Used by `scripts/bench-ensemble.sh`.
//!
//! ```text
//! failover_probe --server HOST:PORT[,HOST:PORT...] [--writers N] [--session-timeout-ms MS]
//! ```
//!
//! One session (zk-client, hosts tried in random order as Java's client does) with `N` writers
//! (default 4), each doing `setData` on its own node under `/failover-probe-<pid>` in a loop;
//! a failed write is retried after 1 ms. Commands on stdin, one a line:
//!
//! - `mark LABEL`: remember now; once a write *issued after* this moment is acknowledged, print
//!   `RECOVERED label=LABEL ms=<milliseconds from the mark to that acknowledgement>`. The caller
//!   sends the mark right after it killed a server.
//! - `quit` (or end of input): print
//!   `SUMMARY acks=.. errors=.. longest_gap_ms=.. gap_from_unix_ms=.. gap_to_unix_ms=..` (the
//!   longest time between two consecutive acknowledgements, with wall-clock ends) and exit.
//!
//! `READY` is printed once the first write is acknowledged.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, BufReader};
use zk_client::{Client, CreateOptions, Error, ErrorKind};

const USAGE: &str =
    "usage: failover_probe --server CONNECT_STRING [--writers N] [--session-timeout-ms MS]";

/// What the writers share with the command loop.
#[derive(Default)]
struct Progress {
    acks: u64,
    errors: u64,
    /// The last acknowledgement.
    last_ack: Option<(Instant, SystemTime)>,
    /// The longest gap between acknowledgements: its length and wall-clock ends.
    longest_gap: Option<(Duration, SystemTime, SystemTime)>,
    /// Marks waiting for a write issued after them to be acknowledged.
    marks: Vec<(String, Instant)>,
}

impl Progress {
    /// Records an acknowledgement of a write issued at `issued`; prints what it completes.
    fn ack(&mut self, issued: Instant) {
        let now = Instant::now();
        let wall = SystemTime::now();
        self.acks += 1;
        if self.acks == 1 {
            println!("READY");
        }
        if let Some((last, last_wall)) = self.last_ack {
            let gap = now.saturating_duration_since(last);
            if self.longest_gap.is_none_or(|(longest, _, _)| gap > longest) {
                self.longest_gap = Some((gap, last_wall, wall));
            }
        }
        self.last_ack = Some((now, wall));
        self.marks.retain(|(label, marked)| {
            if issued < *marked {
                return true;
            }
            let ms = now.saturating_duration_since(*marked).as_secs_f64() * 1000.0;
            println!("RECOVERED label={label} ms={ms:.1}");
            false
        });
    }

    fn summary(&self) -> String {
        let unix_ms = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
                .to_string()
        };
        let (gap, from, to) = match self.longest_gap {
            Some((gap, from, to)) => (
                format!("{:.1}", gap.as_secs_f64() * 1000.0),
                unix_ms(from),
                unix_ms(to),
            ),
            None => ("0".to_owned(), "0".to_owned(), "0".to_owned()),
        };
        format!(
            "SUMMARY acks={} errors={} longest_gap_ms={gap} gap_from_unix_ms={from} gap_to_unix_ms={to}",
            self.acks, self.errors
        )
    }
}

struct Args {
    server: String,
    writers: usize,
    session_timeout: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut server = None;
    let mut writers = 4;
    let mut session_timeout = Duration::from_secs(30);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--server" => server = Some(value()?),
            "--writers" => {
                writers = value()?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("--writers must be a positive number")?;
            }
            "--session-timeout-ms" => {
                let ms: u64 = value()?
                    .parse()
                    .map_err(|_| "--session-timeout-ms must be a number")?;
                session_timeout = Duration::from_millis(ms);
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(Args {
        server: server.ok_or_else(|| format!("--server is required\n{USAGE}"))?,
        writers,
        session_timeout,
    })
}

/// Creates `path` if it does not exist, retrying through connection loss for up to a minute.
async fn ensure_node(client: &Client, path: &str) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client.create(path, b"", &CreateOptions::persistent()).await {
            Ok(_) => return Ok(()),
            Err(e) if e == ErrorKind::NodeExists => return Ok(()),
            Err(e)
                if matches!(e.kind(), ErrorKind::ConnectionLoss | ErrorKind::Timeout)
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn writer(client: Client, path: String, progress: Arc<Mutex<Progress>>) {
    let mut counter = 0u64;
    loop {
        counter += 1;
        let issued = Instant::now();
        let result = client
            .set_data(&path, counter.to_string().as_bytes(), None)
            .await;
        let ended = matches!(
            result.as_ref().map_err(Error::kind),
            Err(ErrorKind::SessionExpired | ErrorKind::Closed | ErrorKind::AuthFailed)
        );
        let failed = result.is_err();
        {
            let mut p = progress.lock().expect("progress lock");
            if failed {
                p.errors += 1;
            } else {
                p.ack(issued);
            }
        }
        if ended {
            eprintln!("failover_probe: the session ended: {:?}", client.state());
            return;
        }
        if failed {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let client = match Client::builder(args.server.clone())
        .session_timeout(args.session_timeout)
        .connect()
        .await
    {
        Ok(client) => client,
        Err(e) => {
            eprintln!("failover_probe: connecting to {}: {e}", args.server);
            std::process::exit(1);
        }
    };
    let root = format!("/failover-probe-{}", std::process::id());
    let progress = Arc::new(Mutex::new(Progress::default()));
    let mut paths = Vec::new();
    for w in 0..=args.writers {
        let path = if w == 0 {
            root.clone()
        } else {
            format!("{root}/w{w}")
        };
        if let Err(e) = ensure_node(&client, &path).await {
            eprintln!("failover_probe: creating {path}: {e}");
            std::process::exit(1);
        }
        paths.push(path);
    }
    let writers: Vec<_> = paths[1..]
        .iter()
        .map(|path| tokio::spawn(writer(client.clone(), path.clone(), progress.clone())))
        .collect();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = line.trim();
        if line == "quit" {
            break;
        }
        if let Some(label) = line.strip_prefix("mark ") {
            let now = Instant::now();
            progress
                .lock()
                .expect("progress lock")
                .marks
                .push((label.trim().to_owned(), now));
        } else if !line.is_empty() {
            eprintln!("failover_probe: unknown command {line:?} (mark LABEL | quit)");
        }
    }
    for w in writers {
        w.abort();
    }
    println!("{}", progress.lock().expect("progress lock").summary());
    // Best effort: the bench root goes away with the session's last writes done.
    for path in paths.iter().rev() {
        let _ = tokio::time::timeout(Duration::from_secs(5), client.delete(path, None)).await;
    }
    let _ = client.close().await;
}
