//! Smoke tests of the load generators against the real Java ZooKeeper server: zk-bench (our
//! client) and interop-tests/java/ZkBench.java (the official Java client). They check that a
//! short run works, reports a well-formed RESULT line and cleans up after itself; they measure
//! nothing (speed comparisons live in scripts/bench-client.sh).

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use interop_tests::{JavaProgram, JavaZkServer};

/// Bound on one zk-bench run (setup, a couple of seconds of load, cleanup).
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

fn start_server() -> JavaZkServer {
    JavaZkServer::start().unwrap_or_else(|e| panic!("{e}"))
}

/// Runs zk-bench with `args`; returns stdout, failing the test on a non-zero exit or timeout.
fn zk_bench(args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zk-bench"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning zk-bench");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for zk-bench") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    match status {
        Some(status) if status.success() => stdout,
        Some(status) => panic!(
            "zk-bench {args:?} failed ({status})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        ),
        None => panic!(
            "zk-bench {args:?} still running after {RUN_TIMEOUT:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        ),
    }
}

/// The key=value fields of the one RESULT line in `stdout`.
fn result_fields(stdout: &str) -> HashMap<String, String> {
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("RESULT "))
        .collect();
    assert_eq!(lines.len(), 1, "expected one RESULT line in:\n{stdout}");
    let fields: HashMap<String, String> = zk_tools::bench::parse_result_line(lines[0])
        .expect("RESULT line")
        .into_iter()
        .collect();
    for key in [
        "op",
        "sessions",
        "in_flight",
        "value_size",
        "ops",
        "errors",
        "duration_s",
        "ops_per_s",
        "p50_us",
        "p99_us",
        "p999_us",
        "max_us",
        "cpu_user_s",
        "cpu_sys_s",
        "client",
    ] {
        assert!(fields.contains_key(key), "no {key} in {}", lines[0]);
    }
    fields
}

fn num(fields: &HashMap<String, String>, key: &str) -> f64 {
    fields[key]
        .parse()
        .unwrap_or_else(|_| panic!("{key}={} is not a number", fields[key]))
}

/// Checks a RESULT line of a successful run of `op`.
fn check_result(stdout: &str, op: &str, client: &str) {
    let fields = result_fields(stdout);
    assert_eq!(fields["op"], op, "{stdout}");
    assert_eq!(fields["client"], client, "{stdout}");
    assert!(
        num(&fields, "ops") > 0.0,
        "no operations counted:\n{stdout}"
    );
    assert_eq!(num(&fields, "errors"), 0.0, "errors:\n{stdout}");
    assert!(num(&fields, "ops_per_s") > 0.0, "{stdout}");
    assert!(
        num(&fields, "p50_us") <= num(&fields, "p99_us")
            && num(&fields, "p99_us") <= num(&fields, "max_us"),
        "percentiles out of order:\n{stdout}"
    );
}

/// The top-level nodes of the server whose name starts with `prefix`.
fn leftovers(server: &JavaZkServer, prefix: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = zk_client::Client::builder(server.connect_string())
            .connect()
            .await
            .expect("connect");
        let children = client.get_children("/").await.expect("get_children /");
        let _ = client.close().await;
        children
            .into_iter()
            .filter(|c| c.starts_with(prefix))
            .collect()
    })
}

#[test]
fn zk_bench_mix_runs_and_cleans_up() {
    let server = start_server();
    let cs = server.connect_string();
    let stdout = zk_bench(&[
        "--server",
        &cs,
        "--sessions",
        "2",
        "--in-flight",
        "16",
        "--op",
        "mix",
        "--value-size",
        "100",
        "--duration",
        "2",
        "--warmup",
        "0.5",
    ]);
    eprintln!("{stdout}");
    check_result(&stdout, "mix", "zk-rs");
    let fields = result_fields(&stdout);
    assert_eq!(fields["sessions"], "2");
    assert_eq!(fields["in_flight"], "16");
    assert_eq!(fields["value_size"], "100");
    assert_eq!(leftovers(&server, "zk-bench-"), Vec::<String>::new());
}

#[test]
fn zk_bench_every_op_runs_and_cleans_up() {
    let server = start_server();
    let cs = server.connect_string();
    for op in ["get", "set", "exists", "create", "delete"] {
        let stdout = zk_bench(&[
            "--server",
            &cs,
            "--in-flight",
            "8",
            "--op",
            op,
            "--value-size",
            "10",
            "--duration",
            "0.5",
            "--warmup",
            "0",
            "--nodes",
            "50",
            "--delete-pool",
            "3000",
        ]);
        eprintln!("{stdout}");
        check_result(&stdout, op, "zk-rs");
    }
    assert_eq!(leftovers(&server, "zk-bench-"), Vec::<String>::new());
}

#[test]
fn java_driver_mix_runs_and_cleans_up() {
    let server = start_server();
    let driver = JavaProgram::from_file("java/ZkBench.java").unwrap_or_else(|e| panic!("{e}"));
    let out = driver
        .run_timeout(
            &[
                "--server",
                &server.connect_string(),
                "--sessions",
                "2",
                "--in-flight",
                "16",
                "--op",
                "mix",
                "--value-size",
                "100",
                "--duration",
                "2",
                "--warmup",
                "0.5",
            ],
            RUN_TIMEOUT,
        )
        .and_then(|o| o.expect_success())
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{}", out.stdout);
    check_result(&out.stdout, "mix", "java");
    assert_eq!(leftovers(&server, "zk-bench-java-"), Vec::<String>::new());
}
