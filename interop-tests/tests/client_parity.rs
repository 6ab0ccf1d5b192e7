//! Stat parity with the Java client: the same script of operations (creates in every mode,
//! sequential creates, setData with versions, deletes, setACL, multis, failing steps, and four
//! reads after each step) runs once with the Java ZooKeeper client (`java/StatSteps.java`, under
//! `/java`) and once with zk-client (here, under `/rust`) against the same Java 3.8 server. Both
//! print one line per step in the same format; the transcripts must match line by line.
//!
//! Normalisation (see [`normalise`]):
//!
//! - zxids are rewritten relative to the first zxid of the transcript (the root's czxid), so
//!   `cz=#4294967302` becomes `cz=z+0`. The two runs issue exactly the same transactions
//!   (failed writes take a zxid too) and nothing else writes meanwhile (the container/TTL
//!   reaper is slowed down to once an hour), so every relative zxid must be equal; an extra,
//!   missing or reordered transaction, or a Stat field decoded into the wrong slot, shows up as
//!   a difference. A constant offset would not, so absolute values are anchored separately:
//!   zk-client reading a node the Java run wrote must see the raw numbers Java printed, and
//!   the last zxid zk-client saw must be the server's (`srvr`).
//! - times are not compared; each side prints `t=ok` when ctime > 0, ctime <= mtime and both
//!   fall within that run's window (plus 2 s of slack).
//! - `data=null` (Java's getData of a node with null data) is taken as `data=""` (zk-client
//!   returns empty bytes): a documented, intended difference, listed in the test output.
//!
//! Everything else, including error codes of failing steps and client-side rejections, must
//! match exactly.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use interop_tests::{JavaProgram, JavaZkServer};
use zk_client::{Client, CreateOptions, Error, ErrorKind, Op, OpResult};
use zk_proto::data::{Acl, Id, Stat};
use zk_proto::{perms, CreateMode};

/// TTL for the TTL nodes of the script (long enough never to expire during the test).
const TTL_MS: i64 = 3_600_000;
/// Slack around a run's time window.
const TIME_SLACK_MS: i64 = 2000;
/// Bound on any single client operation.
const OP_WAIT: Duration = Duration::from_secs(20);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(OP_WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The Rust twin of `StatSteps.java`: the same steps, the same line format.
struct Script {
    zk: Client,
    root: String,
    session_id: i64,
    window_start: i64,
    lines: Vec<String>,
}

impl Script {
    fn rel(&self, path: &str) -> String {
        if path == self.root {
            "R".to_owned()
        } else if let Some(rest) = path.strip_prefix(&format!("{}/", self.root)) {
            format!("R/{rest}")
        } else {
            path.to_owned()
        }
    }

    fn stat(&self, s: &Stat) -> String {
        let now = now_ms() + TIME_SLACK_MS;
        let times_ok =
            s.ctime > 0 && s.ctime <= s.mtime && s.ctime >= self.window_start && s.mtime <= now;
        let times = if times_ok {
            "ok".to_owned()
        } else {
            format!("BAD({},{})", s.ctime, s.mtime)
        };
        let owner = if s.ephemeral_owner == 0 {
            "0"
        } else if s.ephemeral_owner == self.session_id {
            "self"
        } else {
            "other"
        };
        format!(
            "{{cz=#{} mz=#{} pz=#{} t={times} v={} cv={} av={} eo={owner} dl={} nc={}}}",
            s.czxid,
            s.mzxid,
            s.pzxid,
            s.version,
            s.cversion,
            s.aversion,
            s.data_length,
            s.num_children
        )
    }

    fn push(&mut self, label: &str, result: Result<String, Error>) {
        let text = match result {
            Ok(text) => text,
            Err(e) => err_text(&e),
        };
        self.lines.push(format!("{label} -> {text}"));
    }

    async fn create_raw(
        &self,
        path: &str,
        data: Option<&str>,
        acl: Vec<Acl>,
        mode: CreateMode,
        ttl: Option<i64>,
    ) -> Result<(String, Stat), Error> {
        let mut options = CreateOptions::new(mode).with_acl(acl);
        if let Some(ttl) = ttl {
            options = options.with_ttl(ttl);
        }
        // Java sends null data here; zk-client has no null data and sends empty bytes.
        let data = data.unwrap_or("").as_bytes();
        within("create", self.zk.create(path, data, &options)).await
    }

    async fn create(
        &mut self,
        label: &str,
        path: &str,
        data: Option<&str>,
        acl: Vec<Acl>,
        mode: CreateMode,
        ttl: Option<i64>,
    ) -> Option<String> {
        let result = self.create_raw(path, data, acl, mode, ttl).await;
        let created = result.as_ref().ok().map(|(p, _)| p.clone());
        let text = result.map(|(p, s)| format!("path={} {}", self.rel(&p), self.stat(&s)));
        self.push(label, text);
        created
    }

    async fn set_data(&mut self, label: &str, path: &str, data: &str, version: i32) {
        let result = within(
            "setData",
            self.zk
                .set_data(path, data.as_bytes(), version_opt(version)),
        )
        .await
        .map(|s| self.stat(&s));
        self.push(label, result);
    }

    async fn delete(&mut self, label: &str, path: &str, version: i32) {
        let result = within("delete", self.zk.delete(path, version_opt(version)))
            .await
            .map(|()| "ok".to_owned());
        self.push(label, result);
    }

    async fn set_acl(&mut self, label: &str, path: &str, acl: Vec<Acl>, version: i32) {
        let result = within("setACL", self.zk.set_acl(path, acl, version_opt(version)))
            .await
            .map(|s| self.stat(&s));
        self.push(label, result);
    }

    async fn multi(&mut self, label: &str, ops: Vec<Op>) {
        let text = match within("multi", self.zk.multi(ops))
            .await
            .map_err(Error::into_kind)
        {
            Ok(results) => {
                let out: Vec<String> = results.iter().map(|r| self.op_result(r)).collect();
                format!("results=[{}]", out.join(", "))
            }
            Err(ErrorKind::MultiFailed {
                index,
                code,
                results,
            }) => {
                let codes: Vec<&str> = results.iter().map(|c| c.name()).collect();
                format!(
                    "err={}({}) at={index} results=[{}]",
                    code.name(),
                    code.code(),
                    codes.join(", ")
                )
            }
            Err(e) => err_text(&Error::from(e)),
        };
        self.lines.push(format!("{label} -> {text}"));
    }

    fn op_result(&self, r: &OpResult) -> String {
        match r {
            OpResult::Create { path, stat } => format!(
                "create({}{})",
                self.rel(path),
                stat.as_ref()
                    .map(|s| format!(" {}", self.stat(s)))
                    .unwrap_or_default()
            ),
            OpResult::SetData(s) => format!("setData({})", self.stat(s)),
            OpResult::Delete => "delete".to_owned(),
            OpResult::Check => "check".to_owned(),
        }
    }

    /// Reads `path` four ways and records each answer.
    async fn inspect(&mut self, path: &str) {
        let p = self.rel(path);
        let r = within("getData", self.zk.get_data(path))
            .await
            .map(|(data, s)| format!("data={} {}", quote(&data), self.stat(&s)));
        self.push(&format!("  getData {p}"), r);
        let r = within("exists", self.zk.exists(path))
            .await
            .map(|s| s.map_or_else(|| "null".to_owned(), |s| self.stat(&s)));
        self.push(&format!("  exists {p}"), r);
        let r = within("getChildren2", self.zk.get_children_with_stat(path))
            .await
            .map(|(mut kids, s)| {
                kids.sort();
                format!("children=[{}] {}", kids.join(", "), self.stat(&s))
            });
        self.push(&format!("  getChildren2 {p}"), r);
        let r = within("getACL", self.zk.get_acl(path))
            .await
            .map(|(acl, s)| {
                let acl: Vec<String> = acl
                    .iter()
                    .map(|a| format!("{}:{}:{}", a.perms, a.id.scheme, a.id.id))
                    .collect();
                format!("acl=[{}] {}", acl.join(", "), self.stat(&s))
            });
        self.push(&format!("  getACL {p}"), r);
    }

    /// The script of `StatSteps.java`, step for step.
    async fn run(&mut self) {
        let r = self.root.clone();
        let r = r.as_str();
        let all = Acl::open_unsafe();
        let read_admin = world_acl(perms::READ | perms::ADMIN);
        let read_only = world_acl(perms::READ);
        use CreateMode::*;

        self.create(
            "S01 create R persistent",
            r,
            Some("root"),
            all.clone(),
            Persistent,
            None,
        )
        .await;
        self.inspect(r).await;
        let p = format!("{r}/p");
        self.create(
            "S02 create R/p persistent",
            &p,
            Some("p1"),
            all.clone(),
            Persistent,
            None,
        )
        .await;
        self.inspect(&p).await;
        self.inspect(r).await;
        let e = format!("{r}/e");
        self.create(
            "S03 create R/e ephemeral",
            &e,
            Some("e"),
            all.clone(),
            Ephemeral,
            None,
        )
        .await;
        self.inspect(&e).await;
        let seq = self
            .create(
                "S04 create R/s- persistent_sequential",
                &format!("{r}/s-"),
                Some("s"),
                all.clone(),
                PersistentSequential,
                None,
            )
            .await
            .unwrap_or_default();
        self.inspect(&seq).await;
        self.inspect(r).await;
        let eseq = self
            .create(
                "S05 create R/es- ephemeral_sequential",
                &format!("{r}/es-"),
                Some("es"),
                all.clone(),
                EphemeralSequential,
                None,
            )
            .await
            .unwrap_or_default();
        self.inspect(&eseq).await;
        let c = format!("{r}/c");
        self.create(
            "S06 create R/c container",
            &c,
            Some("c"),
            all.clone(),
            Container,
            None,
        )
        .await;
        self.inspect(&c).await;
        let t = format!("{r}/t");
        self.create(
            "S07 create R/t persistent_with_ttl",
            &t,
            Some("t"),
            all.clone(),
            PersistentWithTtl,
            Some(TTL_MS),
        )
        .await;
        self.inspect(&t).await;
        let tseq = self
            .create(
                "S08 create R/ts- persistent_sequential_with_ttl",
                &format!("{r}/ts-"),
                Some("ts"),
                all.clone(),
                PersistentSequentialWithTtl,
                Some(TTL_MS),
            )
            .await
            .unwrap_or_default();
        self.inspect(&tseq).await;
        self.inspect(r).await;
        let n = format!("{r}/n");
        self.create(
            "S09 create R/n persistent null-data",
            &n,
            None,
            all.clone(),
            Persistent,
            None,
        )
        .await;
        self.inspect(&n).await;
        self.create(
            "S10 create R/c/k1 persistent",
            &format!("{r}/c/k1"),
            Some("k1"),
            all.clone(),
            Persistent,
            None,
        )
        .await;
        self.create(
            "S11 create R/c/k2 ephemeral",
            &format!("{r}/c/k2"),
            Some("k2"),
            all.clone(),
            Ephemeral,
            None,
        )
        .await;
        self.inspect(&c).await;
        let mut x = Vec::new();
        for i in 0..2 {
            let created = self
                .create(
                    &format!("S12 create R/p/x- persistent_sequential ({i})"),
                    &format!("{r}/p/x-"),
                    Some(&format!("x{i}")),
                    all.clone(),
                    PersistentSequential,
                    None,
                )
                .await;
            x.push(created.unwrap_or_default());
        }
        self.inspect(&p).await;

        self.set_data("S14 setData R/p v0", &p, "p2", 0).await;
        // The reply's zxid (the client's last zxid seen) is the new mzxid.
        self.check_last_zxid_is_mzxid(&p).await;
        self.inspect(&p).await;
        self.set_data("S15 setData R/p any", &p, "p3", -1).await;
        self.set_data("S16 setData R/p v7", &p, "bad", 7).await;
        self.inspect(&p).await;
        self.set_data("S17 setData R/missing", &format!("{r}/missing"), "", -1)
            .await;
        self.set_data("S18 setData R/n null-data v0", &n, "", 0)
            .await;
        self.inspect(&n).await;
        self.set_data("S19 setData R/t any", &t, "t2", -1).await;
        self.inspect(&t).await;

        self.delete("S20 delete R/p/x-0 v0", &x[0], 0).await;
        self.inspect(&p).await;
        self.delete("S21 delete R/p/x-1 v5", &x[1], 5).await;
        self.delete("S22 delete R/p any", &p, -1).await;
        self.delete("S23 delete R/c/k1 any", &format!("{r}/c/k1"), -1)
            .await;
        self.delete("S24 delete R/c/k2 v0", &format!("{r}/c/k2"), 0)
            .await;
        self.inspect(&c).await;
        self.delete("S25 delete R/missing", &format!("{r}/missing"), -1)
            .await;
        self.delete("S26 delete R/s-N v0", &seq, 0).await;
        self.inspect(r).await;

        self.set_acl("S27 setACL R/p all v0", &p, all.clone(), 0)
            .await;
        self.inspect(&p).await;
        self.set_acl("S28 setACL R/p all v0 again", &p, all.clone(), 0)
            .await;
        self.set_acl("S29 setACL R/p read+admin v1", &p, read_admin, 1)
            .await;
        self.set_data("S30 setData R/p without write", &p, "x", -1)
            .await;
        self.set_acl("S31 setACL R/p read v2", &p, read_only, 2)
            .await;
        self.set_acl("S32 setACL R/p all v3 without admin", &p, all.clone(), 3)
            .await;
        self.inspect(&p).await;
        self.set_acl("S33 setACL R/t empty", &t, Vec::new(), -1)
            .await;
        self.set_acl(
            "S34 setACL R/missing",
            &format!("{r}/missing"),
            all.clone(),
            -1,
        )
        .await;

        let m = format!("{r}/m");
        let create = |path: String, data: &str, mode: CreateMode, ttl: Option<i64>| {
            let mut options = CreateOptions::new(mode);
            if let Some(ttl) = ttl {
                options = options.with_ttl(ttl);
            }
            Op::Create {
                path,
                data: data.as_bytes().to_vec().into(),
                options,
            }
        };
        self.multi(
            "S35 multi ok",
            vec![
                create(m.clone(), "1", Persistent, None),
                Op::SetData {
                    path: m.clone(),
                    data: b"2".to_vec().into(),
                    version: Some(0),
                },
                Op::Check {
                    path: m.clone(),
                    version: 1,
                },
                create(format!("{r}/mc"), "mc", Container, None),
                create(format!("{r}/ms-"), "ms", PersistentSequential, None),
                create(format!("{r}/mt"), "mt", PersistentWithTtl, Some(TTL_MS)),
                Op::Delete {
                    path: t.clone(),
                    version: Some(1),
                },
                create(format!("{r}/me"), "me", Ephemeral, None),
            ],
        )
        .await;
        self.inspect(&m).await;
        self.inspect(&format!("{r}/mc")).await;
        self.inspect(&format!("{r}/mt")).await;
        self.inspect(&format!("{r}/me")).await;
        self.inspect(r).await;
        self.multi(
            "S36 multi failing at 1",
            vec![
                create(format!("{r}/m2"), "", Persistent, None),
                Op::Delete {
                    path: format!("{r}/missing"),
                    version: None,
                },
                Op::SetData {
                    path: m.clone(),
                    data: b"x".to_vec().into(),
                    version: None,
                },
            ],
        )
        .await;
        self.inspect(&format!("{r}/m2")).await;
        self.inspect(&m).await;
        self.multi(
            "S37 multi failing at 0",
            vec![
                Op::Check {
                    path: m.clone(),
                    version: 0,
                },
                create(format!("{r}/m3"), "", Persistent, None),
            ],
        )
        .await;
        self.inspect(r).await;

        self.create(
            "S38 create R exists",
            r,
            Some(""),
            all.clone(),
            Persistent,
            None,
        )
        .await;
        self.create(
            "S39 create R/nope/x",
            &format!("{r}/nope/x"),
            Some(""),
            all.clone(),
            Persistent,
            None,
        )
        .await;
        self.create(
            "S40 create R/e/kid",
            &format!("{r}/e/kid"),
            Some(""),
            all.clone(),
            Persistent,
            None,
        )
        .await;
        self.create(
            "S41 create R/aa creator_all unauthenticated",
            &format!("{r}/aa"),
            Some(""),
            Acl::creator_all(),
            Persistent,
            None,
        )
        .await;
        self.create(
            "S42 create R/ea empty acl",
            &format!("{r}/ea"),
            Some(""),
            Vec::new(),
            Persistent,
            None,
        )
        .await;
        self.create(
            "S43 create R/p/kid without create",
            &format!("{r}/p/kid"),
            Some(""),
            all.clone(),
            Persistent,
            None,
        )
        .await;
        let dup = format!("{r}/dup");
        self.create(
            "S44a create R/dup",
            &dup,
            Some("d"),
            all.clone(),
            Persistent,
            None,
        )
        .await;
        self.create(
            "S44b create R/dup again",
            &dup,
            Some("d"),
            all.clone(),
            Persistent,
            None,
        )
        .await;

        self.inspect(&format!("{r}/missing")).await;
        self.inspect(&e).await;
        let result = within("getEphemerals", self.zk.get_ephemerals(r))
            .await
            .map(|mut eph| {
                eph.sort();
                let eph: Vec<String> = eph.iter().map(|p| self.rel(p)).collect();
                format!("ephemerals=[{}]", eph.join(", "))
            });
        self.push("S45 getEphemerals R", result);
        let result = within("getAllChildrenNumber", self.zk.get_all_children_number(r))
            .await
            .map(|count| format!("count={count}"));
        self.push("S46 getAllChildrenNumber R", result);
        self.inspect(r).await;
        let result = within("getData", self.zk.get_data(&m))
            .await
            .map(|(_, s)| raw_stat(&s));
        self.push("RAW R/m", result);
        self.create(
            "S99 create R/t0 ttl 0",
            &format!("{r}/t0"),
            Some(""),
            all.clone(),
            PersistentWithTtl,
            Some(0),
        )
        .await;
    }

    /// After a write, the client's last zxid seen is that reply's zxid: the node's mzxid.
    async fn check_last_zxid_is_mzxid(&self, path: &str) {
        let (_, stat) = within("getData", self.zk.get_data(path))
            .await
            .expect("getData after setData");
        // The session info is published just after the reply is handed over: allow a moment.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while self.zk.session().last_zxid_seen < stat.mzxid
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            self.zk.session().last_zxid_seen,
            stat.mzxid,
            "last zxid seen after a setData and a read must be the setData's zxid"
        );
    }
}

fn version_opt(version: i32) -> Option<i32> {
    (version != -1).then_some(version)
}

fn world_acl(perms: i32) -> Vec<Acl> {
    vec![Acl::new(perms, Id::anyone())]
}

fn quote(data: &[u8]) -> String {
    format!("\"{}\"", String::from_utf8_lossy(data))
}

fn raw_stat(s: &Stat) -> String {
    format!(
        "{},{},{},{},{},{},{},{},{},{},{}",
        s.czxid,
        s.mzxid,
        s.ctime,
        s.mtime,
        s.version,
        s.cversion,
        s.aversion,
        s.ephemeral_owner,
        s.data_length,
        s.num_children,
        s.pzxid
    )
}

/// The Java side's text for an error: `NAME(code)` as `KeeperException.Code` spells it, and
/// Java's client-side `IllegalArgumentException` for what zk-client rejects before sending.
fn err_text(e: &Error) -> String {
    match e.kind() {
        ErrorKind::InvalidArgument(_) | ErrorKind::InvalidPath(_) => {
            "err=local:IllegalArgumentException".to_owned()
        }
        other => match other.code() {
            Some(code) => format!("err={}({})", code.name(), code.code()),
            None => format!("err=rust:{other:?}"),
        },
    }
}

/// A transcript made comparable: zxids relative to the first one (`#123` -> `z+0`), Java's
/// `data=null` as `data=""`, raw-value lines dropped. Returns the lines and the notes about
/// what was treated as equivalent.
fn normalise(transcript: &str) -> (Vec<String>, Vec<String>) {
    let mut base: Option<i64> = None;
    let mut lines = Vec::new();
    let mut notes = Vec::new();
    for line in transcript.lines().filter(|l| !l.starts_with("RAW ")) {
        let mut out = String::with_capacity(line.len());
        let mut rest = line;
        while let Some(i) = rest.find('#') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let digits = after
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after.len());
            match after[..digits].parse::<i64>() {
                Ok(zxid) => {
                    let base = *base.get_or_insert(zxid);
                    out.push_str(&format!("z{:+}", zxid - base));
                }
                Err(_) => {
                    out.push('#');
                    out.push_str(&after[..digits]);
                }
            }
            rest = &after[digits..];
        }
        out.push_str(rest);
        if out.contains("data=null") {
            notes.push(format!(
                "treated as equivalent: Java getData returned null data, zk-client returns \
                 empty bytes: {out}"
            ));
            out = out.replace("data=null", "data=\"\"");
        }
        lines.push(out);
    }
    (lines, notes)
}

/// Every differing line, Java first, with both raw lines; empty when the transcripts match.
fn diff(java: &[String], rust: &[String], java_raw: &[&str], rust_raw: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..java.len().max(rust.len()) {
        let (j, r) = (java.get(i), rust.get(i));
        if j != r {
            out.push(format!(
                "line {}:\n  java: {}\n  rust: {}\n  (raw java: {})\n  (raw rust: {})",
                i + 1,
                j.map_or("<none>", String::as_str),
                r.map_or("<none>", String::as_str),
                java_raw.get(i).copied().unwrap_or("<none>"),
                rust_raw.get(i).copied().unwrap_or("<none>"),
            ));
        }
    }
    out
}

#[test]
fn normalise_rewrites_zxids_and_null_data() {
    let (lines, notes) = normalise(
        "S01 -> {cz=#100 mz=#100 pz=#102}\nRAW x -> 1,2\n  getData R -> data=null {cz=#100}",
    );
    assert_eq!(
        lines,
        vec![
            "S01 -> {cz=z+0 mz=z+0 pz=z+2}",
            "  getData R -> data=\"\" {cz=z+0}"
        ]
    );
    assert_eq!(notes.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_match_the_java_client_step_for_step() {
    let started = std::time::Instant::now();
    let server = JavaZkServer::builder()
        .cfg("extendedTypesEnabled=true")
        // No container/TTL reaping during the test: it would add transactions at random points.
        .jvm_flag("-Dznode.container.checkIntervalMs=3600000")
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let connect = server.connect_string();

    // The Java client's run, under /java.
    let java_out = {
        let connect = connect.clone();
        tokio::task::spawn_blocking(move || {
            JavaProgram::from_file("java/StatSteps.java")
                .and_then(|p| p.run_timeout(&[connect.as_str(), "/java"], Duration::from_secs(90)))
                .and_then(|o| o.expect_success())
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .await
        .expect("Java run")
    };
    let java_ms = started.elapsed().as_millis();

    // zk-client's run, under /rust, after the Java session is closed.
    let zk = within(
        "connect",
        Client::builder(connect.as_str())
            .session_timeout(Duration::from_secs(10))
            .connect(),
    )
    .await
    .expect("connect zk-client");
    let mut script = Script {
        session_id: zk.session().session_id,
        zk: zk.clone(),
        root: "/rust".to_owned(),
        window_start: now_ms() - TIME_SLACK_MS,
        lines: Vec::new(),
    };
    script.run().await;
    let rust_out = script.lines.join("\n");

    // Absolute anchors. zk-client reads what the Java run wrote: the exact raw Stat Java saw
    // (R/m is untouched by the Java session's close).
    let java_raw_m = java_out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("RAW R/m -> "))
        .expect("the Java transcript has the RAW R/m line")
        .to_owned();
    let (_, stat) = within("getData /java/m", zk.get_data("/java/m"))
        .await
        .expect("read /java/m");
    assert_eq!(
        raw_stat(&stat),
        java_raw_m,
        "zk-client reads the same raw Stat of /java/m as the Java client did"
    );
    // Java wrote /java/n with null data: zk-client gets empty bytes (Java gets null).
    let (data, stat) = within("getData /java/n", zk.get_data("/java/n"))
        .await
        .expect("read /java/n");
    assert!(
        data.is_empty() && stat.data_length == 0,
        "{data:?} {stat:?}"
    );
    println!(
        "note: getData of /java/n (null data, written by the Java client): Java returns null, \
         zk-client returns empty bytes (dataLength 0 in both) -- an intended difference"
    );
    // The last zxid zk-client saw is the server's last zxid.
    within("exists /", zk.exists("/")).await.expect("exists /");
    let srvr = server.four_letter_word("srvr").expect("srvr");
    let server_zxid = srvr
        .lines()
        .find_map(|l| l.strip_prefix("Zxid: 0x"))
        .and_then(|hex| i64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no Zxid in srvr output:\n{srvr}"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while zk.session().last_zxid_seen != server_zxid && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        zk.session().last_zxid_seen,
        server_zxid,
        "zk-client's last zxid seen is the server's last zxid"
    );
    within("close", zk.close()).await.expect("close");

    let (java, notes) = normalise(&java_out.stdout);
    let (rust, _) = normalise(&rust_out);
    for note in &notes {
        println!("note: {note}");
    }
    let java_raw: Vec<&str> = java_out
        .stdout
        .lines()
        .filter(|l| !l.starts_with("RAW "))
        .collect();
    let rust_raw: Vec<&str> = rust_out
        .lines()
        .filter(|l| !l.starts_with("RAW "))
        .collect();
    let differences = diff(&java, &rust, &java_raw, &rust_raw);
    println!(
        "compared {} lines ({} java, {} rust) in {} ms (server start + Java run: {} ms)",
        java.len().max(rust.len()),
        java.len(),
        rust.len(),
        started.elapsed().as_millis(),
        java_ms
    );
    assert!(
        java.len() > 150,
        "the Java transcript is complete:\n{}\n--- stderr ---\n{}",
        java_out.stdout,
        java_out.stderr
    );
    assert!(
        differences.is_empty(),
        "{} line(s) differ between the Java client and zk-client (zxids relative to each \
         run's first):\n{}\n--- full normalised Java transcript ---\n{}",
        differences.len(),
        differences.join("\n"),
        java.join("\n")
    );
}
