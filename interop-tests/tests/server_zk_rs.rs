//! The shared client scenarios (`scenarios/mod.rs`) against our own server, zk-server, run
//! in-process: the same checks that pass against Java's server must pass here.

mod scenarios;

use interop_tests::RustZkServer;

/// One test per scenario, each on a fresh zk-server with the given zoo.cfg lines.
macro_rules! rust_scenarios {
    ($($name:ident: [$($cfg:expr),*],)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let server = RustZkServer::start(&[$($cfg),*]).expect("start zk-server");
            scenarios::$name(&server).await;
        }
    )*};
}

rust_scenarios! {
    every_operation_and_its_errors: ["extendedTypesEnabled=true"],
    ttl_is_unimplemented_without_extended_types: [],
    digest_auth_and_acls: [],
    oneshot_and_persistent_watches: [],
    chroot_applies_to_paths_events_and_multi: [],
    ten_thousand_pipelined_creates_keep_order: [],
    expiry_is_reported_once_and_ephemerals_go: [],
    removing_and_dropping_watches: [],
    persistent_watch_resync_marker_after_a_cut: [],
}
