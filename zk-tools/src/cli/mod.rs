//! zkcli: the commands of Apache ZooKeeper's `zkCli.sh` on zk-client, one-shot
//! (`zkcli -server host:port ls /`) or as an interactive shell reading lines from stdin.
//!
//! Output follows zkCli.sh (ZooKeeper 3.8) line for line where it can; see [`HELP`] for the
//! deliberate differences.

mod commands;
mod date;
mod format;
mod opts;

use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zk_client::zk_proto::{EventType, KeeperState};
use zk_client::{SessionState, WatchedEvent};

pub use commands::{CmdError, Connection, COMMANDS};
pub use date::java_date;
pub use format::{acl_entry, error_message, parse_acl, perm_string, stat_block};
pub use opts::split_line;

use commands::{Io, WatchPrinter};

/// Exit status of an unknown command (as zkCli.sh).
const STATUS_NOT_FOUND: i32 = 127;
/// Exit status of bad zkcli arguments.
const STATUS_USAGE: i32 = 2;

/// `zkcli -help`.
pub const HELP: &str = "\
zkcli: the ZooKeeper command-line client of zk-rs, a Rust equivalent of zkCli.sh.

Usage:
  zkcli [-server host:port[,host:port...][/chroot]] [-timeout ms] [-r] CMD [ARGS...]
  zkcli [-server ...] [-timeout ms] [-r]          (interactive shell, reads stdin)

Options (single or double dash):
  -server S    the ensemble to connect to (default localhost:2181)
  -timeout MS  session timeout in ms, also the limit for connecting (default 30000)
  -r           accept a read-only server
  -sasl-user U SASL DIGEST-MD5 login as U on every connection (as zkCli.sh with a JAAS
               Client section using DigestLoginModule); the password comes from
               -sasl-password P or the ZK_SASL_PASSWORD environment variable
  -waitforconnection   accepted for compatibility (zkcli always waits)
  -Dname=value a Java client system property; as with zkCli.sh, the -D flags of the
               CLIENT_JVMFLAGS environment variable count too. TLS (to a secureClientPort):
               -Dzookeeper.client.secure=true -Dzookeeper.ssl.trustStore.location=ca.pem
               [-Dzookeeper.ssl.keyStore.location=client.p12 -Dzookeeper.ssl.keyStore.password=P]
               (also .type, .password of the trust store, zookeeper.ssl.hostnameVerification,
               .protocol, .enabledProtocols, .ciphersuites; stores are PEM or PKCS12)
  -help        this text

Commands (as in zkCli.sh; acl is scheme:id:perms[,...], e.g. world:anyone:cdrwa,
digest:user:hash:rw, ip:10.0.0.1:r, auth::cdrwa):
  ls [-s] [-w] [-R] path           get [-s] [-w] path           stat [-w] path
  set [-s] [-v version] path data  create [-s] [-e] [-c] [-t ttl] path [data] [acl]
  delete [-v version] path         deleteall path [-b batch size]
  getAcl [-s] path                 setAcl [-s] [-v version] [-R] path acl
  addauth scheme auth              sync path          getEphemerals [path]
  getAllChildrenNumber path        whoami             config [-c] [-w] [-s]
  addWatch [-m mode] path          version
  setquota -n|-b|-N|-B val path    listquota path     delquota [-n|-b|-N|-B] path
Shell only: connect [host:port], close, quit, help, history, redo N, printwatches on|off.
Words may be quoted with \"...\" or '...'; `--` ends a command's options.

Exit status: 0 on success; 1 when the command failed (the message is on stderr);
127 for an unknown command; 2 for bad zkcli arguments. Unlike zkCli.sh, every error is
non-zero: zkCli.sh exits 0 when sync fails, when deleteall or setAcl -R fail on some
node, when it is not connected, and after skipping a malformed ACL entry. An interactive
session exits with the status of its last command (as zkCli.sh).

Differences from zkCli.sh, on purpose:
  - `Created /path` goes to stdout (zkCli.sh prints it on stderr), so scripts can capture
    the name of a sequential node; errors and warnings go to stderr.
  - no banner or connection WATCHER:: lines; one-shot output is only the command's.
    The interactive shell prints a prompt only when stdin is a terminal.
  - a malformed ACL entry or unknown permission letter rejects the command (zkCli.sh
    warns and applies the rest); a bad -v number is an error (zkCli.sh crashes).
  - getEphemerals lists paths sorted; setAcl -R reports each failure on its own line.
  - nodes created without data get empty data (zkCli.sh creates null data), and `get`
    prints an empty line for null data where zkCli.sh prints `null`; so do the nodes
    setquota creates on the way to a quota's zookeeper_limits node.
  - the session is closed on exit (zkCli.sh's one-shot mode leaves it to expire, so its
    ephemeral nodes outlive it by the session timeout).
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// The connect string.
    pub server: String,
    /// Session timeout.
    pub timeout: Duration,
    /// Accept read-only servers.
    pub read_only: bool,
    /// SASL DIGEST-MD5 user and password.
    pub sasl: Option<(String, String)>,
    /// The command and its arguments; empty for the interactive shell.
    pub command: Vec<String>,
    /// `-Dname=value` Java system properties, in order (later ones win).
    pub properties: Vec<(String, String)>,
}

impl Args {
    /// The TLS options the properties ask for (`zookeeper.client.secure=true`), with the
    /// `-D` flags of `client_jvm_flags` (zkCli.sh's `CLIENT_JVMFLAGS`) under the command
    /// line's. Fails when a `passwordPath` file cannot be read.
    pub fn tls(
        &self,
        client_jvm_flags: &str,
    ) -> Result<Option<zk_client::TlsOptions>, zk_client::Error> {
        let properties: Vec<(String, String)> = client_jvm_flags
            .split_whitespace()
            .filter_map(crate::java_property)
            .chain(self.properties.iter().cloned())
            .collect();
        crate::tls_from_java_properties(&properties)
    }
}

/// Why the command line was not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsError {
    /// `-help` was asked for.
    Help,
    /// Bad arguments.
    Invalid(String),
}

/// Parses zkcli's arguments: Java-style options (`-server`, `-timeout`, `-r`), then the command.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, ArgsError> {
    let mut parsed = Args {
        server: "localhost:2181".to_owned(),
        timeout: Duration::from_millis(30_000),
        read_only: false,
        sasl: None,
        command: Vec::new(),
        properties: Vec::new(),
    };
    let mut sasl_user = None;
    let mut sasl_password = None;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        if !arg.starts_with('-') {
            parsed.command.push(arg);
            parsed.command.extend(it);
            break;
        }
        if let Some(property) = crate::java_property(&arg) {
            parsed.properties.push(property);
            continue;
        }
        let name = arg.trim_start_matches('-');
        let mut value = || {
            it.next()
                .ok_or_else(|| ArgsError::Invalid(format!("no argument found for option {arg}")))
        };
        match name {
            "server" => parsed.server = value()?,
            "timeout" => {
                let v = value()?;
                let ms: u64 = v
                    .parse()
                    .ok()
                    .filter(|&ms| ms > 0)
                    .ok_or_else(|| ArgsError::Invalid(format!("bad -timeout value {v}")))?;
                parsed.timeout = Duration::from_millis(ms);
            }
            "r" => parsed.read_only = true,
            "sasl-user" => sasl_user = Some(value()?),
            "sasl-password" => sasl_password = Some(value()?),
            "waitforconnection" => {}
            "h" | "help" => return Err(ArgsError::Help),
            "client-configuration" => {
                return Err(ArgsError::Invalid(
                    "-client-configuration is not supported".to_owned(),
                ))
            }
            _ => return Err(ArgsError::Invalid(format!("unknown option {arg}"))),
        }
    }
    parsed.sasl = match (sasl_user, sasl_password) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(ArgsError::Invalid(
                "-sasl-password needs -sasl-user".to_owned(),
            ))
        }
        (Some(user), password) => {
            let password = password
                .or_else(|| std::env::var("ZK_SASL_PASSWORD").ok())
                .ok_or_else(|| {
                    ArgsError::Invalid(
                        "-sasl-user needs -sasl-password or ZK_SASL_PASSWORD".to_owned(),
                    )
                })?;
            Some((user, password))
        }
    };
    Ok(parsed)
}

/// Runs zkcli with these arguments (without the program name); returns the exit status.
pub fn main_with_args(args: impl IntoIterator<Item = String>) -> i32 {
    let args = match parse_args(args) {
        Ok(args) => args,
        Err(ArgsError::Help) => {
            print!("{HELP}");
            return 0;
        }
        Err(ArgsError::Invalid(msg)) => {
            eprintln!("zkcli: {msg}\nRun zkcli -help for usage.");
            return STATUS_USAGE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zkcli: cannot start the runtime: {e}");
            return 1;
        }
    };
    let mut conn = Connection::new(args.server.clone(), args.timeout, args.read_only);
    conn.tls = match args.tls(&std::env::var("CLIENT_JVMFLAGS").unwrap_or_default()) {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("zkcli: {e}");
            return STATUS_USAGE;
        }
    };
    let mut shell = Shell {
        conn: conn.with_sasl(args.sasl.clone()),
        runtime,
        watches: None,
        history: Vec::new(),
        status: 0,
    };
    if args.command.is_empty() {
        shell.interactive()
    } else {
        let status = shell.execute(&args.command);
        shell.runtime.block_on(shell.conn.close());
        status
    }
}

/// The usage list `help` prints (zkCli.sh's format).
fn usage() -> String {
    let mut lines: Vec<String> = COMMANDS.iter().map(|c| c.usage_line()).collect();
    lines.extend(
        [
            "close ",
            "connect host:port",
            "help ",
            "history ",
            "printwatches on|off",
            "quit ",
            "redo cmdno",
        ]
        .map(str::to_owned),
    );
    lines.sort();
    let mut out = "ZooKeeper -server host:port cmd args\n".to_owned();
    for line in lines {
        out.push('\t');
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// One client session and the shell's state.
struct Shell {
    conn: Connection,
    runtime: tokio::runtime::Runtime,
    /// Set in interactive mode, where watches can fire.
    watches: Option<WatchPrinter>,
    history: Vec<String>,
    /// Status of the last command.
    status: i32,
}

impl Shell {
    fn interactive(&mut self) -> i32 {
        let tty = std::io::stdin().is_terminal();
        let printer = WatchPrinter {
            enabled: Arc::new(AtomicBool::new(true)),
        };
        self.watches = Some(printer);
        if tty {
            println!("Connecting to {}", self.conn.server);
            println!("Welcome to zkcli (zk-rs)! Type help for the commands.");
        }
        self.connect();
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            if tty {
                print!(
                    "[zk: {}({}) {}] ",
                    self.conn.server,
                    self.conn.state_name(),
                    self.history.len()
                );
                let _ = std::io::stdout().flush();
            }
            line.clear();
            match stdin.lock().read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    eprintln!("zkcli: reading stdin: {e}");
                    break;
                }
            }
            let words = split_line(line.trim_end_matches(['\n', '\r']));
            if words.is_empty() {
                continue;
            }
            self.history
                .push(line.trim_end_matches(['\n', '\r']).to_owned());
            if words[0] == "quit" {
                self.runtime.block_on(self.conn.close());
                return self.status;
            }
            self.status = self.execute(&words);
        }
        if tty {
            println!();
        }
        self.runtime.block_on(self.conn.close());
        self.status
    }

    /// (Re)connects; in the shell, session state changes are then reported as zkCli.sh's
    /// default watcher does.
    fn connect(&mut self) -> i32 {
        let connected = self.runtime.block_on(self.conn.connect());
        match connected {
            Ok(client) => {
                if let Some(printer) = self.watches.clone() {
                    let mut changes = client.state_changes();
                    self.runtime.spawn(async move {
                        while let Some(state) = changes.next().await {
                            let state = match state {
                                SessionState::Connected => KeeperState::SyncConnected,
                                SessionState::ConnectedReadOnly => KeeperState::ConnectedReadOnly,
                                SessionState::SaslAuthenticated => KeeperState::SaslAuthenticated,
                                SessionState::Disconnected => KeeperState::Disconnected,
                                SessionState::Expired => KeeperState::Expired,
                                SessionState::AuthFailed => KeeperState::AuthFailed,
                                _ => continue,
                            };
                            printer.print(&WatchedEvent {
                                event_type: EventType::None,
                                state,
                                path: String::new(),
                            });
                        }
                    });
                }
                0
            }
            Err(e) => {
                eprintln!("{}", e.message);
                e.status
            }
        }
    }

    /// Runs one command line (already split); prints its output and error; returns its status.
    fn execute(&mut self, words: &[String]) -> i32 {
        let name = words[0].as_str();
        match name {
            "quit" | "close" => {
                self.runtime.block_on(self.conn.close());
                0
            }
            "connect" => {
                if let Some(server) = words.get(1) {
                    self.conn.server = server.clone();
                }
                self.connect()
            }
            "help" => {
                print!("{}", usage());
                0
            }
            "history" => {
                let last = self.history.len().saturating_sub(1);
                for (i, cmd) in self
                    .history
                    .iter()
                    .enumerate()
                    .skip(last.saturating_sub(10))
                {
                    println!("{i} - {cmd}");
                }
                0
            }
            "redo" => {
                let line = words
                    .get(1)
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|&n| n + 1 < self.history.len())
                    .map(|n| self.history[n].clone());
                match line {
                    None => {
                        eprintln!("Command index out of range");
                        1
                    }
                    Some(line) => {
                        let words = split_line(&line);
                        if words.first().is_some_and(|w| w == "redo") {
                            eprintln!("No redoing redos");
                            return 1;
                        }
                        if let Some(last) = self.history.last_mut() {
                            last.clone_from(&line);
                        }
                        self.execute(&words)
                    }
                }
            }
            "printwatches" => {
                let enabled = self
                    .watches
                    .as_ref()
                    .map(|w| w.enabled.clone())
                    .unwrap_or_default();
                match words.get(1).map(String::as_str) {
                    None => println!(
                        "printwatches is {}",
                        if enabled.load(Ordering::Relaxed) {
                            "on"
                        } else {
                            "off"
                        }
                    ),
                    Some(v) => enabled.store(v == "on", Ordering::Relaxed),
                }
                0
            }
            _ => match commands::find(name) {
                Some(spec) => {
                    let mut out = std::io::stdout();
                    let mut err = std::io::stderr();
                    let mut io = Io {
                        out: &mut out,
                        err: &mut err,
                        watches: self.watches.clone(),
                    };
                    let result =
                        self.runtime
                            .block_on(commands::run(spec, words, &mut self.conn, &mut io));
                    let _ = out.flush();
                    match result {
                        Ok(()) => 0,
                        Err(e) => {
                            eprintln!("{}", e.message);
                            e.status
                        }
                    }
                }
                None => {
                    eprintln!("Command not found: {name}\nType help for the list of commands.");
                    STATUS_NOT_FOUND
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_java_style_arguments() {
        let a = parse_args(strings(&[
            "-server",
            "h:1,h:2/app",
            "-timeout",
            "5000",
            "ls",
            "-s",
            "/",
        ]))
        .unwrap();
        assert_eq!(a.server, "h:1,h:2/app");
        assert_eq!(a.timeout, Duration::from_secs(5));
        assert_eq!(a.command, ["ls", "-s", "/"]);
        let a = parse_args(strings(&["--server", "h:1"])).unwrap();
        assert!(a.command.is_empty());
        assert_eq!(parse_args(strings(&["-help"])), Err(ArgsError::Help));
        let a = parse_args(strings(&[
            "-sasl-user",
            "bob",
            "--sasl-password",
            "pw",
            "ls",
            "/",
        ]))
        .unwrap();
        assert_eq!(a.sasl, Some(("bob".to_owned(), "pw".to_owned())));
        assert_eq!(a.command, ["ls", "/"]);
        assert!(parse_args(strings(&["-sasl-password", "pw", "ls"])).is_err());
        assert!(parse_args(strings(&["-server"])).is_err());
        assert!(parse_args(strings(&["-x", "ls"])).is_err());
    }

    #[test]
    fn java_system_properties_ask_for_tls() {
        let a = parse_args(strings(&[
            "-Dzookeeper.client.secure=true",
            "-server",
            "h:2281",
            "-Dzookeeper.ssl.trustStore.location=ca.pem",
            "ls",
            "/",
        ]))
        .unwrap();
        assert_eq!(a.command, ["ls", "/"]);
        assert_eq!(a.properties.len(), 2);
        assert!(a.tls("").unwrap().is_some());
        // CLIENT_JVMFLAGS counts too, under the command line.
        let plain = parse_args(strings(&["ls", "/"])).unwrap();
        assert!(plain.tls("").unwrap().is_none());
        assert!(plain
            .tls("-Xmx1g -Dzookeeper.client.secure=true")
            .unwrap()
            .is_some());
        let off = parse_args(strings(&["-Dzookeeper.client.secure=false", "ls"])).unwrap();
        assert!(off.tls("-Dzookeeper.client.secure=true").unwrap().is_none());
    }

    #[test]
    fn usage_lists_commands_sorted() {
        let u = usage();
        assert!(u.contains("\tls [-s] [-w] [-R] path\n"), "{u}");
        assert!(u.contains("\tcreate [-s] [-e] [-c] [-t ttl] path [data] [acl]\n"));
    }
}
