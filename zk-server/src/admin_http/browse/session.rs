//! The session page (`/browse?session=0x...`): whether the session is open, its client
//! connection as the `cons` command sees it (remote address, since when, last operation) and
//! the ephemeral nodes it owns.

use super::html::{counted, group, page, utc, zxid_hex, Frame, Html};
use super::page::{MAX_LIMIT, SORT_LIMIT};
use super::url::node_url;
use crate::admin::ConnectionInfo;
use crate::tree::DataTree;

/// A session id as written in a URL: hex with or without `0x`, or decimal with a sign.
pub fn parse_session_id(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().map(|id| id as i64);
    }
    // Bare digits are read as hex, as session ids are printed; a sign means decimal.
    if text.starts_with(['-', '+']) {
        return text.parse().ok();
    }
    u64::from_str_radix(text, 16).ok().map(|id| id as i64)
}

/// The page of `session`; `connections` are the server's client connections of that session
/// (`None` when the server could not say).
pub fn session_page(
    tree: &DataTree,
    zxid: i64,
    session: i64,
    connections: Option<&[ConnectionInfo]>,
) -> String {
    let id = zxid_hex(session);
    let mut h = Html::new();
    h.raw("<nav class=\"crumbs\"><a href=\"/browse\">/</a></nav><h1>Session ")
        .text(&id)
        .raw("</h1><p class=\"summary\">");
    match tree.sessions().get(&session) {
        Some(timeout) => h.fmt(format_args!("Open; session timeout {timeout} ms.")),
        None => h.text("Not an open session (closed or expired, or never existed)."),
    };
    h.raw("</p><section class=\"card\" id=\"connection\"><h2>Connection</h2>");
    match connections {
        None => {
            h.raw("<p class=\"hint\">The server did not list its connections.</p>");
        }
        Some([]) => {
            h.raw("<p class=\"hint\">No client is connected to this server with this ")
                .raw("session (it may be connected to another ensemble member).</p>");
        }
        Some(conns) => {
            h.raw("<table><thead><tr><th>remote address</th><th>connected since</th>")
                .raw("<th>last operation</th><th>packets in/out</th></tr></thead><tbody>");
            for c in conns {
                h.raw("<tr><td class=\"remote\">")
                    .text(&c.remote.to_string())
                    .raw("</td><td>")
                    .text(&utc(c.established_wall_ms))
                    .raw("</td><td>")
                    .text(&c.last_op)
                    .raw("</td><td>")
                    .fmt(format_args!("{} / {}", c.packets_received, c.packets_sent))
                    .raw("</td></tr>");
            }
            h.raw("</tbody></table>");
        }
    }
    h.raw("</section><section class=\"card\" id=\"ephemerals\"><h2>Ephemeral nodes</h2>");
    let total = tree.ephemerals(session).count();
    if total == 0 {
        h.raw("<p class=\"hint\">None.</p>");
    } else {
        // Sorted when there are few enough to sort per request, as children are.
        let paths: Vec<&str> = if total <= SORT_LIMIT {
            let mut all: Vec<&str> = tree.ephemerals(session).collect();
            all.sort_unstable();
            all.truncate(MAX_LIMIT);
            all
        } else {
            tree.ephemerals(session).take(MAX_LIMIT).collect()
        };
        h.raw("<p class=\"hint\">")
            .text(&counted(total as u64, "node", "nodes"));
        if total > paths.len() {
            h.fmt(format_args!(
                "; the first {} are listed",
                group(paths.len() as u64)
            ));
        }
        h.raw(".</p><ul class=\"results\">");
        for path in paths {
            h.raw("<li>").link(&node_url(path, &[]), path).raw("</li>");
        }
        h.raw("</ul>");
    }
    h.raw("</section>");
    page(
        &Frame {
            title: format!("Session {id}"),
            tree: Some((zxid, tree.node_count())),
            search: String::new(),
        },
        &h,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids() {
        assert_eq!(parse_session_id("0x100000abc"), Some(0x1_0000_0abc));
        assert_eq!(parse_session_id("100000abc"), Some(0x1_0000_0abc));
        assert_eq!(parse_session_id("0xffffffffffffffff"), Some(-1));
        assert_eq!(parse_session_id("-5"), Some(-5));
        assert_eq!(parse_session_id("0xzz"), None);
        assert_eq!(parse_session_id(""), None);
    }

    #[test]
    fn a_closed_session_page() {
        let tree = DataTree::new(false);
        let page = session_page(&tree, 7, 0x42, Some(&[]));
        assert!(page.contains("Session 0x42"));
        assert!(page.contains("Not an open session"));
        assert!(page.contains("No client is connected"));
    }
}
