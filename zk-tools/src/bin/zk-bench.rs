fn main() { eprintln!("zk-bench: being written"); std::process::exit(2) }
