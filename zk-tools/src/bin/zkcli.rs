//! zkcli: a Rust equivalent of ZooKeeper's zkCli.sh on zk-client. See `zkcli -help` and
//! `zk_tools::cli`.

fn main() {
    std::process::exit(zk_tools::cli::main_with_args(std::env::args().skip(1)));
}
