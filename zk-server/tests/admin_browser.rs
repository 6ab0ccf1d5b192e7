//! The tree browser (`/browse` on the AdminServer) end to end: our server in-process, nodes
//! made through the client port with zk-client, pages fetched over plain HTTP/1.1, and the
//! pages loaded in headless Chromium (Debian's `chromium`; scripts/test.sh installs it, and
//! `ZK_SKIP_BROWSER_TESTS=1` skips those tests).
//!
//! Measurements, `#[ignore]`d (release build):
//! `cargo test --release -p zk-server --test admin_browser -- --ignored --nocapture`
//! - `time_to_first_byte_with_a_million_children`: a node with 1,000,000 children (the tree
//!   is built in memory and served, as creating them through the client port takes minutes);
//! - `creating_children_through_the_client`: how long 100,000 pipelined creates take.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zk_client::{Client, CreateOptions};
use zk_proto::data::{Acl, Id};
use zk_proto::txn::{CreateTxn, Txn, TxnHeader};
use zk_proto::{AddWatchMode, ErrorCode, OpCode};
use zk_server::config::Config;
use zk_server::runtime::{self, ServerHandle};
use zk_server::storage::log::MemTxnLog;
use zk_server::tree::DataTree;

/// A server with its AdminServer on free ports, stopped when dropped.
struct Server {
    handle: ServerHandle,
    admin: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.handle.stopper().stop();
    }
}

impl Server {
    async fn start(extra: &str) -> Server {
        Server::with_tree(extra, "", None).await
    }

    /// A server serving `tree` (a new tree when `None`), zoo.cfg `extra` and JVM `flags`.
    async fn with_tree(extra: &str, flags: &str, tree: Option<DataTree>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "tickTime=2000\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\n\
             admin.serverPort=0\nadmin.serverAddress=127.0.0.1\n{extra}",
            dir.path().display()
        );
        let cfg = Config::parse(&text, flags).unwrap();
        let tree = tree.unwrap_or_else(|| DataTree::new(cfg.extended_types_enabled()));
        let handle = runtime::start(cfg, tree, Box::new(MemTxnLog::new()))
            .await
            .unwrap();
        let admin = handle.admin_addr().expect("the AdminServer runs");
        Server {
            handle,
            admin,
            _dir: dir,
        }
    }

    async fn client(&self) -> Client {
        Client::connect(&self.handle.local_addr().to_string())
            .await
            .unwrap()
    }

    async fn get(&self, target: &str) -> Reply {
        http_get(self.admin, target, None).await
    }

    /// `GET target` with `Authorization: authorization`.
    async fn get_as(&self, target: &str, authorization: &str) -> Reply {
        http_get(self.admin, target, Some(authorization)).await
    }

    fn url(&self, target: &str) -> String {
        format!("http://{}{target}", self.admin)
    }
}

type Reply = common::http::Answer;

/// `GET target` on a fresh connection, the target sent exactly as given, read to EOF.
async fn http_get(addr: SocketAddr, target: &str, authorization: Option<&str>) -> Reply {
    let headers: Vec<(&str, &str)> = authorization
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    common::http::request(addr, "GET", target, &headers, b"").await
}

/// The child names a page or fragment lists, in order.
fn listed_names(html: &str) -> Vec<String> {
    html.split("<a class=\"name\"")
        .skip(1)
        .map(|rest| {
            let text = &rest[rest.find('>').unwrap() + 1..];
            text[..text.find("</a>").unwrap()].to_owned()
        })
        .collect()
}

fn persistent() -> CreateOptions {
    CreateOptions::persistent()
}

/// Creates `count` children `name(i)` under `parent`, pipelined.
async fn create_children(zk: &Client, parent: &str, count: usize, name: impl Fn(usize) -> String) {
    let mut pending = Vec::with_capacity(1000);
    for i in 0..count {
        pending.push(zk.create(&format!("{parent}/{}", name(i)), b"", &persistent()));
        if pending.len() == 1000 || i + 1 == count {
            for created in pending.drain(..) {
                created.await.unwrap();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_page_lists_zookeeper_with_safe_headers() {
    let server = Server::start("").await;
    let root = server.get("/browse").await;
    let html = root.ok();
    assert!(html.contains("<a class=\"name\" href=\"/browse/zookeeper\">zookeeper</a>"));
    assert_eq!(
        root.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = root.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(root.header("x-content-type-options"), Some("nosniff"));
    // No inline script: the only script is the served file.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains("<script src=\"/browse/_assets/browse.js\" defer></script>"));

    let js = server.get("/browse/_assets/browse.js").await;
    assert!(js.ok().contains("expandFromHash"));
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let css = server.get("/browse/_assets/browse.css").await;
    assert!(css.ok().contains("prefers-color-scheme"));
    assert_eq!(css.header("x-content-type-options"), Some("nosniff"));
    // A page with a trailing slash, and through the "go to" box.
    assert!(server
        .get("/browse/zookeeper/")
        .await
        .ok()
        .contains("<h1 class=\"path\">/zookeeper</h1>"));
    let go = server.get("/browse?path=zookeeper/quota").await;
    assert_eq!(go.status, 303);
    assert_eq!(go.header("location"), Some("/browse/zookeeper/quota"));
    let typed = server.get("/browse?path=/a%20b/").await;
    assert_eq!(typed.header("location"), Some("/browse/a%20b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_link_shows_the_node_its_stat_and_acl() {
    let server = Server::start("").await;
    let zk = server.client().await;
    zk.create("/app", b"", &persistent()).await.unwrap();
    let acl = vec![
        Acl {
            perms: zk_proto::perms::READ | zk_proto::perms::CREATE,
            id: Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        },
        Acl {
            perms: zk_proto::perms::ALL,
            id: Id {
                scheme: "digest".into(),
                id: "bob:Dwm8vm3Uk0Ttj/Ex+5Y1mfDN6xM=".into(),
            },
        },
    ];
    let (_, stat) = zk
        .create("/app/a b", b"hello", &persistent().with_acl(acl))
        .await
        .unwrap();
    zk.create("/app/a b/c", b"", &persistent()).await.unwrap();

    let html = server.get("/browse/app/a%20b").await.ok();
    assert!(html.contains("<h1 class=\"path\">/app/a b</h1>"), "{html}");
    // Breadcrumbs link each ancestor.
    assert!(html.contains("<a href=\"/browse/app\">app</a>"));
    assert!(html.contains("<pre class=\"data text\">hello</pre>"));
    assert!(html.contains("detected: UTF-8 text"));
    assert!(html.contains(&format!("<td>0x{:x}</td>", stat.czxid)));
    assert!(html.contains(&format!("UTC ({})", stat.ctime)));
    assert!(html.contains("<td>world</td><td class=\"id\">anyone</td><td><code>cr</code>"));
    assert!(html.contains(
        "<td>digest</td><td class=\"id\">bob:Dwm8vm3Uk0Ttj/Ex+5Y1mfDN6xM=</td><td><code>cdrwa</code>"
    ));
    assert!(html.contains("0x0 (persistent)"));
    assert_eq!(listed_names(&html), ["c"]);
    assert!(html.contains("href=\"/browse/app/a%20b/c\""));
    // The writable note only shows when writes are switched on.
    assert!(!html.contains("writes are not available"));
    assert!(!html.to_ascii_lowercase().contains("method=\"post\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_are_paged_sorted_and_clamped() {
    let server = Server::start("").await;
    let zk = server.client().await;
    zk.create("/many", b"", &persistent()).await.unwrap();
    const COUNT: usize = 2500;
    // Created out of order, so that sorted pages prove the sorting.
    create_children(&zk, "/many", COUNT, |i| format!("c-{:04}", (i * 7) % COUNT)).await;
    let expected: Vec<String> = (0..COUNT).map(|i| format!("c-{i:04}")).collect();

    let first = server.get("/browse/many").await.ok();
    assert_eq!(listed_names(&first), expected[..100]);
    assert!(first.contains("Showing 1–100 of 2,500."));
    assert!(first.contains("Sorted by name."));
    assert!(first.contains("href=\"/browse/many?offset=100&amp;limit=100\""));

    let mut all = Vec::new();
    for offset in [0, 1000, 2000] {
        let page = server
            .get(&format!("/browse/many?offset={offset}&limit=1000"))
            .await
            .ok();
        all.extend(listed_names(&page));
    }
    assert_eq!(all, expected);

    let last = server.get("/browse/many?offset=2450&limit=100").await.ok();
    assert_eq!(listed_names(&last), expected[2450..]);
    assert!(last.contains("rel=\"prev\""));
    assert!(!last.contains("rel=\"next\""));

    // A huge limit is clamped to 1000; an offset past the end lists nothing.
    let clamped = server
        .get("/browse/many?limit=99999999999999999999999999")
        .await
        .ok();
    assert_eq!(listed_names(&clamped).len(), 1000);
    let past = server.get("/browse/many?offset=5000").await.ok();
    assert!(listed_names(&past).is_empty());
    assert!(past.contains("No children from offset 5,000"));

    // The fragment the script inserts: the list alone, with a link to load more.
    let fragment = server
        .get("/browse/many?part=children&offset=100&limit=50")
        .await;
    let fragment = fragment.ok();
    assert!(fragment.starts_with("<ul class=\"tree\" data-path=\"/many\">"));
    assert_eq!(listed_names(&fragment), expected[100..150]);
    assert!(fragment
        .contains("data-fragment=\"/browse/many?offset=150&amp;limit=50&amp;part=children\""));
    assert!(!fragment.contains("<html"));

    // Each child shows its own child count and descendants.
    zk.create("/many/c-0000/x", b"", &persistent())
        .await
        .unwrap();
    zk.create("/many/c-0000/x/y", b"", &persistent())
        .await
        .unwrap();
    let counts = server.get("/browse/many?limit=1").await.ok();
    assert!(counts.contains("1 child · 2 below"), "{counts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_100k_children_pages_in_the_servers_order() {
    let server = Server::start("").await;
    let zk = server.client().await;
    zk.create("/huge", b"", &persistent()).await.unwrap();
    const COUNT: usize = 100_000;
    create_children(&zk, "/huge", COUNT, |i| format!("n-{i:06}")).await;
    // The order getChildren answers in, which the pages follow past 10,000 children.
    // (1.2 MB of names: more than a client accepts by default.)
    let lister = Client::builder(server.handle.local_addr().to_string())
        .max_frame_len(8 << 20)
        .connect()
        .await
        .unwrap();
    let server_order = lister.get_children("/huge").await.unwrap();
    assert_eq!(server_order.len(), COUNT);

    let first = server.get("/browse/huge").await.ok();
    assert!(first.contains("In the server&#39;s order"));
    assert!(first.contains("Showing 1–100 of 100,000."));
    assert_eq!(listed_names(&first), server_order[..100]);
    let middle = server
        .get("/browse/huge?offset=54321&limit=1000")
        .await
        .ok();
    assert_eq!(listed_names(&middle), server_order[54321..55321]);
    let last = server
        .get("/browse/huge?offset=99990&part=children")
        .await
        .ok();
    assert_eq!(listed_names(&last), server_order[99990..]);
    assert!(!last.contains("class=\"more\""));
    let root = server.get("/browse").await.ok();
    assert!(root.contains("100,000 children"));

    let Some(bin) = chromium() else {
        return;
    };
    let url = server.url("/browse#expand=/huge");
    let dom = tokio::task::spawn_blocking(move || run_chromium(&bin, &["--dump-dom"], &url))
        .await
        .unwrap();
    // The first page of /huge, inserted in place under the root's list.
    for name in &server_order[..100] {
        assert!(
            dom.contains(&format!("data-path=\"/huge/{name}\"")),
            "{name}"
        );
    }
    assert!(dom.contains("Load 100 more (100 of 100,000 shown)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_shows_as_json_text_or_hex_and_downloads_whole() {
    let server = Server::with_tree("", "-Djute.maxbuffer=4194304", None).await;
    let zk = server.client().await;
    zk.create(
        "/json",
        br#"{"name":"demo","replicas":3,"tags":["a","b"]}"#,
        &persistent(),
    )
    .await
    .unwrap();
    let binary: Vec<u8> = (0..=255).collect();
    zk.create("/bin", &binary, &persistent()).await.unwrap();
    zk.create("/text", "line one\nline two é".as_bytes(), &persistent())
        .await
        .unwrap();

    let json = server.get("/browse/json").await.ok();
    assert!(json.contains("detected: JSON"));
    assert!(json.contains(
        "<pre class=\"data json\">{\n  &quot;name&quot;: &quot;demo&quot;,\n  \
         &quot;replicas&quot;: 3,"
    ));
    // The other views are one click away, and the current one is marked.
    assert!(json.contains("aria-current=\"true\" href=\"/browse/json?view=json#data\""));
    let as_text = server.get("/browse/json?view=text").await.ok();
    assert!(as_text.contains("<pre class=\"data text\">{&quot;name&quot;:&quot;demo&quot;"));
    let as_hex = server.get("/browse/json?view=hex").await.ok();
    assert!(as_hex.contains("00000000  7b 22 6e 61 6d 65 22 3a"));

    let bin = server.get("/browse/bin").await.ok();
    assert!(bin.contains("detected: binary"));
    assert!(bin.contains(
        "00000040  40 41 42 43 44 45 46 47  48 49 4a 4b 4c 4d 4e 4f  |@ABCDEFGHIJKLMNO|"
    ));
    assert!(bin.contains("000000f0  f0 f1 f2 f3"));
    assert!(server
        .get("/browse/bin?view=text")
        .await
        .ok()
        .contains("Not valid UTF-8"));
    assert!(server
        .get("/browse/bin?view=base64")
        .await
        .ok()
        .contains("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4"));
    assert!(server
        .get("/browse/bin?view=json")
        .await
        .ok()
        .contains("Not JSON"));
    let raw = server.get("/browse/bin?raw=1").await;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.body, binary);
    assert_eq!(raw.header("content-type"), Some("application/octet-stream"));
    assert_eq!(server.get("/browse/bin?view=nope").await.status, 400);

    let text = server.get("/browse/text").await.ok();
    assert!(text.contains("<pre class=\"data text\">line one\nline two é</pre>"));

    // More than 1 MiB: cut in the page, whole at the download link.
    let big: Vec<u8> = (0..1_500_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    zk.create("/big", &big, &persistent()).await.unwrap();
    let page = server.get("/browse/big").await.ok();
    assert!(page.contains("Showing the first 1.0 MiB of 1.4 MiB"));
    assert!(page.len() < 1_200_000);
    assert!(page.contains("href=\"/browse/big?raw=1\""));
    let whole = server.get("/browse/big?raw=1").await;
    assert_eq!(whole.body, big);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_in_names_and_data_is_escaped() {
    let server = Server::start("").await;
    let zk = server.client().await;
    let evil = "<script>alert(1)";
    zk.create("/x", b"", &persistent()).await.unwrap();
    zk.create(
        &format!("/x/{evil}"),
        b"<script>alert(\"data\")</script><img src=x onerror=alert(2)>",
        &persistent(),
    )
    .await
    .unwrap();
    let listing = server.get("/browse/x").await.ok();
    assert!(listing.contains("&lt;script&gt;alert(1)</a>"));
    assert!(listing.contains("href=\"/browse/x/%3Cscript%3Ealert%281%29\""));
    let page = server.get("/browse/x/%3Cscript%3Ealert%281%29").await.ok();
    for html in [&listing, &page] {
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<img"));
        assert_eq!(html.matches("<script").count(), 1, "only the served script");
    }
    assert!(page.contains("<h1 class=\"path\">/x/&lt;script&gt;alert(1)</h1>"));
    assert!(page.contains(
        "&lt;script&gt;alert(&quot;data&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"
    ));
    let search = server.get("/browse?search=%3Cscript").await.ok();
    assert!(search.contains("&lt;script&gt;alert(1)</a>"));
    assert!(!search.contains("<script>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_paths_get_400_and_missing_nodes_404() {
    let server = Server::start("").await;
    let zk = server.client().await;
    zk.create("/app", b"", &persistent()).await.unwrap();
    for target in [
        "/browse/app/../zookeeper",
        "/browse/app/%2e%2e",
        "/browse/app/.",
        "/browse/app%00",
        "/browse/app//x",
        "/browse/%zz",
        "/browse/%ff",
        "/browse/app%2Fx",
        "/browse/app?offset=abc",
        "/browse/app?limit=-1",
        "/browse/app?part=other",
        "/browse?path=/a/../b",
        "/browse?session=0xnothex",
        "/browse?search=x&under=/a//b",
    ] {
        let reply = server.get(target).await;
        assert_eq!(reply.status, 400, "{target}: {}", reply.text());
        assert!(reply.text().contains("Bad request"));
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    }
    let missing = server.get("/browse/app/nope/deeper").await;
    assert_eq!(missing.status, 404);
    let html = missing.text();
    assert!(html.contains("There is no node /app/nope/deeper."));
    assert!(html.contains("<a class=\"ancestor\" href=\"/browse/app\">/app</a>"));
    let fragment = server.get("/browse/nope?part=children").await;
    assert_eq!(fragment.status, 404);
    assert!(server
        .get("/browse/nope")
        .await
        .header("content-security-policy")
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_paths_by_substring_and_glob() {
    let server = Server::start("").await;
    let zk = server.client().await;
    for path in [
        "/app",
        "/app/one",
        "/app/one/lock-1",
        "/app/two",
        "/app/two/lock-2",
        "/other",
    ] {
        zk.create(path, b"", &persistent()).await.unwrap();
    }
    let found = server.get("/browse?search=lock").await.ok();
    let mut listed: Vec<&str> = found
        .split("<li><a href=\"")
        .skip(1)
        .map(|r| r.split('"').next().unwrap())
        .collect();
    listed.sort();
    assert_eq!(listed, ["/browse/app/one/lock-1", "/browse/app/two/lock-2"]);
    assert!(found.contains("2 paths matching &quot;lock&quot;"));

    let glob = server.get("/browse?search=/app/*/lock-%3F").await.ok();
    assert!(glob.contains("2 paths matching"));
    let below = server.get("/browse?search=lock&under=/app/two").await.ok();
    assert!(below.contains("1 path matching"));
    assert!(below.contains("/app/two/lock-2"));
    assert!(!below.contains("/app/one/lock-1"));
    let none = server.get("/browse?search=nothing-like-this").await.ok();
    assert!(none.contains("0 paths matching"));

    // The result cap is said on the page.
    zk.create("/wide", b"", &persistent()).await.unwrap();
    create_children(&zk, "/wide", 1200, |i| format!("n{i}")).await;
    let capped = server.get("/browse?search=/wide/").await.ok();
    assert!(capped.contains("1,000 paths matching"));
    assert!(capped.contains("stopped at its result limit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_are_listed_with_their_kind() {
    let server = Server::start("").await;
    let zk = server.client().await;
    let other = server.client().await;
    zk.create("/w", b"", &persistent()).await.unwrap();
    let before = server.get("/browse/w").await.ok();
    assert!(before.contains("No session watches this path."));

    let (_, _, _data_watch) = zk.get_data_watch("/w").await.unwrap();
    let (_, _, _child_watch) = zk.get_children_watch("/w").await.unwrap();
    let _persistent = other
        .add_watch("/w", AddWatchMode::Persistent)
        .await
        .unwrap();
    let html = server.get("/browse/w").await.ok();
    let mine = format!("0x{:x}", zk.session().session_id);
    let theirs = format!("0x{:x}", other.session().session_id);
    let row = |session: &str, on: &str, mode: &str| {
        format!(
            "<tr><td><a href=\"/browse?session={session}\">{session}</a></td><td>{on}</td>\
             <td>{mode}</td></tr>"
        )
    };
    assert!(html.contains(&row(&mine, "data", "one-shot")), "{html}");
    assert!(html.contains(&row(&mine, "children", "one-shot")));
    assert!(html.contains(&row(&theirs, "data", "persistent")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ephemeral_owner_links_to_its_session_and_connection() {
    let server = Server::start("").await;
    let zk = server.client().await;
    zk.create("/e", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    let id = format!("0x{:x}", zk.session().session_id);
    let node = server.get("/browse/e").await.ok();
    assert!(node.contains(&format!(
        "<a class=\"owner\" href=\"/browse?session={id}\">{id}</a> (session open"
    )));
    assert!(node.contains("ephemeral"));
    let root = server.get("/browse").await.ok();
    assert!(root.contains("<span class=\"badge\">ephemeral</span>"));

    let session = server.get(&format!("/browse?session={id}")).await.ok();
    assert!(session.contains(&format!("<h1>Session {id}</h1>")));
    assert!(session.contains("Open; session timeout"));
    assert!(session.contains("<li><a href=\"/browse/e\">/e</a></li>"));
    assert!(
        session.contains("<td class=\"remote\">127.0.0.1:"),
        "{session}"
    );

    let unknown = server.get("/browse?session=0x1234").await.ok();
    assert!(unknown.contains("Not an open session"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acl_decides_who_sees_data_and_children() {
    let server = Server::start("").await;
    let bob = Client::builder(server.handle.local_addr().to_string())
        .auth("digest", b"bob:secret".to_vec())
        .connect()
        .await
        .unwrap();
    let bob_only = vec![Acl {
        perms: zk_proto::perms::ALL,
        id: Id {
            scheme: "auth".into(),
            id: String::new(),
        },
    }];
    bob.create(
        "/vault",
        b"top-secret-data",
        &persistent().with_acl(bob_only),
    )
    .await
    .unwrap();
    bob.create("/vault/hidden-child", b"", &persistent())
        .await
        .unwrap();

    let anonymous = server.get("/browse/vault").await.ok();
    assert!(!anonymous.contains("top-secret-data"));
    assert!(!anonymous.contains("hidden-child"));
    assert!(anonymous.contains(
        "Its data is not shown: this node&#39;s ACL does not grant READ to ip:127.0.0.1"
    ));
    assert!(
        !anonymous.contains("<td>digest</td>"),
        "the ACL is hidden too"
    );
    // The Stat is not guarded (exists needs no permission).
    assert!(anonymous.contains("numChildren</th><td>1</td>"));
    assert_eq!(server.get("/browse/vault?raw=1").await.status, 403);
    assert_eq!(server.get("/browse/vault?part=children").await.status, 403);
    let search = server.get("/browse?search=hidden").await.ok();
    assert!(search.contains("0 paths matching"));
    assert!(search.contains("Not searched below 1 node"));

    let as_bob = server
        .get_as("/browse/vault", "digest bob:secret")
        .await
        .ok();
    assert!(as_bob.contains("top-secret-data"));
    assert!(as_bob.contains("hidden-child"));
    assert!(as_bob.contains("<td>digest</td>"));
    let raw = server
        .get_as("/browse/vault?raw=1", "digest bob:secret")
        .await;
    assert_eq!(raw.body, b"top-secret-data");
    let search = server
        .get_as("/browse?search=hidden", "digest bob:secret")
        .await
        .ok();
    assert!(search.contains("1 path matching"));
    let wrong = server
        .get_as("/browse/vault", "digest bob:wrong")
        .await
        .ok();
    assert!(!wrong.contains("top-secret-data"));
    assert_eq!(server.get_as("/browse", "basic Ym9iOnB3").await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_required_asks_every_page_for_an_identity() {
    let server = Server::start("admin.auth.required=true\n").await;
    let missing = server.get("/browse").await;
    assert_eq!(missing.status, 401);
    assert!(missing.text().contains("admin.auth.required is set"));
    assert_eq!(server.get("/browse?search=x").await.status, 401);
    // / is open to anyone, so any digest identity may read it.
    let html = server.get_as("/browse", "digest alice:pw").await.ok();
    assert!(html.contains("/browse/zookeeper"));
    assert_eq!(server.get_as("/browse/zookeeper", "ip").await.status, 200);
}

// ---- Writes (admin.browser.writable) ----------------------------------------------------

const ALICE: &str = "digest alice:pw";
/// The `Host` the test client sends, as an `Origin`.
const SAME_ORIGIN: &str = "http://test";

/// `POST /browse/_write/{op}` of the form `fields` (already encoded), with `Authorization:
/// authorization` if given and `Origin: origin`.
async fn post_form(
    server: &Server,
    op: &str,
    fields: &str,
    authorization: Option<&str>,
    origin: &str,
) -> Reply {
    let mut headers = vec![
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Origin", origin),
    ];
    if let Some(a) = authorization {
        headers.push(("Authorization", a));
    }
    common::http::request(
        server.admin,
        "POST",
        &format!("/browse/_write/{op}"),
        &headers,
        fields.as_bytes(),
    )
    .await
}

fn digest_acl(user_password: &str) -> Vec<Acl> {
    vec![Acl {
        perms: zk_proto::perms::ALL,
        id: Id {
            scheme: "digest".into(),
            id: zk_server::acl::digest_id(user_password),
        },
    }]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_run_as_the_users_digest_identity_through_the_client_port() {
    let server = Server::start("admin.browser.writable=true\n").await;
    let zk = Client::builder(server.handle.local_addr().to_string())
        .auth("digest", b"alice:pw".to_vec())
        .connect()
        .await
        .unwrap();
    zk.create(
        "/alice",
        b"v0",
        &persistent().with_acl(digest_acl("alice:pw")),
    )
    .await
    .unwrap();
    zk.create("/open", b"o", &persistent()).await.unwrap();

    // The page offers the forms, with the version it shows.
    let page = server.get_as("/browse/alice", ALICE).await.ok();
    assert!(page.contains("action=\"/browse/_write/set\""), "{page}");
    assert!(page.contains("<input type=\"hidden\" name=\"version\" value=\"0\">"));
    assert!(page.contains("aria-label=\"New data\">\nv0</textarea>"));
    assert!(page.contains("<code>digest:alice</code>"));
    assert!(page.contains("action=\"/browse/_write/create\""));
    assert!(page.contains("action=\"/browse/_write/delete\""));
    let anonymous = server.get("/browse/open").await.ok();
    assert!(anonymous.contains("Writes need an <code>Authorization: digest"));

    // Set, through the pipeline: a watch fires.
    let (_, _, watch) = zk.get_data_watch("/alice").await.unwrap();
    let set = post_form(
        &server,
        "set",
        "path=%2Falice&version=0&data=v1%0D%0Aline",
        Some(ALICE),
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(set.status, 303, "{}", set.text());
    assert_eq!(set.header("location"), Some("/browse/alice"));
    let (data, stat) = zk.get_data("/alice").await.unwrap();
    assert_eq!((&data[..], stat.version), (&b"v1\nline"[..], 1));
    let fired = tokio::time::timeout(Duration::from_secs(5), watch)
        .await
        .unwrap();
    assert_eq!(fired.event_type, zk_proto::EventType::NodeDataChanged);

    // A stale version, another user, no identity, another site: nothing changes.
    let stale = post_form(
        &server,
        "set",
        "path=/alice&version=0&data=v2",
        Some(ALICE),
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(stale.status, 409);
    assert!(stale.text().contains("BadVersion"), "{}", stale.text());
    let bob = post_form(
        &server,
        "set",
        "path=/alice&version=1&data=bob",
        Some("digest bob:pw"),
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(bob.status, 403);
    assert!(bob.text().contains("NoAuth"), "{}", bob.text());
    let nobody = post_form(
        &server,
        "set",
        "path=/alice&version=1&data=x",
        None,
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(nobody.status, 401);
    assert!(nobody
        .text()
        .contains("Authorization: digest user:password"));
    let cross = post_form(
        &server,
        "set",
        "path=/alice&version=1&data=x",
        Some(ALICE),
        "http://evil.example",
    )
    .await;
    assert_eq!(cross.status, 403);
    assert!(cross.text().contains("another site"));
    assert_eq!(&zk.get_data("/alice").await.unwrap().0[..], b"v1\nline");

    // Create under an open node: the child is open too; under alice's: alice's only.
    let created = post_form(
        &server,
        "create",
        "parent=/open&name=c&data=hi&mode=persistent",
        Some(ALICE),
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(created.status, 303, "{}", created.text());
    assert_eq!(created.header("location"), Some("/browse/open/c"));
    assert_eq!(&zk.get_data("/open/c").await.unwrap().0[..], b"hi");
    assert_eq!(
        zk.get_acl("/open/c").await.unwrap().0,
        vec![Acl {
            perms: zk_proto::perms::ALL,
            id: Id {
                scheme: "world".into(),
                id: "anyone".into()
            }
        }]
    );
    let private = post_form(
        &server,
        "create",
        "parent=/alice&name=p&data=AAEC&encoding=base64",
        Some(ALICE),
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(private.status, 303, "{}", private.text());
    assert_eq!(
        &zk.get_data("/alice/p").await.unwrap().0[..],
        b"\x00\x01\x02"
    );
    assert_eq!(
        zk.get_acl("/alice/p").await.unwrap().0,
        digest_acl("alice:pw")
    );
    let again = post_form(
        &server,
        "create",
        "parent=/open&name=c",
        Some(ALICE),
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(again.status, 409);
    assert!(again.text().contains("NodeExists"));
    let sequential = post_form(
        &server,
        "create",
        "parent=/open&name=s-&mode=persistent_sequential",
        Some(ALICE),
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(
        sequential.header("location"),
        Some("/browse/open/s-0000000001")
    );

    // Delete: the version is checked, a node with children is refused.
    let busy = post_form(
        &server,
        "delete",
        "path=/alice&version=1",
        Some(ALICE),
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(busy.status, 409);
    assert!(busy.text().contains("NotEmpty"));
    let stale = post_form(
        &server,
        "delete",
        "path=/open/c&version=3",
        Some(ALICE),
        SAME_ORIGIN,
    )
    .await;
    assert!(stale.text().contains("BadVersion"));
    let deleted = post_form(
        &server,
        "delete",
        "path=/open/c&version=0",
        Some(ALICE),
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(deleted.status, 303, "{}", deleted.text());
    assert_eq!(deleted.header("location"), Some("/browse/open"));
    assert!(zk.exists("/open/c").await.unwrap().is_none());
    let page = server.get_as("/browse/alice", ALICE).await.ok();
    assert!(page.contains("only a node without children can be deleted"));
    assert!(!page.contains("action=\"/browse/_write/delete\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ip_acl_for_the_servers_own_host_does_not_open_writes() {
    // The browser's session comes from 127.0.0.1: the browser checks the ACL for the
    // digest identity alone, so ip:127.0.0.1 does not let any user write.
    let server = Server::start("admin.browser.writable=true\n").await;
    let zk = server.client().await;
    let local = vec![Acl {
        perms: zk_proto::perms::ALL,
        id: Id {
            scheme: "ip".into(),
            id: "127.0.0.1".into(),
        },
    }];
    zk.create("/local", b"keep", &persistent().with_acl(local))
        .await
        .unwrap();
    let refused = post_form(
        &server,
        "set",
        "path=/local&version=0&data=x",
        Some(ALICE),
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(refused.status, 403);
    assert!(refused.text().contains("NoAuth"));
    assert_eq!(&zk.get_data("/local").await.unwrap().0[..], b"keep");
    // Bad forms are refused before anything is written.
    let bad = post_form(
        &server,
        "set",
        "path=/local&path=/x&version=0",
        Some(ALICE),
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(bad.status, 400);
    let not_a_form = common::http::request(
        server.admin,
        "POST",
        "/browse/_write/set",
        &[("Authorization", ALICE), ("Content-Type", "text/plain")],
        b"path=/local&version=0",
    )
    .await;
    assert_eq!(not_a_form.status, 415);
    let huge = format!("path=/local&version=0&data={}", "a".repeat((1 << 20) + 1));
    assert_eq!(
        post_form(&server, "set", &huge, Some(ALICE), SAME_ORIGIN)
            .await
            .status,
        413
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_writable_there_are_no_forms_and_writes_are_refused() {
    let server = Server::start("").await;
    let zk = server.client().await;
    zk.create("/open", b"o", &persistent()).await.unwrap();
    let html = server.get_as("/browse/open", ALICE).await.ok();
    assert!(!html.to_ascii_lowercase().contains("method=\"post\""));
    assert!(!html.contains("writes are not available"));
    let refused = post_form(
        &server,
        "set",
        "path=/open&version=0&data=x",
        Some(ALICE),
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(refused.status, 403);
    assert!(refused.text().contains("Writes are off"));
    assert_eq!(&zk.get_data("/open").await.unwrap().0[..], b"o");
    // GET on a write URL is a node's page (here: no such node).
    assert_eq!(server.get("/browse/_write/set").await.status, 404);
}

// ---- Headless Chromium -------------------------------------------------------------------

/// Chromium to drive, or `None` when `ZK_SKIP_BROWSER_TESTS=1`; a missing browser fails.
fn chromium() -> Option<PathBuf> {
    if std::env::var("ZK_SKIP_BROWSER_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("ZK_SKIP_BROWSER_TESTS=1: not running the headless Chromium checks");
        return None;
    }
    let candidates = [
        std::env::var("ZK_CHROMIUM").ok().map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/chromium")),
        Some(PathBuf::from("/usr/bin/chromium-browser")),
    ];
    match candidates.into_iter().flatten().find(|p| p.is_file()) {
        Some(path) => Some(path),
        None => panic!(
            "Chromium is not installed (looked for /usr/bin/chromium): run scripts/test.sh, \
             which installs Debian's chromium package (as CI does), or set \
             ZK_SKIP_BROWSER_TESTS=1 to skip the browser tests"
        ),
    }
}

/// One Chromium run in its own process group and fresh profile; the group is killed and the
/// profile removed when this is dropped, whatever happened.
struct ChromiumRun {
    child: std::process::Child,
    _profile: tempfile::TempDir,
}

impl Drop for ChromiumRun {
    fn drop(&mut self) {
        // The whole group: the browser and the renderer and GPU processes it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs headless Chromium on `url` with `args`; its stdout (the DOM with `--dump-dom`).
fn run_chromium(bin: &Path, args: &[&str], url: &str) -> String {
    use std::os::unix::process::CommandExt as _;
    let profile = tempfile::tempdir().unwrap();
    let out_path = profile.path().join("stdout");
    let out = std::fs::File::create(&out_path).unwrap();
    let child = Command::new(bin)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("p").display()
        ))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let mut run = ChromiumRun {
        child,
        _profile: profile,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = run.child.try_wait().unwrap() {
            assert!(status.success(), "chromium failed on {url}: {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "chromium did not finish {url} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read_to_string(&out_path).unwrap()
}

/// Where screenshots are kept: `<target dir>/browser-artifacts/`.
fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target dir")
        .join("browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_renders_pages_and_the_script_expands_in_place() {
    let Some(bin) = chromium() else {
        return;
    };
    let server = Server::start("").await;
    let zk = server.client().await;
    zk.create(
        "/app",
        br#"{"service":"checkout","replicas":3,"regions":["eu-west","us-east"]}"#,
        &persistent(),
    )
    .await
    .unwrap();
    for path in ["/app/config", "/app/deep", "/app/deep/inner", "/app/locks"] {
        zk.create(path, b"v", &persistent()).await.unwrap();
    }
    create_children(&zk, "/app/deep/inner", 3, |i| format!("leaf-{i}")).await;
    create_children(&zk, "/app/locks", 150, |i| format!("lock-{i:010}")).await;
    zk.create("/app/session", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();

    let dump = |args: Vec<String>, target: &str| {
        let bin = bin.clone();
        let url = server.url(target);
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                run_chromium(&bin, &args, &url)
            })
            .await
            .unwrap()
        }
    };

    // The node page as the browser builds it: the children list and the data.
    let app = dump(vec!["--dump-dom".into()], "/browse/app").await;
    assert!(app.contains("data-path=\"/app/config\""), "{app}");
    assert!(app.contains("data-path=\"/app/locks\""));
    assert!(app.contains("\"service\": \"checkout\""));
    assert!(app.contains("detected: JSON"));
    // The script ran: it shows the expand buttons the server sends hidden.
    assert!(app.contains("<html lang=\"en\" class=\"js\">"));

    // A node opened by its URL.
    let leaf = dump(vec!["--dump-dom".into()], "/browse/app/deep/inner/leaf-1").await;
    assert!(leaf.contains("<h1 class=\"path\">/app/deep/inner/leaf-1</h1>"));

    // #expand=: the script fetches the children of /app, then /app/deep, then
    // /app/deep/inner, and inserts them in place; the server-rendered root page has none.
    let plain = dump(vec!["--dump-dom".into()], "/browse").await;
    assert!(!plain.contains("data-path=\"/app/deep/inner/leaf-0\""));
    let expanded = dump(vec!["--dump-dom".into()], "/browse#expand=/app/deep/inner").await;
    for listed in [
        "/app/config",
        "/app/deep/inner",
        "/app/deep/inner/leaf-0",
        "/app/deep/inner/leaf-2",
    ] {
        assert!(
            expanded.contains(&format!("data-path=\"{listed}\"")),
            "{listed} not inserted: {expanded}"
        );
    }
    assert!(expanded.contains("class=\"node target\" data-path=\"/app/deep/inner\""));
    assert_eq!(expanded.matches("aria-expanded=\"true\"").count(), 3);

    // #expand= to a child beyond the first page: the script loads more children (one page
    // of 100) until it shows, without leaving the page.
    let revealed = dump(
        vec!["--dump-dom".into()],
        "/browse/app/locks#expand=/app/locks/lock-0000000120",
    )
    .await;
    assert!(revealed.contains("class=\"node target\" data-path=\"/app/locks/lock-0000000120\""));
    assert_eq!(revealed.matches("<li class=\"node").count(), 150);
    assert!(!revealed.contains("<li class=\"more\">"));

    // Screenshots at a desktop and a phone width, kept as artifacts.
    let dir = artifacts_dir();
    for (name, size) in [("wide", "1280,800"), ("narrow", "420,900")] {
        for (page, target) in [
            ("app", "/browse/app#expand=/app/deep/inner"),
            ("locks", "/browse/app/locks?limit=20"),
        ] {
            let file = dir.join(format!("browse-{page}-{name}.png"));
            let _ = std::fs::remove_file(&file);
            dump(
                vec![
                    format!("--screenshot={}", file.display()),
                    format!("--window-size={size}"),
                ],
                target,
            )
            .await;
            let png = std::fs::read(&file).expect("a screenshot");
            assert!(png.starts_with(b"\x89PNG"), "{}", file.display());
            println!("screenshot: {}", file.display());
        }
    }
}

// ---- Measurements ------------------------------------------------------------------------

/// A tree with `/big` holding `count` children, made as committed creates would make it.
fn tree_with_children(count: usize) -> DataTree {
    let mut tree = DataTree::new(false);
    let create = |path: String| {
        Txn::Create(CreateTxn {
            path,
            data: Some(Bytes::new()),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_c_version: -1,
        })
    };
    let header = |zxid: i64| TxnHeader {
        client_id: 1,
        cxid: 0,
        zxid,
        time: 1_700_000_000_000 + zxid,
        r#type: OpCode::Create,
    };
    assert_eq!(
        tree.apply(&header(1), &create("/big".into())).err,
        ErrorCode::Ok
    );
    for i in 0..count {
        let r = tree.apply(&header(i as i64 + 2), &create(format!("/big/n-{i:08}")));
        assert_eq!(r.err, ErrorCode::Ok);
    }
    tree
}

/// Time to the first byte of the answer to `GET target`.
async fn first_byte(addr: SocketAddr, target: &str) -> Duration {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let started = Instant::now();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut byte = [0u8; 1];
    stream.read_exact(&mut byte).await.unwrap();
    let ttfb = started.elapsed();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.unwrap();
    assert!(String::from_utf8_lossy(&rest).starts_with("TTP/1.1 200"));
    ttfb
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: cargo test --release -p zk-server --test admin_browser -- --ignored"]
async fn time_to_first_byte_with_a_million_children() {
    let count = std::env::var("ZK_CHILDREN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let t = Instant::now();
    let tree = tree_with_children(count);
    println!("built a tree with {count} children in {:?}", t.elapsed());
    let server = Server::with_tree("", "", Some(tree)).await;
    let last_page = format!("/browse/big?offset={}", count - 100);
    for target in [
        "/browse/big",
        "/browse/big",
        "/browse/big?limit=1000",
        last_page.as_str(),
        "/browse/big?part=children",
        "/browse",
        "/browse?search=n-0000042",
    ] {
        let ttfb = first_byte(server.admin, target).await;
        println!("TTFB {target}: {:.1} ms", ttfb.as_secs_f64() * 1000.0);
        if !target.contains("search") {
            assert!(ttfb < Duration::from_secs(1), "{target}: {ttfb:?}");
        }
    }
    let page = server.get("/browse/big").await.ok();
    assert_eq!(listed_names(&page).len(), 100);
    assert!(page.contains("In the server&#39;s order"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: cargo test --release -p zk-server --test admin_browser -- --ignored"]
async fn creating_children_through_the_client() {
    let count = std::env::var("ZK_CHILDREN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let server = Server::start("").await;
    let zk = server.client().await;
    zk.create("/big", b"", &persistent()).await.unwrap();
    let t = Instant::now();
    create_children(&zk, "/big", count, |i| format!("n-{i:08}")).await;
    println!("{count} pipelined creates: {:?}", t.elapsed());
    let ttfb = first_byte(server.admin, "/browse/big").await;
    println!("TTFB /browse/big: {:.1} ms", ttfb.as_secs_f64() * 1000.0);
}
