//! zk-bench: a load generator for ZooKeeper servers on zk-client. See `zk_tools::bench`.

use zk_tools::bench::{self, BenchConfig, USAGE};

fn main() {
    let config = match BenchConfig::parse(std::env::args().skip(1)) {
        Ok(config) => config,
        Err(msg) if msg.is_empty() => {
            print!("{USAGE}");
            return;
        }
        Err(msg) => {
            eprintln!("zk-bench: {msg}\n\n{USAGE}");
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
    match runtime.block_on(bench::run(&config)) {
        Ok(report) => {
            print!("{}", report.summary());
            println!("{}", report.result_line());
        }
        Err(e) => {
            eprintln!("zk-bench: {e}");
            std::process::exit(1);
        }
    }
}
