//! Quotas end to end on our server alone (interop-tests/tests/quotas.rs compares them with
//! Java): hard limits refused only with `zookeeper.enforceQuota=true`, the refusal taking a
//! zxid, and the stats node following the writes.

use zk_client::{Client, CreateOptions, ErrorKind};
use zk_server::config::Config;
use zk_server::runtime::{self, ServerHandle};
use zk_server::storage::log::MemTxnLog;
use zk_server::tree::DataTree;

async fn server_with(jvm_flags: &str) -> ServerHandle {
    let cfg = Config::parse(
        "tickTime=2000\ndataDir=unused\nclientPort=0\nclientPortAddress=127.0.0.1\n",
        jvm_flags,
    )
    .unwrap();
    runtime::start(cfg, DataTree::new(false), Box::new(MemTxnLog::new()))
        .await
        .unwrap()
}

/// `/q` with a hard limit of 2 nodes, as zkCli's `setquota -N 2 /q` leaves it.
async fn quota_of_two(zk: &Client) {
    let persistent = CreateOptions::persistent();
    for (path, data) in [
        ("/q", "x"),
        ("/zookeeper/quota/q", ""),
        (
            "/zookeeper/quota/q/zookeeper_limits",
            "count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=2",
        ),
        ("/zookeeper/quota/q/zookeeper_stats", "count=0,bytes=0"),
    ] {
        zk.create(path, data.as_bytes(), &persistent).await.unwrap();
    }
}

async fn stats(zk: &Client) -> String {
    let (data, stat) = zk
        .get_data("/zookeeper/quota/q/zookeeper_stats")
        .await
        .unwrap();
    assert_eq!(stat.version, 0, "the server never versions its updates");
    String::from_utf8(data.to_vec()).unwrap()
}

#[tokio::test]
async fn hard_limits_only_with_enforce_quota() {
    let persistent = CreateOptions::persistent();
    for (flags, enforced) in [
        ("", false),
        ("-Dzookeeper.enforceQuota=TRUE", true),
        ("-Dzookeeper.enforceQuota=yes", false),
    ] {
        let server = server_with(flags).await;
        let zk = Client::connect(&server.local_addr().to_string())
            .await
            .unwrap();
        quota_of_two(&zk).await;
        assert_eq!(stats(&zk).await, "count=1,bytes=1", "{flags}");
        let (_, a) = zk.create("/q/a", b"12", &persistent).await.unwrap();
        let refused = zk.create("/q/b", b"", &persistent).await;
        let (_, c) = zk.create("/other", b"", &persistent).await.unwrap();
        if enforced {
            assert_eq!(
                refused.unwrap_err(),
                ErrorKind::Server(zk_proto::ErrorCode::QuotaExceeded)
            );
            // The refusal took a zxid, as Java's ErrorTxn does.
            assert_eq!(c.czxid, a.czxid + 2);
            assert_eq!(stats(&zk).await, "count=2,bytes=3");
        } else {
            refused.unwrap();
            assert_eq!(stats(&zk).await, "count=3,bytes=3", "{flags}");
        }
        zk.set_data("/q/a", b"", None).await.unwrap();
        zk.delete("/q/a", None).await.unwrap();
        let expected = if enforced {
            "count=1,bytes=1"
        } else {
            "count=2,bytes=1"
        };
        assert_eq!(stats(&zk).await, expected, "{flags}");
        zk.close().await.unwrap();
        server.shutdown().await;
    }
}
