//! The node page: breadcrumbs, the children (one page of them), the data in its views, the
//! Stat, the ACL and the watches on the node; and the children fragment the script inserts.
//!
//! # Children order
//!
//! A node with at most [`SORT_LIMIT`] children lists them sorted by name (byte order): the
//! names are borrowed from the tree and sorted per request, at most that many references.
//! A larger node lists them in the server's own order (the order getChildren returns, Java's
//! `HashSet` order), paged by skipping `offset` names: no list of all names is ever built,
//! so a node with a million children answers as fast as a small one (the skip is the only
//! cost that grows with the offset). Pages are read from different tree versions: children
//! created or deleted between two page loads can shift the pages.

use zk_proto::data::Acl;
use zk_proto::WatcherType;

use super::access::Viewer;
use super::data_view::{self, View};
use super::forms::{write_section, Writes};
use super::html::{counted, error_page, group, page, utc, zxid_hex, Frame, Html};
use super::url::{browse_url, node_url};
use crate::tree::{DataTree, Node, OwnerKind};
use crate::watch::WatchMode;

/// Children per page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `limit`; larger ones are clamped to it.
pub const MAX_LIMIT: usize = 1000;
/// Nodes with at most this many children list them sorted by name.
pub const SORT_LIMIT: usize = 10_000;

/// Which part of a node's page is asked for, from the query string.
#[derive(Debug, Clone, Copy)]
pub struct NodeQuery {
    /// The first child shown (0-based, in the listing's order).
    pub offset: usize,
    /// Children shown, 1..=[`MAX_LIMIT`].
    pub limit: usize,
    /// The data view; `None` for the one the encoding suggests.
    pub view: Option<View>,
}

/// What the node page shows besides the tree.
#[derive(Debug)]
pub struct NodeExtras {
    /// The tree's last committed zxid.
    pub zxid: i64,
    /// Who watches the node (session, table, mode).
    pub watchers: Vec<(i64, WatcherType, WatchMode)>,
    /// Whether the page offers write forms (`admin.browser.writable` and a client port).
    pub writes: Writes,
    /// Who asks: what the node's ACL lets them see.
    pub viewer: Viewer,
}

/// One page of a node's children.
struct ChildPage<'t> {
    names: Vec<&'t str>,
    sorted: bool,
    offset: usize,
    total: usize,
}

fn child_page<'t>(node: &'t Node, offset: usize, limit: usize) -> ChildPage<'t> {
    let total = node.child_count();
    let sorted = total <= SORT_LIMIT;
    let names = if sorted {
        let mut all: Vec<&str> = node.children().collect();
        all.sort_unstable();
        all.into_iter().skip(offset).take(limit).collect()
    } else {
        node.children().skip(offset).take(limit).collect()
    };
    ChildPage {
        names,
        sorted,
        offset,
        total,
    }
}

fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// The page of the node at `path`.
pub fn node_page(
    tree: &DataTree,
    path: &str,
    node: &Node,
    query: NodeQuery,
    extras: &NodeExtras,
) -> String {
    let mut h = Html::new();
    breadcrumbs(&mut h, path);
    h.raw("<h1 class=\"path\">").text(path).raw("</h1>");
    let stat = tree.client_stat(node);
    h.raw("<p class=\"summary\">")
        .text(&counted(node.child_count() as u64, "child", "children"))
        .text(" · ")
        .text(&counted(
            node.descendant_count() as u64,
            "descendant",
            "descendants",
        ))
        .text(" · ")
        .text(&counted(stat.data_length as u64, "byte", "bytes"))
        .text(" of data · ")
        .text(owner_kind_name(tree, node))
        .raw("</p>");
    if extras.writes == Writes::Unavailable {
        h.raw("<p class=\"note\">admin.browser.writable is set, but writes are not available: ")
            .raw("this server has no plain client port to write through (it serves clients ")
            .raw("over TLS only). The browser is read-only.</p>");
    }
    let readable = extras.viewer.may_read(tree, node);
    h.raw("<div class=\"columns\"><section class=\"card children\" id=\"children\">")
        .raw("<h2>Children</h2>");
    if !readable {
        hidden_note(&mut h, &extras.viewer, "Its children are");
    } else if node.child_count() > 0 {
        let children = child_page(node, query.offset, query.limit);
        h.raw("<p class=\"hint\">")
            .text(if children.sorted {
                "Sorted by name."
            } else {
                "In the server's order (getChildren order): more than 10,000 children are \
                 not sorted."
            })
            .raw("</p>");
        child_list(&mut h, tree, path, node, &children, query.limit);
        pager(&mut h, path, &children, query.limit);
    } else {
        h.raw("<p class=\"hint\">No children.</p>");
    }
    subtree_search(&mut h, path);
    h.raw("</section><div class=\"details\">");
    if readable {
        data_section(&mut h, path, node, query.view);
    } else {
        h.raw("<section class=\"card data\" id=\"data\"><h2>Data</h2>");
        hidden_note(&mut h, &extras.viewer, "Its data is");
        h.raw("</section>");
    }
    if let Writes::On(user) = &extras.writes {
        write_section(&mut h, tree, path, node, readable, user.as_deref());
    }
    stat_section(&mut h, tree, node);
    if extras.viewer.may_read_acl(tree, node) {
        acl_section(&mut h, &tree.acl(node));
    } else {
        h.raw("<section class=\"card acl\" id=\"acl\"><h2>ACL</h2>");
        hidden_note(&mut h, &extras.viewer, "Its ACL is");
        h.raw("</section>");
    }
    watchers_section(&mut h, &extras.watchers);
    h.raw("</div></div>");
    page(
        &Frame {
            title: path.to_owned(),
            tree: Some((extras.zxid, tree.node_count())),
            search: String::new(),
        },
        &h,
    )
}

/// The children list alone (`?part=children`), for the script to insert in place.
pub fn children_fragment(
    tree: &DataTree,
    path: &str,
    node: &Node,
    offset: usize,
    limit: usize,
) -> String {
    let mut h = Html::new();
    let children = child_page(node, offset, limit);
    child_list(&mut h, tree, path, node, &children, limit);
    h.into_string()
}

/// The page for a path with no node: 404, linking the nearest ancestor that exists.
pub fn missing_page(tree: &DataTree, path: &str) -> String {
    let mut ancestor = path;
    while let Some(cut) = ancestor.rfind('/') {
        ancestor = if cut == 0 { "/" } else { &ancestor[..cut] };
        if tree.node(ancestor).is_some() {
            break;
        }
    }
    let mut extra = Html::new();
    extra
        .raw("<p>The nearest existing ancestor is <a class=\"ancestor\"")
        .attr("href", &node_url(ancestor, &[]))
        .raw(">")
        .text(ancestor)
        .raw("</a>.</p>");
    error_page("No such node", &format!("There is no node {path}."), &extra)
}

/// Says that `what` ("Its data is") is not shown to these identities, and how to show it.
fn hidden_note(h: &mut Html, viewer: &Viewer, what: &str) {
    h.raw("<p class=\"note hidden\">")
        .fmt(format_args!(
            "{what} not shown: this node's ACL does not grant READ to {}. Requests with \
             an Authorization: digest user:password header read as that user.",
            viewer.describe()
        ))
        .raw("</p>");
}

fn breadcrumbs(h: &mut Html, path: &str) {
    h.raw("<nav class=\"crumbs\" aria-label=\"Path\"><a href=\"/browse\">/</a>");
    let mut so_far = String::new();
    let names: Vec<&str> = path.split('/').filter(|n| !n.is_empty()).collect();
    for (i, name) in names.iter().enumerate() {
        so_far.push('/');
        so_far.push_str(name);
        if i > 0 {
            h.raw("<span class=\"sep\">/</span>");
        }
        if i + 1 == names.len() {
            h.raw("<span aria-current=\"page\">")
                .text(name)
                .raw("</span>");
        } else {
            h.link(&node_url(&so_far, &[]), name);
        }
    }
    h.raw("</nav>");
}

/// "persistent", "ephemeral", "container" or "TTL".
fn owner_kind_name(tree: &DataTree, node: &Node) -> &'static str {
    match OwnerKind::of(node.stat.ephemeral_owner, tree.extended_types()) {
        OwnerKind::Persistent => "persistent",
        OwnerKind::Ephemeral(_) => "ephemeral",
        OwnerKind::Container => "container",
        OwnerKind::Ttl(_) => "TTL",
    }
}

/// The `<ul>` of one page of children, ending with a "load more" item when more follow.
fn child_list(
    h: &mut Html,
    tree: &DataTree,
    path: &str,
    node: &Node,
    children: &ChildPage<'_>,
    limit: usize,
) {
    h.raw("<ul class=\"tree\"").attr("data-path", path).raw(">");
    for name in &children.names {
        let Some(child) = node.child(name) else {
            continue;
        };
        let child_path = child_path(path, name);
        let url = node_url(&child_path, &[]);
        h.raw("<li class=\"node\"")
            .attr("data-path", &child_path)
            .raw(">");
        if child.child_count() > 0 {
            h.raw("<button type=\"button\" class=\"toggle\" aria-expanded=\"false\" hidden")
                .attr("aria-label", &format!("Expand {name}"))
                .attr(
                    "data-fragment",
                    &node_url(&child_path, &[("part", "children")]),
                )
                .raw("></button>");
        } else {
            h.raw("<span class=\"leaf\" aria-hidden=\"true\"></span>");
        }
        h.raw("<a class=\"name\"")
            .attr("href", &url)
            .raw(">")
            .text(name)
            .raw("</a><span class=\"meta\">");
        if child.child_count() > 0 {
            h.text(&counted(child.child_count() as u64, "child", "children"));
            if child.descendant_count() > child.child_count() {
                h.fmt(format_args!(
                    " · {} below",
                    group(child.descendant_count() as u64)
                ));
            }
        }
        let kind = owner_kind_name(tree, child);
        if kind != "persistent" {
            h.raw("<span class=\"badge\">").text(kind).raw("</span>");
        }
        h.raw("</span></li>");
    }
    let next = children.offset.saturating_add(children.names.len());
    if next < children.total && !children.names.is_empty() {
        let next_text = next.to_string();
        let limit_text = limit.to_string();
        let params = [
            ("offset", next_text.as_str()),
            ("limit", limit_text.as_str()),
        ];
        let with_part = [params[0], params[1], ("part", "children")];
        h.raw("<li class=\"more\"><a class=\"more\"")
            .attr("href", &node_url(path, &params))
            .attr("data-fragment", &node_url(path, &with_part))
            .raw(">")
            .fmt(format_args!(
                "Load {} more ({} of {} shown)",
                group(limit.min(children.total - next) as u64),
                group(next as u64),
                group(children.total as u64)
            ))
            .raw("</a></li>");
    }
    h.raw("</ul>");
}

/// "Showing 101–200 of 2,500" with previous/next links, for paging without the script.
fn pager(h: &mut Html, path: &str, children: &ChildPage<'_>, limit: usize) {
    let shown = children.names.len();
    h.raw("<nav class=\"pager\" aria-label=\"Children pages\">");
    if shown == 0 {
        h.fmt(format_args!(
            "No children from offset {} (there are {}). ",
            group(children.offset as u64),
            group(children.total as u64)
        ));
    } else {
        h.fmt(format_args!(
            "Showing {}–{} of {}. ",
            group(children.offset as u64 + 1),
            group((children.offset + shown) as u64),
            group(children.total as u64)
        ));
    }
    let limit_text = limit.to_string();
    if children.offset > 0 {
        let prev = children.offset.saturating_sub(limit).to_string();
        h.raw("<a rel=\"prev\"")
            .attr(
                "href",
                &node_url(path, &[("offset", &prev), ("limit", &limit_text)]),
            )
            .raw(">Previous</a> ");
    }
    let next = children.offset.saturating_add(shown);
    if shown > 0 && next < children.total {
        let next = next.to_string();
        h.raw("<a rel=\"next\"")
            .attr(
                "href",
                &node_url(path, &[("offset", &next), ("limit", &limit_text)]),
            )
            .raw(">Next</a>");
    }
    h.raw("</nav>");
}

fn subtree_search(h: &mut Html, path: &str) {
    h.raw("<form class=\"find subtree\" action=\"/browse\" method=\"get\">")
        .raw("<input type=\"hidden\" name=\"under\"")
        .attr("value", path)
        .raw("><input type=\"search\" name=\"search\" aria-label=\"Search below this node\" ")
        .raw("placeholder=\"Search below this node\"><button type=\"submit\">Search</button>")
        .raw("</form>");
}

fn data_section(h: &mut Html, path: &str, node: &Node, view: Option<View>) {
    let data = node.data.as_deref();
    let encoding = data_view::detect(data);
    let view = view.unwrap_or(encoding.default_view());
    h.raw("<section class=\"card data\" id=\"data\"><h2>Data</h2><p class=\"hint\">")
        .text(&counted(
            data.map_or(0, <[u8]>::len) as u64,
            "byte",
            "bytes",
        ))
        .text(" · detected: ")
        .text(encoding.name())
        .raw("</p>");
    let Some(data) = data.filter(|d| !d.is_empty()) else {
        h.raw("</section>");
        return;
    };
    h.raw("<nav class=\"views\" aria-label=\"Data views\">");
    for v in View::ALL {
        let url = node_url(path, &[("view", v.as_str())]) + "#data";
        h.raw("<a");
        if v == view {
            h.raw(" aria-current=\"true\"");
        }
        h.attr("href", &url).raw(">").text(v.label()).raw("</a>");
    }
    h.raw("<a class=\"download\"")
        .attr("href", &node_url(path, &[("raw", "1")]))
        .raw(" download>Download</a></nav>");
    data_view::render(h, data, view);
    h.raw("</section>");
}

fn stat_section(h: &mut Html, tree: &DataTree, node: &Node) {
    let stat = tree.client_stat(node);
    h.raw("<section class=\"card stat\" id=\"stat\"><h2>Stat</h2><table><tbody>");
    let row = |h: &mut Html, name: &str, value: &str| {
        h.raw("<tr><th scope=\"row\">")
            .text(name)
            .raw("</th><td>")
            .text(value)
            .raw("</td></tr>");
    };
    row(h, "czxid", &zxid_hex(stat.czxid));
    row(h, "mzxid", &zxid_hex(stat.mzxid));
    row(h, "pzxid", &zxid_hex(stat.pzxid));
    row(h, "ctime", &format!("{} ({})", utc(stat.ctime), stat.ctime));
    row(h, "mtime", &format!("{} ({})", utc(stat.mtime), stat.mtime));
    row(h, "version", &stat.version.to_string());
    row(h, "cversion", &stat.cversion.to_string());
    row(h, "aversion", &stat.aversion.to_string());
    h.raw("<tr><th scope=\"row\">ephemeralOwner</th><td>");
    match OwnerKind::of(node.stat.ephemeral_owner, tree.extended_types()) {
        OwnerKind::Ephemeral(session) => {
            let id = zxid_hex(session);
            h.raw("<a class=\"owner\"")
                .attr("href", &browse_url(&[("session", &id)]))
                .raw(">")
                .text(&id)
                .raw("</a>");
            let open = tree.sessions().get(&session);
            match open {
                Some(timeout) => h.fmt(format_args!(" (session open, timeout {timeout} ms)")),
                None => h.text(" (session not open)"),
            };
        }
        OwnerKind::Persistent => {
            h.text("0x0 (persistent)");
        }
        OwnerKind::Container => {
            h.text("0x0 (container node)");
        }
        OwnerKind::Ttl(ms) => {
            h.fmt(format_args!("0x0 (TTL node, {ms} ms)"));
        }
    }
    h.raw("</td></tr>");
    row(h, "dataLength", &stat.data_length.to_string());
    row(h, "numChildren", &stat.num_children.to_string());
    h.raw("</tbody></table></section>");
}

/// `cdrwa` with the letters of the permissions held, as zkCli prints them.
pub fn perms_letters(perms: i32) -> String {
    use zk_proto::perms::{ADMIN, CREATE, DELETE, READ, WRITE};
    [
        (CREATE, 'c'),
        (DELETE, 'd'),
        (READ, 'r'),
        (WRITE, 'w'),
        (ADMIN, 'a'),
    ]
    .into_iter()
    .filter(|(bit, _)| perms & bit != 0)
    .map(|(_, letter)| letter)
    .collect()
}

fn acl_section(h: &mut Html, acl: &[Acl]) {
    h.raw("<section class=\"card acl\" id=\"acl\"><h2>ACL</h2>");
    if acl.is_empty() {
        h.raw("<p class=\"hint\">No ACL entries.</p></section>");
        return;
    }
    h.raw("<table><thead><tr><th>scheme</th><th>id</th><th>perms</th></tr></thead><tbody>");
    for entry in acl {
        h.raw("<tr><td>")
            .text(&entry.id.scheme)
            .raw("</td><td class=\"id\">")
            .text(&entry.id.id)
            .raw("</td><td><code>")
            .text(&perms_letters(entry.perms))
            .raw("</code></td></tr>");
    }
    h.raw("</tbody></table></section>");
}

fn watchers_section(h: &mut Html, watchers: &[(i64, WatcherType, WatchMode)]) {
    h.raw("<section class=\"card watchers\" id=\"watchers\"><h2>Watchers</h2>");
    if watchers.is_empty() {
        h.raw("<p class=\"hint\">No session watches this path.</p>");
    } else {
        h.raw("<table><thead><tr><th>session</th><th>on</th><th>mode</th></tr></thead><tbody>");
        for &(session, kind, mode) in watchers {
            let id = zxid_hex(session);
            h.raw("<tr><td>")
                .link(&browse_url(&[("session", &id)]), &id)
                .raw("</td><td>")
                .text(match kind {
                    WatcherType::Children => "children",
                    WatcherType::Data => "data",
                    _ => "any",
                })
                .raw("</td><td>")
                .text(match mode {
                    WatchMode::Standard => "one-shot",
                    WatchMode::Persistent => "persistent",
                    WatchMode::PersistentRecursive => "persistent recursive",
                })
                .raw("</td></tr>");
        }
        h.raw("</tbody></table>");
    }
    h.raw("<p class=\"hint\">Watches set on this exact path; a recursive watch shows on the ")
        .raw("node it was set on.</p></section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perms_print_as_zkcli_does() {
        assert_eq!(perms_letters(zk_proto::perms::ALL), "cdrwa");
        assert_eq!(perms_letters(zk_proto::perms::READ), "r");
        assert_eq!(
            perms_letters(zk_proto::perms::READ | zk_proto::perms::ADMIN),
            "ra"
        );
        assert_eq!(perms_letters(0), "");
    }

    #[test]
    fn the_missing_page_links_the_nearest_ancestor() {
        let tree = DataTree::new(false);
        let page = missing_page(&tree, "/zookeeper/nope/deeper");
        assert!(
            page.contains("href=\"/browse/zookeeper\">/zookeeper</a>"),
            "{page}"
        );
        let page = missing_page(&tree, "/nope");
        assert!(page.contains("href=\"/browse\">/</a>"), "{page}");
    }

    #[test]
    fn write_forms_follow_the_setting_and_the_client_port() {
        let tree = DataTree::new(false);
        let viewer = Viewer::of_request(
            &axum::http::HeaderMap::new(),
            Some("127.0.0.1:1".parse().unwrap()),
            None,
            false,
        )
        .unwrap();
        let render = |path: &str, writes: Writes| {
            let extras = NodeExtras {
                zxid: 0,
                watchers: Vec::new(),
                writes,
                viewer: viewer.clone(),
            };
            let query = NodeQuery {
                offset: 0,
                limit: DEFAULT_LIMIT,
                view: None,
            };
            node_page(&tree, path, tree.node(path).unwrap(), query, &extras)
        };
        let off = render("/", Writes::Off);
        assert!(!off.contains("method=\"post\"") && !off.contains("writes are not available"));
        let unavailable = render("/", Writes::Unavailable);
        assert!(unavailable.contains("writes are not available: this server has no plain"));
        assert!(!unavailable.contains("method=\"post\""));
        let on = render("/", Writes::On(Some("al".into())));
        assert!(on.contains("<code>digest:al</code>"));
        assert!(on.contains("action=\"/browse/_write/set\""));
        assert!(on.contains("action=\"/browse/_write/create\""));
        // The root cannot be deleted; /zookeeper has children.
        assert!(!on.contains("action=\"/browse/_write/delete\""));
        let quota = render("/zookeeper/quota", Writes::On(None));
        assert!(quota.contains("action=\"/browse/_write/delete\""));
        assert!(quota.contains("Writes need an <code>Authorization: digest"));
    }
}
