//! zk-recipe-bench: how fast zk-client's recipes go against one server. Its Curator twin is
//! `interop-tests/java/CuratorRecipeBench.java` (same arguments, same RESULT lines);
//! `scripts/bench-recipes.sh` runs both against the same server, one after the other.
//!
//! - `--recipe lock`: `--contenders` sessions, each with its own
//!   [`Mutex`](zk_client::recipes::lock::Mutex) on one lock path, acquire and release in a loop.
//! - `--recipe semaphore`: the same with a
//!   [`Semaphore`](zk_client::recipes::semaphore::Semaphore) of `--max-leases` leases.
//! - `--recipe latch`: two sessions, each with a
//!   [`LeaderLatch`](zk_client::recipes::leader::LeaderLatch) on one path; the leader closes its
//!   latch, the time until the other one leads is one hand-over; the closed one joins again.
//!
//! Lock and semaphore count cycles (acquire + release) that end inside the window of
//! `--duration` s after `--warmup` s, and record the acquire latency (call to return) of every
//! acquire that ends inside it. As a sanity check, holders in this process are counted from
//! acquire to release (with a yield in between): more than the recipe allows (1, or
//! `--max-leases`) fails the run; the most seen at once is `max_holders`. Holding for no time,
//! two rightful holders rarely meet there (`max_holders` is often 1 for a semaphore too), so
//! this catches grossly overlapping grants, not every one.
//!
//! The latch does hand-overs unrecorded for `--warmup` s, then records `--handovers` of them.
//! CPU times (user, system) are this process's, and with `--server-pid` the server's, over the
//! same window, from `/proc/<pid>/stat`.
//!
//! ```text
//! RESULT recipe=lock client=zk-rs contenders=10 max_leases=0 cycles=.. duration_s=10.00 cycles_per_s=.. max_holders=1 p50_us=.. p99_us=.. max_us=.. cpu_user_s=.. cpu_sys_s=.. server_cpu_s=..
//! RESULT recipe=latch client=zk-rs contenders=2 max_leases=0 handovers=200 duration_s=.. p50_us=.. p99_us=.. max_us=.. mean_us=.. cpu_user_s=.. cpu_sys_s=.. server_cpu_s=..
//! ```
//!
//! Percentiles are nearest-rank over every sample (no histogram), as in the Java twin. The
//! bench root `/zk-recipe-bench-<pid>` is deleted at the end.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zk_client::recipes::leader::{LatchState, LeaderLatch};
use zk_client::recipes::lock::Mutex;
use zk_client::recipes::semaphore::Semaphore;
use zk_client::{Client, Error, ErrorKind};
use zk_tools::bench::{cpu_times, delete_all};

const USAGE: &str = "\
usage: zk-recipe-bench --server HOST:PORT --recipe lock|semaphore|latch [options]

  --contenders N       sessions contending for the lock or semaphore, default 1
  --max-leases N       the semaphore's maximum, default 2
  --duration SECS      lock/semaphore measurement window, default 10
  --warmup SECS        load before the window (latch: hand-overs before recording), default 3
  --handovers N        latch: recorded hand-overs, default 200
  --settle-ms MS       latch: pause after a re-join before the next hand-over, default 20
  --threads T          tokio worker threads; 0 = single-threaded runtime, default 0
  --session-timeout MS session timeout, default 30000
  --server-pid PID     also report this process's CPU (the server's) over the window
";

/// How long one hand-over or one acquire may take before the run is called failed.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recipe {
    Lock,
    Semaphore,
    Latch,
}

impl Recipe {
    fn name(self) -> &'static str {
        match self {
            Recipe::Lock => "lock",
            Recipe::Semaphore => "semaphore",
            Recipe::Latch => "latch",
        }
    }
}

#[derive(Debug, Clone)]
struct Config {
    server: String,
    recipe: Recipe,
    contenders: usize,
    max_leases: u32,
    duration: Duration,
    warmup: Duration,
    handovers: usize,
    settle: Duration,
    threads: usize,
    session_timeout: Duration,
    server_pid: Option<u32>,
}

impl Config {
    /// `Err("")` asks for the usage text.
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Config, String> {
        let mut config = Config {
            server: String::new(),
            recipe: Recipe::Lock,
            contenders: 1,
            max_leases: 2,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(3),
            handovers: 200,
            settle: Duration::from_millis(20),
            threads: 0,
            session_timeout: Duration::from_secs(30),
            server_pid: None,
        };
        let mut recipe = None;
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "-h" || flag == "--help" {
                return Err(String::new());
            }
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let number = |v: &str| -> Result<f64, String> {
                v.parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite() && *n >= 0.0)
                    .ok_or_else(|| format!("{flag}: not a number: {v:?}"))
            };
            match flag.as_str() {
                "--server" => config.server = value,
                "--recipe" => recipe = Some(value),
                "--contenders" => config.contenders = number(&value)? as usize,
                "--max-leases" => config.max_leases = number(&value)? as u32,
                "--duration" => config.duration = Duration::from_secs_f64(number(&value)?),
                "--warmup" => config.warmup = Duration::from_secs_f64(number(&value)?),
                "--handovers" => config.handovers = number(&value)? as usize,
                "--settle-ms" => config.settle = Duration::from_millis(number(&value)? as u64),
                "--threads" => config.threads = number(&value)? as usize,
                "--session-timeout" => {
                    config.session_timeout = Duration::from_millis(number(&value)? as u64)
                }
                "--server-pid" => config.server_pid = Some(number(&value)? as u32),
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        if config.server.is_empty() {
            return Err("--server is required".into());
        }
        config.recipe = match recipe.as_deref() {
            Some("lock") => Recipe::Lock,
            Some("semaphore") => Recipe::Semaphore,
            Some("latch") => Recipe::Latch,
            other => return Err(format!("--recipe: lock, semaphore or latch, not {other:?}")),
        };
        if config.contenders == 0 || config.handovers == 0 || config.duration.is_zero() {
            return Err("--contenders, --handovers and --duration must be positive".into());
        }
        if config.recipe == Recipe::Semaphore && config.max_leases == 0 {
            return Err("--max-leases must be positive".into());
        }
        if config.recipe == Recipe::Latch {
            config.contenders = 2;
        }
        Ok(config)
    }
}

/// CPU seconds (user + system) of process `pid` so far, from `/proc/<pid>/stat`.
fn process_cpu_s(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14, stime field 15, in 1/100 s.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// This process's (user, system) and the server's CPU seconds at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct CpuSample {
    user_s: f64,
    sys_s: f64,
    server_s: Option<f64>,
}

impl CpuSample {
    fn now(server_pid: Option<u32>) -> CpuSample {
        let (user_s, sys_s) = cpu_times().unwrap_or_default();
        CpuSample {
            user_s,
            sys_s,
            server_s: server_pid.and_then(process_cpu_s),
        }
    }

    /// `key=value` fields of the CPU used from `self` to `end`.
    fn fields_until(&self, end: &CpuSample) -> String {
        let server = match (self.server_s, end.server_s) {
            (Some(a), Some(b)) => format!("{:.2}", b - a),
            _ => "-".to_owned(),
        };
        format!(
            "cpu_user_s={:.2} cpu_sys_s={:.2} server_cpu_s={server}",
            end.user_s - self.user_s,
            end.sys_s - self.sys_s
        )
    }
}

/// Nearest-rank percentile of sorted `samples`.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `p50_us=.. p99_us=.. max_us=..` of `samples` (sorted here).
fn latency_fields(samples: &mut [u64]) -> String {
    samples.sort_unstable();
    format!(
        "p50_us={} p99_us={} max_us={}",
        percentile(samples, 50.0),
        percentile(samples, 99.0),
        samples.last().copied().unwrap_or(0)
    )
}

async fn connect(config: &Config) -> Result<Client, String> {
    Client::builder(config.server.clone())
        .session_timeout(config.session_timeout)
        .connect()
        .await
        .map_err(|e| format!("connecting to {}: {e}", config.server))
}

/// How many contenders of this process hold the lock or a lease right now, checked against
/// what the recipe allows, so a run that broke mutual exclusion fails instead of reporting.
#[derive(Debug)]
struct Holders {
    now: AtomicUsize,
    most: AtomicUsize,
    limit: usize,
}

impl Holders {
    /// Counts one holder from when its acquire returned until its release starts (the next
    /// one may get in as soon as the release is done). The yield lets the other contenders'
    /// tasks run meanwhile, so on a single-threaded runtime too two holders can meet here.
    async fn hold(&self) -> Result<(), Error> {
        let holders = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(holders, Ordering::SeqCst);
        tokio::task::yield_now().await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        if holders > self.limit {
            return Err(ErrorKind::InvalidArgument(format!(
                "{holders} holders at once, at most {} allowed",
                self.limit
            ))
            .into());
        }
        Ok(())
    }
}

/// One contender's lock or semaphore, each on its own session.
enum Contender {
    Lock(Mutex),
    Semaphore(Semaphore),
}

impl Contender {
    /// One acquire and release; returns when the acquire returned.
    async fn cycle(&self, holders: &Holders) -> Result<Instant, Error> {
        match self {
            Contender::Lock(mutex) => {
                let guard = mutex.acquire().await?;
                let acquired = Instant::now();
                holders.hold().await?;
                guard.release().await?;
                Ok(acquired)
            }
            Contender::Semaphore(semaphore) => {
                let lease = semaphore.acquire().await?;
                let acquired = Instant::now();
                holders.hold().await?;
                lease.release().await?;
                Ok(acquired)
            }
        }
    }
}

/// What one contender counted inside the window.
#[derive(Debug, Default)]
struct ContenderStats {
    cycles: u64,
    acquire_us: Vec<u64>,
}

async fn run_contender(
    contender: Contender,
    holders: Arc<Holders>,
    window_start: Instant,
    window_end: Instant,
) -> Result<ContenderStats, String> {
    let mut stats = ContenderStats::default();
    loop {
        let began = Instant::now();
        if began >= window_end {
            return Ok(stats);
        }
        let acquired = tokio::time::timeout(STEP_TIMEOUT, contender.cycle(&holders))
            .await
            .map_err(|_| format!("a cycle took over {STEP_TIMEOUT:?}"))?
            .map_err(|e| format!("cycle: {e}"))?;
        let done = Instant::now();
        if acquired >= window_start && acquired < window_end {
            stats
                .acquire_us
                .push(acquired.duration_since(began).as_micros() as u64);
        }
        if done >= window_start && done < window_end {
            stats.cycles += 1;
        }
    }
}

/// Lock or semaphore: cycles per second and acquire latency of `contenders` sessions.
async fn bench_cycles(config: &Config, root: &str) -> Result<String, String> {
    let mut clients = Vec::with_capacity(config.contenders);
    for _ in 0..config.contenders {
        clients.push(connect(config).await?);
    }
    let path = format!("{root}/{}", config.recipe.name());
    let window_start = Instant::now() + config.warmup;
    let window_end = window_start + config.duration;
    // CPU is read when the window opens and when it closes.
    let server_pid = config.server_pid;
    let cpu_probe = tokio::spawn(async move {
        tokio::time::sleep_until(window_start.into()).await;
        let start = CpuSample::now(server_pid);
        tokio::time::sleep_until(window_end.into()).await;
        (start, CpuSample::now(server_pid))
    });
    let holders = Arc::new(Holders {
        now: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
        limit: match config.recipe {
            Recipe::Semaphore => config.max_leases as usize,
            _ => 1,
        },
    });
    let mut tasks = Vec::with_capacity(clients.len());
    for client in &clients {
        let contender = match config.recipe {
            Recipe::Lock => Contender::Lock(Mutex::new(client, &path).map_err(|e| e.to_string())?),
            _ => Contender::Semaphore(
                Semaphore::new(client, &path, config.max_leases).map_err(|e| e.to_string())?,
            ),
        };
        tasks.push(tokio::spawn(run_contender(
            contender,
            holders.clone(),
            window_start,
            window_end,
        )));
    }
    let mut cycles = 0;
    let mut acquire_us = Vec::new();
    for task in tasks {
        let stats = task.await.map_err(|e| format!("contender task: {e}"))??;
        cycles += stats.cycles;
        acquire_us.extend(stats.acquire_us);
    }
    let (cpu_start, cpu_end) = cpu_probe.await.map_err(|e| format!("cpu probe: {e}"))?;
    for client in clients {
        let _ = client.close().await;
    }
    let duration_s = config.duration.as_secs_f64();
    Ok(format!(
        "cycles={cycles} duration_s={duration_s:.2} cycles_per_s={:.1} max_holders={} {} {}",
        cycles as f64 / duration_s,
        holders.most.load(Ordering::SeqCst),
        latency_fields(&mut acquire_us),
        cpu_start.fields_until(&cpu_end)
    ))
}

/// Waits until `latch` leads.
async fn until_leader(latch: &LeaderLatch) -> Result<(), String> {
    tokio::time::timeout(STEP_TIMEOUT, latch.wait_leader())
        .await
        .map_err(|_| format!("no leadership within {STEP_TIMEOUT:?}"))?
        .map_err(|e| format!("waiting for leadership: {e}"))
}

/// Joins the election as `id` and waits until the latch follows the leader (its watch is set).
async fn join_waiting(client: &Client, path: &str, id: &str) -> Result<LeaderLatch, String> {
    let latch = LeaderLatch::start(client, path, id)
        .await
        .map_err(|e| format!("starting latch {id}: {e}"))?;
    let mut state = latch.watch();
    let reached = tokio::time::timeout(
        STEP_TIMEOUT,
        state.wait_for(|s| *s == LatchState::Waiting || s.is_final()),
    )
    .await
    .map_err(|_| format!("latch {id} not waiting within {STEP_TIMEOUT:?}"))?
    .map(|s| *s)
    .map_err(|_| format!("latch {id} ended"))?;
    if reached != LatchState::Waiting {
        return Err(format!("latch {id} is {reached:?}, not Waiting"));
    }
    Ok(latch)
}

/// Leader hand-over between two participants, each on its own session.
async fn bench_latch(config: &Config, root: &str) -> Result<String, String> {
    let clients = [connect(config).await?, connect(config).await?];
    let ids = ["p0", "p1"];
    let path = format!("{root}/latch");
    let first = LeaderLatch::start(&clients[0], &path, ids[0])
        .await
        .map_err(|e| format!("starting latch p0: {e}"))?;
    until_leader(&first).await?;
    let mut latches = [
        Some(first),
        Some(join_waiting(&clients[1], &path, ids[1]).await?),
    ];
    let mut leader = 0;
    let warmup_end = Instant::now() + config.warmup;
    let mut handover_us = Vec::with_capacity(config.handovers);
    let mut cpu_start = None;
    let mut recording_start = None;
    while handover_us.len() < config.handovers {
        // Let the participant that joined last settle (its watch on the leader is set).
        tokio::time::sleep(config.settle).await;
        let recording = Instant::now() >= warmup_end;
        if recording && cpu_start.is_none() {
            cpu_start = Some(CpuSample::now(config.server_pid));
            recording_start = Some(Instant::now());
        }
        let follower = 1 - leader;
        let closing = latches[leader].take().expect("the leader's latch");
        let began = Instant::now();
        closing
            .close()
            .await
            .map_err(|e| format!("closing latch {}: {e}", ids[leader]))?;
        until_leader(latches[follower].as_ref().expect("the follower's latch")).await?;
        let took = began.elapsed();
        if recording {
            handover_us.push(took.as_micros() as u64);
        }
        latches[leader] = Some(join_waiting(&clients[leader], &path, ids[leader]).await?);
        leader = follower;
    }
    let cpu_end = CpuSample::now(config.server_pid);
    let elapsed_s = recording_start.map_or(0.0, |t| t.elapsed().as_secs_f64());
    for latch in latches.into_iter().flatten() {
        let _ = latch.close().await;
    }
    for client in clients {
        let _ = client.close().await;
    }
    let mean_us = handover_us.iter().sum::<u64>() / handover_us.len() as u64;
    Ok(format!(
        "handovers={} duration_s={elapsed_s:.2} {} mean_us={mean_us} {}",
        handover_us.len(),
        latency_fields(&mut handover_us),
        cpu_start.unwrap_or_default().fields_until(&cpu_end)
    ))
}

async fn run(config: &Config) -> Result<String, String> {
    let root = format!("/zk-recipe-bench-{}", std::process::id());
    let measured = match config.recipe {
        Recipe::Latch => bench_latch(config, &root).await,
        Recipe::Lock | Recipe::Semaphore => bench_cycles(config, &root).await,
    };
    // The recipes' parents are containers, which the server would reap by itself; deleting
    // them now leaves the next run a clean tree.
    let admin = connect(config).await?;
    if let Err(e) = delete_all(&admin, &root).await {
        if e != ErrorKind::NoNode {
            eprintln!("zk-recipe-bench: cleanup of {root} failed: {e}");
        }
    }
    let _ = admin.close().await;
    let fields = measured?;
    let max_leases = if config.recipe == Recipe::Semaphore {
        config.max_leases
    } else {
        0
    };
    Ok(format!(
        "RESULT recipe={} client=zk-rs contenders={} max_leases={max_leases} {fields}",
        config.recipe.name(),
        config.contenders
    ))
}

fn main() {
    let config = match Config::parse(std::env::args().skip(1)) {
        Ok(config) => config,
        Err(msg) if msg.is_empty() => {
            print!("{USAGE}");
            return;
        }
        Err(msg) => {
            eprintln!("zk-recipe-bench: {msg}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let runtime = if config.threads == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    match runtime.block_on(run(&config)) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("zk-recipe-bench: {e}");
            std::process::exit(1);
        }
    }
}
