//! zk-bench: a load generator on zk-client.
//!
//! `N` sessions each keep `M` requests in flight on their one connection (zk-client queues a
//! request when its method is called and returns a future; a session keeps `M` such futures
//! outstanding in a [`FuturesUnordered`]). Every operation's latency (from the call to the
//! reply) goes into an HDR histogram in microseconds. After a warmup, operations that complete
//! within the measurement window are counted; the client's CPU time over the same window comes
//! from `/proc/self/stat`.
//!
//! The run ends with one machine-parsable line (see [`Report::result_line`]):
//!
//! ```text
//! RESULT op=get sessions=1 in_flight=64 value_size=100 ops=123456 errors=0 duration_s=10.00 ops_per_s=12345.6 p50_us=.. p99_us=.. p999_us=.. max_us=.. cpu_user_s=.. cpu_sys_s=.. client=zk-rs
//! ```
//!
//! Layout of the bench root (`/zk-bench-<pid>`, relative to the chroot if there is one):
//! `n/<i>` are the nodes read and written by get/set/exists, `c/` receives the sequential
//! children of create, `d/<session>-<i>` are the nodes that delete removes. The root is deleted
//! (recursively) at the end.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use hdrhistogram::Histogram;
use zk_client::zk_proto::CreateMode;
use zk_client::{Client, CreateOptions, Error, ErrorKind};

/// The usage text.
pub const USAGE: &str = "\
usage: zk-bench --server HOST:PORT[,HOST:PORT...][/chroot] [options]

  --server CS          connect string (required)
  --sessions N         sessions (connections), default 1
  --in-flight M        requests kept in flight per session, default 1
  --op OP              get | set | create | exists | delete | mix, default get
  --value-size BYTES   data size for set/create and the setup nodes, default 100
  --duration SECS      measurement window, default 10
  --warmup SECS        load before the window (not counted), default 1
  --mix SPEC           op=weight list for --op mix, default get=70,set=20,create=5,delete=5
                       (exists=W is accepted too)
  --nodes K            nodes for get/set/exists, default 1000
  --delete-pool K      nodes created in setup for delete, default 100000 for --op delete
                       (the run stops early when they are used up), 1000 for --op mix
  --threads T          tokio worker threads; 0 = single-threaded runtime, default 0
  --session-timeout MS session timeout, default 30000
  --keep               do not delete the bench root at the end
  --random-values      setup nodes get random (incompressible) data instead of 'x' bytes
  -Dname=value         a Java client property; TLS (to a secureClientPort) as the Java client:
                       -Dzookeeper.client.secure=true -Dzookeeper.ssl.trustStore.location=F
                       -Dzookeeper.ssl.keyStore.location=F -Dzookeeper.ssl.keyStore.password=P
";

/// One kind of operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// getData of an existing node.
    Get,
    /// setData of an existing node.
    Set,
    /// create of a persistent sequential child.
    Create,
    /// exists of an existing node.
    Exists,
    /// delete of a node created in setup (or, in mix, by an earlier create).
    Delete,
}

impl OpKind {
    const ALL: [OpKind; 5] = [
        OpKind::Get,
        OpKind::Set,
        OpKind::Create,
        OpKind::Exists,
        OpKind::Delete,
    ];

    /// The name used on the command line and in the RESULT line.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Get => "get",
            OpKind::Set => "set",
            OpKind::Create => "create",
            OpKind::Exists => "exists",
            OpKind::Delete => "delete",
        }
    }

    fn parse(s: &str) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|k| k.name() == s)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What the sessions do: one kind of operation, or a weighted mix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    /// Only this operation.
    Single(OpKind),
    /// A random mix with these weights (indexed like [`OpKind`]).
    Mix([u32; 5]),
}

impl Workload {
    /// `get`, `set`, ... or `mix`.
    pub fn name(&self) -> &'static str {
        match self {
            Workload::Single(k) => k.name(),
            Workload::Mix(_) => "mix",
        }
    }

    fn uses(&self, kind: OpKind) -> bool {
        match self {
            Workload::Single(k) => *k == kind,
            Workload::Mix(w) => w[kind.index()] > 0,
        }
    }
}

/// The default weights of `--op mix`.
pub const DEFAULT_MIX: &str = "get=70,set=20,create=5,delete=5";

/// Parses `get=70,set=20,...` into weights.
pub fn parse_mix(spec: &str) -> Result<[u32; 5], String> {
    let mut weights = [0u32; 5];
    for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
        let (name, weight) = part
            .split_once('=')
            .ok_or_else(|| format!("--mix: expected op=weight, got {part:?}"))?;
        let kind = OpKind::parse(name.trim())
            .ok_or_else(|| format!("--mix: unknown op {:?}", name.trim()))?;
        weights[kind.index()] = weight
            .trim()
            .parse()
            .map_err(|_| format!("--mix: bad weight {weight:?}"))?;
    }
    if weights.iter().all(|&w| w == 0) {
        return Err("--mix: all weights are zero".into());
    }
    Ok(weights)
}

/// A parsed command line.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The connect string.
    pub server: String,
    /// Number of sessions.
    pub sessions: usize,
    /// Requests in flight per session.
    pub in_flight: usize,
    /// What to run.
    pub workload: Workload,
    /// Data size in bytes.
    pub value_size: usize,
    /// Measurement window.
    pub duration: Duration,
    /// Warmup before the window.
    pub warmup: Duration,
    /// Nodes for get/set/exists.
    pub nodes: usize,
    /// Nodes created in setup for delete (all sessions together).
    pub delete_pool: usize,
    /// Tokio worker threads (0 = current-thread runtime).
    pub threads: usize,
    /// Session timeout.
    pub session_timeout: Duration,
    /// Leave the bench root in place.
    pub keep: bool,
    /// Setup nodes get random bytes (for measuring snapshot compression honestly).
    pub random_values: bool,
    /// TLS for every session (`-Dzookeeper.client.secure=true` and the `zookeeper.ssl.*`
    /// properties).
    pub tls: Option<zk_client::TlsOptions>,
}

impl BenchConfig {
    /// Parses the arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<BenchConfig, String> {
        let mut server = None;
        let mut sessions = 1usize;
        let mut in_flight = 1usize;
        let mut op = "get".to_owned();
        let mut mix = DEFAULT_MIX.to_owned();
        let mut value_size = 100usize;
        let mut duration = 10.0f64;
        let mut warmup = 1.0f64;
        let mut nodes = 1000usize;
        let mut delete_pool = None;
        let mut threads = 0usize;
        let mut session_timeout_ms = 30_000u64;
        let mut keep = false;
        let mut random_values = false;
        let mut properties: Vec<(String, String)> = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if let Some(property) = crate::java_property(&arg) {
                properties.push(property);
                continue;
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            if flag == "--keep" {
                keep = true;
                continue;
            }
            if flag == "--random-values" {
                random_values = true;
                continue;
            }
            if flag == "--help" || flag == "-h" {
                return Err(String::new());
            }
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            fn num<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String> {
                v.parse().map_err(|_| format!("{flag}: bad number {v:?}"))
            }
            match flag.as_str() {
                "--server" => server = Some(value()?),
                "--sessions" => sessions = num(&flag, value()?)?,
                "--in-flight" => in_flight = num(&flag, value()?)?,
                "--op" => op = value()?,
                "--mix" => mix = value()?,
                "--value-size" => value_size = num(&flag, value()?)?,
                "--duration" => duration = num(&flag, value()?)?,
                "--warmup" => warmup = num(&flag, value()?)?,
                "--nodes" => nodes = num(&flag, value()?)?,
                "--delete-pool" => delete_pool = Some(num(&flag, value()?)?),
                "--threads" => threads = num(&flag, value()?)?,
                "--session-timeout" => session_timeout_ms = num(&flag, value()?)?,
                _ => return Err(format!("unknown argument {arg:?}")),
            }
        }
        let server = server.ok_or("--server is required")?;
        let weights = parse_mix(&mix)?;
        let workload = if op == "mix" {
            Workload::Mix(weights)
        } else {
            Workload::Single(OpKind::parse(&op).ok_or_else(|| format!("unknown --op {op:?}"))?)
        };
        if sessions == 0 || in_flight == 0 {
            return Err("--sessions and --in-flight must be at least 1".into());
        }
        if nodes == 0 {
            return Err("--nodes must be at least 1".into());
        }
        if !(duration > 0.0 && duration.is_finite() && warmup >= 0.0 && warmup.is_finite()) {
            return Err("--duration must be > 0 and --warmup >= 0".into());
        }
        let delete_pool = delete_pool.unwrap_or(match workload {
            Workload::Single(OpKind::Delete) => 100_000,
            Workload::Mix(_) if workload.uses(OpKind::Delete) => 1000,
            _ => 0,
        });
        Ok(BenchConfig {
            server,
            sessions,
            in_flight,
            workload,
            value_size,
            duration: Duration::from_secs_f64(duration),
            warmup: Duration::from_secs_f64(warmup),
            nodes,
            delete_pool,
            threads,
            session_timeout: Duration::from_millis(session_timeout_ms),
            keep,
            random_values,
            tls: crate::tls_from_java_properties(&properties).map_err(|e| e.to_string())?,
        })
    }
}

/// Why a run failed (as opposed to individual operations failing, which are counted).
#[derive(Debug)]
pub struct BenchError(pub String);

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BenchError {}

fn fail(what: &str, e: Error) -> BenchError {
    BenchError(format!("{what}: {e}"))
}

/// User and system CPU seconds of this process so far, from `/proc/self/stat` (clock ticks of
/// 1/100 s, Linux's USER_HZ). `None` where there is no procfs.
pub fn cpu_times() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; fields after it start at the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime / 100.0, stime / 100.0))
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("histogram bounds")
}

/// What one session measured.
#[derive(Debug)]
struct SessionStats {
    all: Histogram<u64>,
    by_kind: Vec<Histogram<u64>>,
    errors_by_kind: [u64; 5],
    first_errors: Vec<String>,
    /// When the last counted operation completed (for runs that end early).
    last_done: Option<Instant>,
    /// Issuing stopped before the window ended (delete pool used up).
    exhausted: bool,
}

impl SessionStats {
    fn new() -> Self {
        SessionStats {
            all: new_histogram(),
            by_kind: OpKind::ALL.iter().map(|_| new_histogram()).collect(),
            errors_by_kind: [0; 5],
            first_errors: Vec::new(),
            last_done: None,
            exhausted: false,
        }
    }
}

/// The outcome of a run.
#[derive(Debug)]
pub struct Report {
    /// The workload's name.
    pub op: String,
    /// Sessions.
    pub sessions: usize,
    /// In flight per session.
    pub in_flight: usize,
    /// Value size.
    pub value_size: usize,
    /// Successful operations in the window.
    pub ops: u64,
    /// Failed operations in the window.
    pub errors: u64,
    /// Length of the window actually measured.
    pub duration: Duration,
    /// Latencies (µs) of the operations in the window, successful or not.
    pub latency: Histogram<u64>,
    /// Per kind: (name, completed ops, errors, latency).
    pub by_kind: Vec<(&'static str, u64, u64, Histogram<u64>)>,
    /// User CPU seconds over the window.
    pub cpu_user_s: f64,
    /// System CPU seconds over the window.
    pub cpu_sys_s: f64,
    /// The bench root that was used.
    pub root: String,
    /// Some of the errors seen.
    pub first_errors: Vec<String>,
    /// The run ended before the window did (delete pool used up).
    pub exhausted: bool,
}

impl Report {
    /// Operations per second over the window (successful ones).
    pub fn ops_per_s(&self) -> f64 {
        let secs = self.duration.as_secs_f64();
        if secs > 0.0 {
            self.ops as f64 / secs
        } else {
            0.0
        }
    }

    fn quantile(&self, q: f64) -> u64 {
        if self.latency.is_empty() {
            0
        } else {
            self.latency.value_at_quantile(q)
        }
    }

    /// The one machine-parsable line.
    pub fn result_line(&self) -> String {
        format!(
            "RESULT op={} sessions={} in_flight={} value_size={} ops={} errors={} duration_s={:.2} \
             ops_per_s={:.1} p50_us={} p99_us={} p999_us={} max_us={} cpu_user_s={:.2} \
             cpu_sys_s={:.2} client=zk-rs",
            self.op,
            self.sessions,
            self.in_flight,
            self.value_size,
            self.ops,
            self.errors,
            self.duration.as_secs_f64(),
            self.ops_per_s(),
            self.quantile(0.50),
            self.quantile(0.99),
            self.quantile(0.999),
            if self.latency.is_empty() { 0 } else { self.latency.max() },
            self.cpu_user_s,
            self.cpu_sys_s,
        )
    }

    /// A few human-readable lines.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let cpu = self.cpu_user_s + self.cpu_sys_s;
        let _ = writeln!(
            s,
            "zk-bench: op={} sessions={} in_flight={} value_size={} root={}",
            self.op, self.sessions, self.in_flight, self.value_size, self.root
        );
        let _ = writeln!(
            s,
            "  {} ops, {} errors in {:.2} s: {:.1} ops/s{}",
            self.ops,
            self.errors,
            self.duration.as_secs_f64(),
            self.ops_per_s(),
            if self.exhausted {
                " (stopped early: delete pool used up)"
            } else {
                ""
            }
        );
        let _ = writeln!(
            s,
            "  latency us: p50 {} p90 {} p99 {} p99.9 {} max {} mean {:.1}",
            self.quantile(0.5),
            self.quantile(0.9),
            self.quantile(0.99),
            self.quantile(0.999),
            if self.latency.is_empty() {
                0
            } else {
                self.latency.max()
            },
            self.latency.mean()
        );
        let _ = writeln!(
            s,
            "  client CPU: user {:.2} s, sys {:.2} s ({:.1} us/op)",
            self.cpu_user_s,
            self.cpu_sys_s,
            if self.ops + self.errors > 0 {
                cpu * 1e6 / (self.ops + self.errors) as f64
            } else {
                0.0
            }
        );
        if self.by_kind.len() > 1 {
            for (name, ops, errors, h) in &self.by_kind {
                let _ = writeln!(
                    s,
                    "  {name:>6}: {ops} ops, {errors} errors, p50 {} us, p99 {} us",
                    if h.is_empty() {
                        0
                    } else {
                        h.value_at_quantile(0.5)
                    },
                    if h.is_empty() {
                        0
                    } else {
                        h.value_at_quantile(0.99)
                    },
                );
            }
        }
        for e in &self.first_errors {
            let _ = writeln!(s, "  error: {e}");
        }
        s
    }
}

/// Parses `key=value` words of a RESULT line (`None` if the line is not one).
pub fn parse_result_line(line: &str) -> Option<Vec<(String, String)>> {
    let rest = line.trim().strip_prefix("RESULT ")?;
    Some(
        rest.split_whitespace()
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    )
}

/// A small xorshift generator (per session; no need for quality).
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Paths shared by the sessions.
#[derive(Debug)]
struct Layout {
    root: String,
    nodes: Vec<String>,
    create_prefix: String,
    value: Vec<u8>,
}

type OpFuture = Pin<Box<dyn Future<Output = Done> + Send>>;

/// A completed operation.
struct Done {
    kind: OpKind,
    start: Instant,
    result: Result<Option<String>, Error>,
}

/// Keeps up to `window` operations in flight until `next` runs out; fails on the first error
/// that `tolerate` does not accept.
async fn pipelined<I, T>(
    window: usize,
    ops: I,
    tolerate: impl Fn(&Error) -> bool,
) -> Result<Vec<T>, Error>
where
    I: IntoIterator,
    I::Item: Future<Output = Result<Option<T>, Error>>,
{
    let mut ops = ops.into_iter();
    let mut running = FuturesUnordered::new();
    let mut out = Vec::new();
    loop {
        while running.len() < window {
            match ops.next() {
                Some(op) => running.push(op),
                None => break,
            }
        }
        match running.next().await {
            None => return Ok(out),
            Some(Ok(Some(v))) => out.push(v),
            Some(Ok(None)) => {}
            Some(Err(e)) if tolerate(&e) => {}
            Some(Err(e)) => return Err(e),
        }
    }
}

/// Creates the bench root and the nodes the workload needs; returns the layout.
async fn setup(client: &Client, config: &BenchConfig) -> Result<Layout, BenchError> {
    let persistent = CreateOptions::new(CreateMode::Persistent);
    let value = vec![b'x'; config.value_size];
    let pid = std::process::id();
    let mut root = format!("/zk-bench-{pid}");
    for attempt in 1.. {
        match client.create(&root, b"", &persistent).await {
            Ok(_) => break,
            Err(e) if e == ErrorKind::NodeExists && attempt < 100 => {
                root = format!("/zk-bench-{pid}-{attempt}")
            }
            Err(e) => return Err(fail(&format!("creating {root}"), e)),
        }
    }
    for dir in ["n", "c", "d"] {
        client
            .create(&format!("{root}/{dir}"), b"", &persistent)
            .await
            .map_err(|e| fail("creating the bench directories", e))?;
    }
    let nodes: Vec<String> = (0..config.nodes).map(|i| format!("{root}/n/{i}")).collect();
    let needs_nodes = [OpKind::Get, OpKind::Set, OpKind::Exists]
        .into_iter()
        .any(|k| config.workload.uses(k));
    if needs_nodes {
        let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
        let creates = nodes.iter().map(|p| {
            let f = if config.random_values {
                let random: Vec<u8> = (0..config.value_size)
                    .map(|_| {
                        // xorshift64: cheap, and incompressible enough for a benchmark.
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        rng as u8
                    })
                    .collect();
                client.create(p, &random, &persistent)
            } else {
                client.create(p, &value, &persistent)
            };
            async move { f.await.map(|_| None::<()>) }
        });
        pipelined(512, creates, |_| false)
            .await
            .map_err(|e| fail("creating the nodes", e))?;
    }
    if config.delete_pool > 0 {
        let creates = delete_pool_paths(&root, config)
            .into_iter()
            .flatten()
            .map(|p| {
                let f = client.create(&p, &value, &persistent);
                async move { f.await.map(|_| None::<()>) }
            });
        pipelined(512, creates, |_| false)
            .await
            .map_err(|e| fail("creating the delete pool", e))?;
    }
    Ok(Layout {
        create_prefix: format!("{root}/c/s-"),
        root,
        nodes,
        value,
    })
}

/// The delete pool, split by session.
fn delete_pool_paths(root: &str, config: &BenchConfig) -> Vec<Vec<String>> {
    let per = config.delete_pool.div_ceil(config.sessions);
    (0..config.sessions)
        .map(|s| {
            let n = per.min(config.delete_pool.saturating_sub(s * per));
            (0..n).map(|i| format!("{root}/d/{s}-{i}")).collect()
        })
        .collect()
}

/// Deletes `path` and everything under it (as zkCli's deleteall); returns how many nodes went.
pub async fn delete_all(client: &Client, path: &str) -> Result<usize, Error> {
    let mut all = vec![path.to_owned()];
    let mut level = vec![path.to_owned()];
    while !level.is_empty() {
        let lists = level.iter().map(|parent| {
            let f = client.get_children(parent);
            let parent = parent.clone();
            async move {
                let children = f.await?;
                let base = if parent == "/" { "" } else { parent.as_str() };
                Ok(Some(
                    children
                        .into_iter()
                        .map(|c| format!("{base}/{c}"))
                        .collect::<Vec<_>>(),
                ))
            }
        });
        let found = pipelined(256, lists, |e| *e == ErrorKind::NoNode).await?;
        level = found.into_iter().flatten().collect();
        all.extend(level.iter().cloned());
    }
    // Children come after their parents in `all`; one session's requests are applied in order,
    // so deleting from the end never hits a parent that still has children.
    let count = all.len();
    let deletes = all.iter().rev().map(|p| {
        let f = client.delete(p, None);
        async move { f.await.map(|()| None::<()>) }
    });
    pipelined(512, deletes, |e| *e == ErrorKind::NoNode).await?;
    Ok(count)
}

/// The shared clock of a run.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

/// One session's load loop.
async fn run_session(
    client: Client,
    layout: Arc<Layout>,
    workload: Workload,
    in_flight: usize,
    mut delete_queue: VecDeque<String>,
    window: Window,
    seed: u64,
) -> SessionStats {
    let mut stats = SessionStats::new();
    let mut rng = Rng(seed | 1);
    let mix_total: u32 = match &workload {
        Workload::Mix(w) => w.iter().sum(),
        Workload::Single(_) => 0,
    };
    let sequential = CreateOptions::new(CreateMode::PersistentSequential);
    let mut running: FuturesUnordered<OpFuture> = FuturesUnordered::new();
    let mut issuing = true;
    loop {
        while issuing && running.len() < in_flight {
            let mut kind = match &workload {
                Workload::Single(k) => *k,
                Workload::Mix(w) => {
                    let mut pick = (rng.next() % u64::from(mix_total)) as u32;
                    let mut chosen = OpKind::Get;
                    for k in OpKind::ALL {
                        if pick < w[k.index()] {
                            chosen = k;
                            break;
                        }
                        pick -= w[k.index()];
                    }
                    chosen
                }
            };
            if kind == OpKind::Delete && delete_queue.is_empty() {
                if matches!(workload, Workload::Mix(_)) {
                    kind = OpKind::Create;
                } else {
                    stats.exhausted = true;
                    issuing = false;
                    break;
                }
            }
            let start = Instant::now();
            let fut: OpFuture = match kind {
                OpKind::Get => {
                    let f = client.get_data(&layout.nodes[rng.below(layout.nodes.len())]);
                    Box::pin(async move {
                        Done {
                            kind,
                            start,
                            result: f.await.map(|_| None),
                        }
                    })
                }
                OpKind::Exists => {
                    let f = client.exists(&layout.nodes[rng.below(layout.nodes.len())]);
                    Box::pin(async move {
                        let result = match f.await {
                            Ok(Some(_)) => Ok(None),
                            Ok(None) => Err(ErrorKind::NoNode.into()),
                            Err(e) => Err(e),
                        };
                        Done {
                            kind,
                            start,
                            result,
                        }
                    })
                }
                OpKind::Set => {
                    let path = &layout.nodes[rng.below(layout.nodes.len())];
                    let f = client.set_data(path, &layout.value, None);
                    Box::pin(async move {
                        Done {
                            kind,
                            start,
                            result: f.await.map(|_| None),
                        }
                    })
                }
                OpKind::Create => {
                    let f = client.create(&layout.create_prefix, &layout.value, &sequential);
                    Box::pin(async move {
                        Done {
                            kind,
                            start,
                            result: f.await.map(|(path, _)| Some(path)),
                        }
                    })
                }
                OpKind::Delete => {
                    let path = delete_queue.pop_front().expect("checked above");
                    let f = client.delete(&path, None);
                    Box::pin(async move {
                        Done {
                            kind,
                            start,
                            result: f.await.map(|()| None),
                        }
                    })
                }
            };
            running.push(fut);
        }
        let Some(done) = running.next().await else {
            break;
        };
        let now = Instant::now();
        if now >= window.end {
            issuing = false;
        }
        if let (true, OpKind::Create, Ok(Some(path))) = (
            matches!(workload, Workload::Mix(_)),
            done.kind,
            &done.result,
        ) {
            delete_queue.push_back(path.clone());
        }
        if now < window.start || now >= window.end {
            continue;
        }
        let micros = now.duration_since(done.start).as_micros().max(1) as u64;
        stats.all.saturating_record(micros);
        stats.by_kind[done.kind.index()].saturating_record(micros);
        stats.last_done = Some(now);
        if let Err(e) = &done.result {
            stats.errors_by_kind[done.kind.index()] += 1;
            if stats.first_errors.len() < 5 {
                stats
                    .first_errors
                    .push(format!("{} failed: {e}", done.kind.name()));
            }
        }
    }
    stats
}

async fn connect(config: &BenchConfig, max_frame_len: Option<usize>) -> Result<Client, BenchError> {
    let mut builder =
        Client::builder(config.server.clone()).session_timeout(config.session_timeout);
    if let Some(len) = max_frame_len {
        builder = builder.max_frame_len(len);
    }
    if let Some(tls) = &config.tls {
        builder = builder.tls(tls.clone());
    }
    builder
        .connect()
        .await
        .map_err(|e| fail(&format!("connecting to {}", config.server), e))
}

/// Runs the benchmark: setup, warmup, measurement, cleanup.
pub async fn run(config: &BenchConfig) -> Result<Report, BenchError> {
    // The setup client also cleans up: a create run leaves a directory with many children, so
    // it accepts frames far larger than the default 1 MiB.
    let admin = connect(config, Some(256 << 20)).await?;
    let setup_started = Instant::now();
    let layout = Arc::new(setup(&admin, config).await?);
    // For scripts that use the setup as a bulk load (scripts/bench-storage.sh).
    println!(
        "SETUP nodes={} seconds={:.3}",
        layout.nodes.len(),
        setup_started.elapsed().as_secs_f64()
    );
    let result = measure(config, &layout).await;
    if !config.keep {
        if let Err(e) = delete_all(&admin, &layout.root).await {
            eprintln!("zk-bench: cleanup of {} failed: {e}", layout.root);
        }
    }
    let _ = admin.close().await;
    result
}

async fn measure(config: &BenchConfig, layout: &Arc<Layout>) -> Result<Report, BenchError> {
    let mut clients = Vec::with_capacity(config.sessions);
    for _ in 0..config.sessions {
        clients.push(connect(config, None).await?);
    }
    let mut pools = delete_pool_paths(&layout.root, config);
    let start = Instant::now() + config.warmup;
    let window = Window {
        start,
        end: start + config.duration,
    };
    // CPU is read when the window opens and when it closes (or when the sessions stop early).
    let cpu_at_start = Arc::new(std::sync::Mutex::new(None));
    let cpu_probe = {
        let cpu_at_start = cpu_at_start.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(window.start.into()).await;
            *cpu_at_start.lock().expect("cpu lock") = cpu_times();
            tokio::time::sleep_until(window.end.into()).await;
            cpu_times()
        })
    };
    let mut tasks = Vec::with_capacity(config.sessions);
    for (i, client) in clients.iter().enumerate() {
        let pool: VecDeque<String> = std::mem::take(&mut pools[i]).into();
        let seed =
            0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1) ^ u64::from(std::process::id());
        tasks.push(tokio::spawn(run_session(
            client.clone(),
            layout.clone(),
            config.workload.clone(),
            config.in_flight,
            pool,
            window,
            seed,
        )));
    }
    let mut all = SessionStats::new();
    let mut exhausted = false;
    for task in tasks {
        let stats = task
            .await
            .map_err(|e| BenchError(format!("session task failed: {e}")))?;
        all.all.add(&stats.all).expect("same bounds");
        for (mine, theirs) in all.by_kind.iter_mut().zip(&stats.by_kind) {
            mine.add(theirs).expect("same bounds");
        }
        for (mine, theirs) in all.errors_by_kind.iter_mut().zip(stats.errors_by_kind) {
            *mine += theirs;
        }
        for e in stats.first_errors {
            if all.first_errors.len() < 5 {
                all.first_errors.push(e);
            }
        }
        all.last_done = all.last_done.max(stats.last_done);
        exhausted |= stats.exhausted;
    }
    // A run that stopped early measured until its last completion; its CPU window is the
    // probe's anyway (the process idles once the sessions are done).
    let measured_end = if exhausted {
        all.last_done.unwrap_or(window.start).max(window.start)
    } else {
        window.end
    };
    let after = if Instant::now() < window.end {
        cpu_probe.abort();
        cpu_times()
    } else {
        cpu_probe
            .await
            .map_err(|e| BenchError(format!("cpu probe failed: {e}")))?
    };
    let before = *cpu_at_start.lock().expect("cpu lock");
    let (cpu_user_s, cpu_sys_s) = match (before, after) {
        (Some((u0, s0)), Some((u1, s1))) => (u1 - u0, s1 - s0),
        _ => (0.0, 0.0),
    };
    for client in &clients {
        let _ = client.close().await;
    }
    let errors: u64 = all.errors_by_kind.iter().sum();
    let total = all.all.len();
    let by_kind = OpKind::ALL
        .iter()
        .zip(all.by_kind)
        .filter(|(k, h)| config.workload.uses(**k) || !h.is_empty())
        .map(|(k, h)| {
            let errs = all.errors_by_kind[k.index()];
            (k.name(), h.len() - errs, errs, h)
        })
        .collect();
    Ok(Report {
        op: config.workload.name().to_owned(),
        sessions: config.sessions,
        in_flight: config.in_flight,
        value_size: config.value_size,
        ops: total - errors,
        errors,
        duration: measured_end.duration_since(window.start),
        latency: all.all,
        by_kind,
        cpu_user_s,
        cpu_sys_s,
        root: layout.root.clone(),
        first_errors: all.first_errors,
        exhausted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_a_command_line() {
        let c = BenchConfig::parse(args(
            "--server 127.0.0.1:2181/app --sessions 4 --in-flight=64 --op mix \
             --mix get=50,exists=10,set=40 --value-size 10 --duration 2.5 --warmup 0",
        ))
        .unwrap();
        assert_eq!(c.server, "127.0.0.1:2181/app");
        assert_eq!((c.sessions, c.in_flight, c.value_size), (4, 64, 10));
        assert_eq!(c.workload, Workload::Mix([50, 40, 0, 10, 0]));
        assert_eq!(c.duration, Duration::from_millis(2500));
        assert_eq!(c.warmup, Duration::ZERO);
        assert_eq!(c.delete_pool, 0);
        let d = BenchConfig::parse(args("--server h:1 --op delete")).unwrap();
        assert_eq!(d.workload, Workload::Single(OpKind::Delete));
        assert_eq!(d.delete_pool, 100_000);
    }

    #[test]
    fn rejects_bad_command_lines() {
        assert!(BenchConfig::parse(args("--sessions 1")).is_err());
        assert!(BenchConfig::parse(args("--server h:1 --op frob")).is_err());
        assert!(BenchConfig::parse(args("--server h:1 --mix get")).is_err());
        assert!(BenchConfig::parse(args("--server h:1 --in-flight 0")).is_err());
        assert!(BenchConfig::parse(args("--server h:1 --bogus")).is_err());
    }

    #[test]
    fn splits_the_delete_pool_by_session() {
        let mut c = BenchConfig::parse(args("--server h:1 --op delete --sessions 3")).unwrap();
        c.delete_pool = 10;
        let pools = delete_pool_paths("/r", &c);
        assert_eq!(
            pools.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![4, 4, 2]
        );
        assert_eq!(pools[1][0], "/r/d/1-0");
    }

    #[test]
    fn result_lines_parse() {
        let kv = parse_result_line("RESULT op=get ops=3 errors=0").unwrap();
        assert_eq!(kv[1], ("ops".to_owned(), "3".to_owned()));
        assert!(parse_result_line("zk-bench: op=get").is_none());
    }

    #[test]
    fn reads_cpu_times() {
        let (user, sys) = cpu_times().expect("procfs");
        assert!(user >= 0.0 && sys >= 0.0);
    }
}
