//! The ZooKeeper commands of zkCli.sh, on zk-client.

mod quota;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zk_client::zk_proto::data::Stat;
use zk_client::zk_proto::{AddWatchMode, CreateMode, EventType};
use zk_client::{
    Client, CreateOptions, Error, ErrorKind, OneshotWatcher, Op, SessionState, WatchedEvent,
};

use super::format::{
    acl_entry, check_create_path, check_path, client_config, error_message, parse_acl, stat_block,
};
use super::opts::{parse, OptSpec, Parsed};

/// A failed command: the message for stderr and the exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError {
    /// What to print (may span lines).
    pub message: String,
    /// The exit status it maps to.
    pub status: i32,
}

impl CmdError {
    /// A command failure (status 1).
    pub fn new(message: impl Into<String>) -> Self {
        CmdError {
            message: message.into(),
            status: 1,
        }
    }

    fn zk(err: &Error, path: &str) -> Self {
        CmdError::new(error_message(err, path))
    }
}

/// The result of one command.
pub type CmdResult = Result<(), CmdError>;

/// How to connect, and the session once connected.
#[derive(Debug)]
pub struct Connection {
    /// The connect string (`host:port[,host:port][/chroot]`).
    pub server: String,
    /// Session timeout (also how long connecting may take).
    pub timeout: Duration,
    /// Accept read-only servers.
    pub read_only: bool,
    /// SASL DIGEST-MD5 user and password for every connection.
    sasl: Option<(String, String)>,
    /// TLS for the connection, when asked for (`-Dzookeeper.client.secure=true`).
    pub tls: Option<zk_client::TlsOptions>,
    client: Option<Client>,
    /// Set by `close`: commands then fail with "Not connected" until `connect`.
    closed: bool,
}

impl Connection {
    /// Not connected yet; [`Connection::client`] connects on first use.
    pub fn new(server: String, timeout: Duration, read_only: bool) -> Self {
        Connection {
            server,
            timeout,
            read_only,
            sasl: None,
            tls: None,
            client: None,
            closed: false,
        }
    }

    /// Logs in with SASL DIGEST-MD5 (user, password) on every connection.
    pub fn with_sasl(mut self, sasl: Option<(String, String)>) -> Self {
        self.sasl = sasl;
        self
    }

    /// Connects to `server` (closing any previous session).
    pub async fn connect(&mut self) -> Result<Client, CmdError> {
        self.close().await;
        self.closed = false;
        let mut builder = Client::builder(self.server.clone())
            .session_timeout(self.timeout)
            .read_only(self.read_only);
        if let Some((user, password)) = &self.sasl {
            builder = builder.sasl_digest(user.clone(), password.clone());
        }
        if let Some(tls) = &self.tls {
            builder = builder.tls(tls.clone());
        }
        let client = builder.connect().await.map_err(|e| {
            self.closed = true;
            CmdError::new(match e.kind() {
                ErrorKind::Timeout => format!("Unable to connect to {}: timed out", self.server),
                ErrorKind::InvalidArgument(m) | ErrorKind::InvalidPath(m) => {
                    format!("Invalid connect string {}: {m}", self.server)
                }
                e => format!("Unable to connect to {}: {e}", self.server),
            })
        })?;
        self.client = Some(client.clone());
        Ok(client)
    }

    /// The session, connecting first if this is the first use.
    pub async fn client(&mut self) -> Result<Client, CmdError> {
        match &self.client {
            Some(c) if !c.state().is_terminal() => Ok(c.clone()),
            Some(_) => Err(CmdError::new("Not connected")),
            None if self.closed => Err(CmdError::new("Not connected")),
            None => self.connect().await,
        }
    }

    /// Ends the session, if any.
    pub async fn close(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
        self.closed = true;
    }

    /// The state zkCli.sh shows in its prompt (`ZooKeeper.States` names).
    pub fn state_name(&self) -> &'static str {
        match self.client.as_ref().map(Client::state) {
            None => "CLOSED",
            Some(SessionState::Connecting | SessionState::Disconnected) => "CONNECTING",
            Some(SessionState::Connected | SessionState::SaslAuthenticated) => "CONNECTED",
            Some(SessionState::ConnectedReadOnly) => "CONNECTEDREADONLY",
            Some(SessionState::AuthFailed) => "AUTH_FAILED",
            Some(_) => "CLOSED",
        }
    }
}

/// Where watch events go: `None` in one-shot mode (the process ends before any could fire).
#[derive(Debug, Clone)]
pub struct WatchPrinter {
    /// `printwatches on|off`.
    pub enabled: Arc<AtomicBool>,
}

impl WatchPrinter {
    /// Prints a node event as zkCli.sh does (`WATCHER::` and the `WatchedEvent` line).
    pub fn print(&self, event: &WatchedEvent) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let path = if event.event_type == EventType::None && event.path.is_empty() {
            "null"
        } else {
            event.path.as_str()
        };
        let mut out = std::io::stdout().lock();
        let _ = write!(
            out,
            "\nWATCHER::\n\nWatchedEvent state:{} type:{} path:{}\n",
            event.state.name(),
            event.event_type.name(),
            path
        );
        let _ = out.flush();
    }

    fn spawn_oneshot(&self, watcher: OneshotWatcher) {
        let printer = self.clone();
        tokio::spawn(async move {
            let event = watcher.await;
            // A session end is not a node event; zkCli.sh reports it once, not per watch.
            if event.event_type != EventType::None {
                printer.print(&event);
            }
        });
    }
}

/// What a command writes to.
pub struct Io<'a> {
    /// Standard output.
    pub out: &'a mut dyn Write,
    /// Standard error (warnings that do not end the command).
    pub err: &'a mut dyn Write,
    /// Watch event sink, when watches can fire (interactive mode).
    pub watches: Option<WatchPrinter>,
}

impl std::fmt::Debug for Io<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Io").finish_non_exhaustive()
    }
}

impl Io<'_> {
    fn line(&mut self, text: &str) -> CmdResult {
        writeln!(self.out, "{text}").map_err(|e| CmdError::new(format!("writing output: {e}")))
    }

    fn text(&mut self, text: &str) -> CmdResult {
        write!(self.out, "{text}").map_err(|e| CmdError::new(format!("writing output: {e}")))
    }

    fn warn(&mut self, text: &str) {
        let _ = writeln!(self.err, "{text}");
    }
}

/// A ZooKeeper command: name, usage (as zkCli.sh prints it) and options.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    /// The command word.
    pub name: &'static str,
    /// Arguments, as in zkCli.sh's usage text.
    pub usage: &'static str,
    opts: &'static [OptSpec],
}

impl CommandSpec {
    /// `name usage`, zkCli.sh's usage line for the command.
    pub fn usage_line(&self) -> String {
        format!("{} {}", self.name, self.usage)
    }

    fn usage_error(&self) -> CmdError {
        CmdError::new(self.usage_line())
    }
}

const fn spec(name: &'static str, usage: &'static str, opts: &'static [OptSpec]) -> CommandSpec {
    CommandSpec { name, usage, opts }
}

/// Every ZooKeeper command zkcli implements (the shell adds `connect`, `close`, `quit`,
/// `history`, `redo`, `printwatches`, `help`).
pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "addWatch",
        "[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE",
        &[('m', true)],
    ),
    spec("addauth", "scheme auth", &[]),
    spec("config", "[-c] [-w] [-s]", &[('c', false), ('w', false), ('s', false)]),
    spec(
        "create",
        "[-s] [-e] [-c] [-t ttl] path [data] [acl]",
        &[('e', false), ('s', false), ('c', false), ('t', true)],
    ),
    spec(
        "delquota",
        "[-n|-b|-N|-B] path",
        &[('n', false), ('b', false), ('N', false), ('B', false)],
    ),
    spec("delete", "[-v version] path", &[('v', true)]),
    spec("deleteall", "path [-b batch size]", &[('b', true)]),
    spec("get", "[-s] [-w] path", &[('s', false), ('w', false)]),
    spec("getAcl", "[-s] path", &[('s', false)]),
    spec("getAllChildrenNumber", "path", &[]),
    spec("getEphemerals", "path", &[]),
    spec("listquota", "path", &[]),
    spec(
        "ls",
        "[-s] [-w] [-R] path",
        &[('?', false), ('s', false), ('w', false), ('R', false)],
    ),
    spec("set", "[-s] [-v version] path data", &[('s', false), ('v', true)]),
    spec(
        "setAcl",
        "[-s] [-v version] [-R] path acl",
        &[('s', false), ('v', true), ('R', false)],
    ),
    spec(
        "setquota",
        "-n|-b|-N|-B val path",
        &[('n', true), ('b', true), ('N', true), ('B', true)],
    ),
    spec("stat", "[-w] path", &[('w', false)]),
    spec("sync", "path", &[]),
    spec("version", "", &[]),
    spec("whoami", "", &[]),
];

/// The spec of a ZooKeeper command, if `name` is one.
pub fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// Runs ZooKeeper command `tokens[0]` (which [`find`] knows).
pub async fn run(
    spec: &CommandSpec,
    tokens: &[String],
    conn: &mut Connection,
    io: &mut Io<'_>,
) -> CmdResult {
    let mut tokens = tokens.to_vec();
    let p = parse(&tokens, spec.opts).map_err(CmdError::new)?;
    // `ls|get|stat path watch` is the pre-3.5 spelling of `-w`; zkCli.sh still accepts it.
    let p = if matches!(spec.name, "ls" | "get" | "stat") && p.args.len() > 2 {
        let hint = match spec.name {
            "get" => "get [-s] [-w] path",
            "ls" => "ls [-w] path",
            _ => "stat [-w] path",
        };
        io.warn(&format!(
            "'{} path [watch]' has been deprecated. Please use '{hint}' instead.",
            spec.name
        ));
        if let Some(t) = tokens.get_mut(2) {
            "-w".clone_into(t);
        }
        parse(&tokens, spec.opts).map_err(CmdError::new)?
    } else {
        p
    };
    match spec.name {
        "addWatch" => add_watch(spec, &p, conn, io).await,
        "addauth" => addauth(spec, &p, conn).await,
        "config" => config(&p, conn, io).await,
        "create" => create(spec, &p, conn, io).await,
        "delete" => delete(spec, &p, conn).await,
        "deleteall" => deleteall(spec, &p, conn).await,
        "delquota" => quota::del_quota(spec, &p, conn, io).await,
        "get" => get(spec, &p, conn, io).await,
        "getAcl" => get_acl(spec, &p, conn, io).await,
        "getAllChildrenNumber" => {
            let path = path_arg(spec, &p, 1)?;
            let client = conn.client().await?;
            let n = client
                .get_all_children_number(path)
                .await
                .map_err(|e| CmdError::zk(&e, path))?;
            io.line(&n.to_string())
        }
        "getEphemerals" => get_ephemerals(&p, conn, io).await,
        "listquota" => quota::list_quota(spec, &p, conn, io).await,
        "ls" => ls(spec, &p, conn, io).await,
        "set" => set(spec, &p, conn, io).await,
        "setAcl" => set_acl(spec, &p, conn, io).await,
        "setquota" => quota::set_quota(spec, &p, conn, io).await,
        "stat" => stat(spec, &p, conn, io).await,
        "sync" => {
            let path = path_arg(spec, &p, 1)?;
            let client = conn.client().await?;
            client
                .sync(path)
                .await
                .map_err(|e| CmdError::zk(&e, path))?;
            io.line("Sync is OK")
        }
        "version" => io.line(&format!(
            "ZooKeeper CLI version: zkcli (zk-rs) {}",
            env!("CARGO_PKG_VERSION")
        )),
        "whoami" => {
            let client = conn.client().await?;
            let infos = client.who_am_i().await.map_err(|e| CmdError::zk(&e, ""))?;
            io.line("Auth scheme: User")?;
            for info in infos {
                io.line(&format!("{}: {}", info.auth_scheme, info.user))?;
            }
            Ok(())
        }
        other => Err(CmdError::new(format!("Command not found {other}"))),
    }
}

/// Positional argument `i`, a valid path; the usage text when it is missing.
fn path_arg<'p>(spec: &CommandSpec, p: &'p Parsed, i: usize) -> Result<&'p str, CmdError> {
    let path = p.arg(i).ok_or_else(|| spec.usage_error())?;
    check_path(path).map_err(CmdError::new)?;
    Ok(path)
}

fn int_opt(p: &Parsed, name: char) -> Result<Option<i32>, CmdError> {
    p.value(name)
        .map(|v| {
            v.trim()
                .parse::<i32>()
                .map_err(|_| CmdError::new(format!("-{name} argument must be an int value")))
        })
        .transpose()
}

fn print_stat(io: &mut Io<'_>, stat: &Stat) -> CmdResult {
    io.text(&stat_block(stat))
}

async fn ls(spec: &CommandSpec, p: &Parsed, conn: &mut Connection, io: &mut Io<'_>) -> CmdResult {
    if p.has('?') {
        io.line("usage: ls [options] path\n -?   help\n -R   recurse\n -s   stat\n -w   watch")?;
    }
    let path = path_arg(spec, p, 1)?;
    let client = conn.client().await?;
    let watch = p.has('w') && io.watches.is_some();
    if p.has('R') {
        return ls_recursive(&client, path, io).await;
    }
    let (mut children, stat) = if watch {
        let (children, stat, watcher) = client
            .get_children_watch(path)
            .await
            .map_err(|e| CmdError::zk(&e, path))?;
        if let Some(w) = &io.watches {
            w.spawn_oneshot(watcher);
        }
        (children, Some(stat))
    } else if p.has('s') {
        let (children, stat) = client
            .get_children_with_stat(path)
            .await
            .map_err(|e| CmdError::zk(&e, path))?;
        (children, Some(stat))
    } else {
        let children = client
            .get_children(path)
            .await
            .map_err(|e| CmdError::zk(&e, path))?;
        (children, None)
    };
    children.sort();
    io.line(&format!("[{}]", children.join(", ")))?;
    match stat {
        Some(stat) if p.has('s') => print_stat(io, &stat),
        _ => Ok(()),
    }
}

/// `ZKUtil.visitSubTreeDFS`: the node, then for each node its sorted children's paths, then
/// each child's subtree in turn. Nodes deleted meanwhile are skipped.
async fn visit_subtree(
    client: &Client,
    root: &str,
    mut visit: impl FnMut(&str) -> CmdResult,
) -> CmdResult {
    // Java reads the root's data first: a missing or unreadable root fails the command.
    client
        .get_data(root)
        .await
        .map_err(|e| CmdError::zk(&e, root))?;
    visit(root)?;
    let mut stack = vec![root.to_owned()];
    while let Some(node) = stack.pop() {
        let mut children = match client.get_children(&node).await {
            Ok(children) => children,
            Err(e) if e == ErrorKind::NoNode => continue,
            Err(e) => return Err(CmdError::zk(&e, &node)),
        };
        children.sort();
        let paths: Vec<String> = children.iter().map(|c| child_path(&node, c)).collect();
        for path in &paths {
            visit(path)?;
        }
        stack.extend(paths.into_iter().rev());
    }
    Ok(())
}

fn child_path(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

async fn ls_recursive(client: &Client, path: &str, io: &mut Io<'_>) -> CmdResult {
    visit_subtree(client, path, |p| io.line(p)).await
}

async fn get(spec: &CommandSpec, p: &Parsed, conn: &mut Connection, io: &mut Io<'_>) -> CmdResult {
    let path = path_arg(spec, p, 1)?;
    let client = conn.client().await?;
    let (data, stat) = match &io.watches {
        Some(w) if p.has('w') => {
            let (data, stat, watcher) = client
                .get_data_watch(path)
                .await
                .map_err(|e| CmdError::zk(&e, path))?;
            w.spawn_oneshot(watcher);
            (data, stat)
        }
        _ => client
            .get_data(path)
            .await
            .map_err(|e| CmdError::zk(&e, path))?,
    };
    io.line(&String::from_utf8_lossy(&data))?;
    if p.has('s') {
        print_stat(io, &stat)?;
    }
    Ok(())
}

async fn stat(spec: &CommandSpec, p: &Parsed, conn: &mut Connection, io: &mut Io<'_>) -> CmdResult {
    let path = path_arg(spec, p, 1)?;
    let client = conn.client().await?;
    let stat = match &io.watches {
        Some(w) if p.has('w') => {
            let (stat, watcher) = client
                .exists_watch(path)
                .await
                .map_err(|e| CmdError::zk(&e, path))?;
            w.spawn_oneshot(watcher);
            stat
        }
        _ => client
            .exists(path)
            .await
            .map_err(|e| CmdError::zk(&e, path))?,
    };
    let stat = stat.ok_or_else(|| CmdError::zk(&ErrorKind::NoNode.into(), path))?;
    print_stat(io, &stat)
}

async fn set(spec: &CommandSpec, p: &Parsed, conn: &mut Connection, io: &mut Io<'_>) -> CmdResult {
    if p.args.len() < 3 {
        return Err(spec.usage_error());
    }
    let path = path_arg(spec, p, 1)?;
    let version = int_opt(p, 'v')?;
    let client = conn.client().await?;
    let stat = client
        .set_data(path, p.args[2].as_bytes(), version)
        .await
        .map_err(|e| CmdError::zk(&e, path))?;
    if p.has('s') {
        print_stat(io, &stat)?;
    }
    Ok(())
}

/// The largest TTL (`EphemeralType.MAX_EXTENDED_SERVER_ID`-limited, 40 bits).
const MAX_TTL: i64 = 0xFF_FFFF_FFFF;

async fn create(
    spec: &CommandSpec,
    p: &Parsed,
    conn: &mut Connection,
    io: &mut Io<'_>,
) -> CmdResult {
    if p.args.len() < 2 {
        return Err(spec.usage_error());
    }
    let (e, s, c, t) = (p.has('e'), p.has('s'), p.has('c'), p.has('t'));
    if c && (e || s) {
        return Err(CmdError::new(
            "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.",
        ));
    }
    let ttl = match p.value('t') {
        Some(v) => Some(
            v.trim()
                .parse::<i64>()
                .map_err(|_| CmdError::new("-t argument must be a long value"))?,
        ),
        None => None,
    };
    if t && e {
        return Err(CmdError::new("TTLs cannot be used with Ephemeral znodes"));
    }
    if t && c {
        return Err(CmdError::new("TTLs cannot be used with Container znodes"));
    }
    let mode = match (e, s, c, t) {
        (true, true, _, _) => CreateMode::EphemeralSequential,
        (true, false, _, _) => CreateMode::Ephemeral,
        (false, true, _, true) => CreateMode::PersistentSequentialWithTtl,
        (false, true, _, false) => CreateMode::PersistentSequential,
        (false, false, true, _) => CreateMode::Container,
        (false, false, false, true) => CreateMode::PersistentWithTtl,
        (false, false, false, false) => CreateMode::Persistent,
    };
    if let Some(ttl) = ttl {
        if ttl <= 0 || ttl > MAX_TTL {
            return Err(CmdError::new(format!(
                "ttl must be positive and cannot be larger than: {MAX_TTL}"
            )));
        }
    }
    let path = p.args[1].as_str();
    check_create_path(path, mode.is_sequential()).map_err(CmdError::new)?;
    let data = p.arg(2).unwrap_or("").as_bytes();
    let mut options = CreateOptions::new(mode);
    if let Some(acl) = p.arg(3) {
        options = options.with_acl(parse_acl(acl).map_err(CmdError::new)?);
    }
    if let Some(ttl) = ttl {
        options = options.with_ttl(ttl);
    }
    let client = conn.client().await?;
    let (created, _) = client
        .create(path, data, &options)
        .await
        .map_err(|e| CmdError::zk(&e, path))?;
    io.line(&format!("Created {created}"))
}

async fn delete(spec: &CommandSpec, p: &Parsed, conn: &mut Connection) -> CmdResult {
    let path = path_arg(spec, p, 1)?;
    let version = int_opt(p, 'v')?;
    let client = conn.client().await?;
    client
        .delete(path, version)
        .await
        .map_err(|e| CmdError::zk(&e, path))
}

/// `ZKUtil.listSubTreeBFS`: the node and every descendant, breadth first.
async fn list_subtree_bfs(client: &Client, root: &str) -> Result<Vec<String>, CmdError> {
    let mut tree = vec![root.to_owned()];
    let mut next = 0;
    while next < tree.len() {
        let node = tree[next].clone();
        next += 1;
        let children = client
            .get_children(&node)
            .await
            .map_err(|e| CmdError::zk(&e, &node))?;
        tree.extend(children.iter().map(|c| child_path(&node, c)));
    }
    Ok(tree)
}

async fn deleteall(spec: &CommandSpec, p: &Parsed, conn: &mut Connection) -> CmdResult {
    let path = path_arg(spec, p, 1)?;
    let batch = match p.value('b') {
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&b| b > 0)
            .ok_or_else(|| CmdError::new("-b argument must be an int value"))?,
        None => 1000,
    };
    let client = conn.client().await?;
    let tree = list_subtree_bfs(&client, path).await?;
    // Leaves first, in multis of `batch` deletes, as ZKUtil.deleteRecursive does.
    for chunk in tree.rchunks(batch) {
        let ops = chunk
            .iter()
            .rev()
            .map(|path| Op::Delete {
                path: path.clone(),
                version: None,
            })
            .collect();
        if client.multi(ops).await.is_err() {
            return Err(CmdError::new(
                "Failed to delete some node(s) in the subtree!",
            ));
        }
    }
    Ok(())
}

async fn get_acl(
    spec: &CommandSpec,
    p: &Parsed,
    conn: &mut Connection,
    io: &mut Io<'_>,
) -> CmdResult {
    let path = path_arg(spec, p, 1)?;
    let client = conn.client().await?;
    let (acl, stat) = client
        .get_acl(path)
        .await
        .map_err(|e| CmdError::zk(&e, path))?;
    for entry in &acl {
        io.line(&acl_entry(entry))?;
    }
    if p.has('s') {
        print_stat(io, &stat)?;
    }
    Ok(())
}

async fn set_acl(
    spec: &CommandSpec,
    p: &Parsed,
    conn: &mut Connection,
    io: &mut Io<'_>,
) -> CmdResult {
    if p.args.len() < 3 {
        return Err(spec.usage_error());
    }
    let path = path_arg(spec, p, 1)?;
    let acl = parse_acl(&p.args[2]).map_err(CmdError::new)?;
    let version = int_opt(p, 'v')?;
    let client = conn.client().await?;
    if p.has('R') {
        let mut nodes = Vec::new();
        visit_subtree(&client, path, |n| {
            nodes.push(n.to_owned());
            Ok(())
        })
        .await?;
        let mut failed = 0;
        for node in &nodes {
            if let Err(e) = client.set_acl(node, acl.clone(), version).await {
                io.warn(&error_message(&e, node));
                failed += 1;
            }
        }
        return if failed == 0 {
            Ok(())
        } else {
            Err(CmdError::new(format!(
                "setAcl -R failed on {failed} of {} node(s)",
                nodes.len()
            )))
        };
    }
    let stat = client
        .set_acl(path, acl, version)
        .await
        .map_err(|e| CmdError::zk(&e, path))?;
    if p.has('s') {
        print_stat(io, &stat)?;
    }
    Ok(())
}

async fn addauth(spec: &CommandSpec, p: &Parsed, conn: &mut Connection) -> CmdResult {
    let scheme = p.arg(1).ok_or_else(|| spec.usage_error())?;
    let auth = p.arg(2).unwrap_or("").as_bytes().to_vec();
    let client = conn.client().await?;
    client.add_auth(scheme, auth).await.map_err(|e| {
        CmdError::new(format!(
            "addauth {scheme} failed: {}",
            error_message(&e, "")
        ))
    })
}

async fn get_ephemerals(p: &Parsed, conn: &mut Connection, io: &mut Io<'_>) -> CmdResult {
    let prefix = p.arg(1).unwrap_or("/");
    check_path(prefix).map_err(CmdError::new)?;
    let client = conn.client().await?;
    let mut ephemerals = client
        .get_ephemerals(prefix)
        .await
        .map_err(|e| CmdError::zk(&e, prefix))?;
    ephemerals.sort();
    io.line(&format!("[{}]", ephemerals.join(", ")))
}

async fn config(p: &Parsed, conn: &mut Connection, io: &mut Io<'_>) -> CmdResult {
    let client = conn.client().await?;
    let path = zk_client::CONFIG_NODE;
    let (data, stat) = match &io.watches {
        // The config node is outside any chroot; a watch on it needs the absolute path, which
        // only works without a chroot.
        Some(w) if p.has('w') && client.chroot().is_none() => {
            let (data, stat, watcher) = client
                .get_data_watch(path)
                .await
                .map_err(|e| CmdError::zk(&e, path))?;
            w.spawn_oneshot(watcher);
            (data, stat)
        }
        _ => client
            .get_config()
            .await
            .map_err(|e| CmdError::zk(&e, path))?,
    };
    let text = String::from_utf8_lossy(&data);
    if p.has('c') {
        io.line(&client_config(&text))?;
    } else {
        io.line(&text)?;
    }
    if p.has('s') {
        print_stat(io, &stat)?;
    }
    Ok(())
}

async fn add_watch(
    spec: &CommandSpec,
    p: &Parsed,
    conn: &mut Connection,
    io: &mut Io<'_>,
) -> CmdResult {
    let path = path_arg(spec, p, 1)?;
    let mode = match p.value('m') {
        None => AddWatchMode::PersistentRecursive,
        Some(m) if m.eq_ignore_ascii_case("PERSISTENT") => AddWatchMode::Persistent,
        Some(m) if m.eq_ignore_ascii_case("PERSISTENT_RECURSIVE") => {
            AddWatchMode::PersistentRecursive
        }
        Some(m) => {
            return Err(CmdError::new(format!(
                "Unsupported mode: {m}. Use PERSISTENT or PERSISTENT_RECURSIVE"
            )))
        }
    };
    let client = conn.client().await?;
    let mut watcher = client
        .add_watch(path, mode)
        .await
        .map_err(|e| CmdError::zk(&e, path))?;
    if let Some(printer) = io.watches.clone() {
        tokio::spawn(async move {
            while let Some(event) = watcher.next().await {
                if event.event_type == EventType::None {
                    break;
                }
                printer.print(&event);
            }
        });
    }
    Ok(())
}
