//! Search over paths: a walk of the tree (or of one subtree) that keeps the paths matching a
//! substring, or a glob when the pattern has `*` or `?`. The walk stops at [`MAX_RESULTS`]
//! matches or after [`MAX_WALK`], and the page says so.

use std::time::{Duration, Instant};

use super::access::Viewer;
use super::html::{group, page, Frame, Html};
use super::url::node_url;
use crate::tree::{DataTree, Node};

/// Matches listed at most.
pub const MAX_RESULTS: usize = 1000;
/// How long one search may walk.
pub const MAX_WALK: Duration = Duration::from_secs(2);
/// The longest pattern taken.
pub const MAX_PATTERN: usize = 1024;

/// What a walk found.
#[derive(Debug, Default)]
pub struct Found {
    /// Matching paths, sorted (the walk finds them depth first, children in the server's
    /// order; a capped walk keeps the first ones found).
    pub paths: Vec<String>,
    /// Nodes looked at.
    pub visited: usize,
    /// Why the walk stopped early, if it did.
    pub stopped: Option<&'static str>,
    /// Nodes with children not searched below: the viewer may not list them.
    pub unlisted: usize,
}

/// A pattern: a glob (whole path, `*` any run of characters including `/`, `?` one
/// character) or a substring of the path.
#[derive(Debug)]
pub enum Pattern {
    /// Matches paths containing this text.
    Substring(String),
    /// Matches whole paths against this glob, as characters.
    Glob(Vec<char>),
}

impl Pattern {
    /// The pattern the search box holds.
    pub fn new(text: &str) -> Pattern {
        if text.contains(['*', '?']) {
            Pattern::Glob(text.chars().collect())
        } else {
            Pattern::Substring(text.to_owned())
        }
    }

    /// Whether `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            Pattern::Substring(s) => path.contains(s.as_str()),
            Pattern::Glob(glob) => glob_matches(glob, path),
        }
    }
}

/// Glob matching with one backtrack point: the last `*` seen is retried one character further
/// each time the rest fails, so the cost is O(pattern × path), never exponential.
fn glob_matches(glob: &[char], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut g, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match glob.get(g) {
            Some('*') => {
                star = Some((g, t));
                g += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                g += 1;
                t += 1;
            }
            _ => match star {
                Some((star_g, star_t)) => {
                    g = star_g + 1;
                    t = star_t + 1;
                    star = Some((star_g, star_t + 1));
                }
                None => return false,
            },
        }
    }
    glob[g..].iter().all(|&c| c == '*')
}

/// Walks the subtree at `under` (itself included), depth first, below the nodes `viewer`
/// may list (READ, as getChildren wants).
pub fn walk(tree: &DataTree, under: &str, pattern: &Pattern, viewer: &Viewer) -> Found {
    let mut found = Found::default();
    let Some(start) = tree.node(under) else {
        return found;
    };
    let started = Instant::now();
    let check = |path: &str, found: &mut Found| {
        found.visited += 1;
        if pattern.matches(path) {
            found.paths.push(path.to_owned());
        }
    };
    check(under, &mut found);
    if start.child_count() > 0 && !viewer.may_read(tree, start) {
        found.unlisted += 1;
        return found;
    }
    // The path being built and, per level, the node whose children are being visited, an
    // iterator over their names and the length of the path above them.
    let mut path = if under == "/" {
        String::new()
    } else {
        under.to_owned()
    };
    type Level<'t> = (&'t Node, Box<dyn Iterator<Item = &'t str> + 't>, usize);
    let mut stack: Vec<Level<'_>> = vec![(start, Box::new(start.children()), path.len())];
    while let Some((node, names, parent_len)) = stack.last_mut() {
        if found.paths.len() >= MAX_RESULTS {
            found.stopped = Some("result limit");
            break;
        }
        if found.visited % 4096 == 0 && started.elapsed() > MAX_WALK {
            found.stopped = Some("time limit");
            break;
        }
        let (node, parent_len) = (*node, *parent_len);
        let Some(name) = names.next() else {
            stack.pop();
            continue;
        };
        path.truncate(parent_len);
        path.push('/');
        path.push_str(name);
        check(&path, &mut found);
        if let Some(child) = node.child(name).filter(|c| c.child_count() > 0) {
            if viewer.may_read(tree, child) {
                stack.push((child, Box::new(child.children()), path.len()));
            } else {
                found.unlisted += 1;
            }
        }
    }
    found.paths.sort_unstable();
    found
}

/// The search page: the form, then the matches.
pub fn search_page(
    tree: &DataTree,
    zxid: i64,
    text: &str,
    under: &str,
    found: Option<&Found>,
) -> String {
    let mut h = Html::new();
    h.raw("<h1>Search</h1>");
    match found {
        None => {
            h.raw("<p class=\"hint\">Type part of a path (<code>lock</code>), or a glob over ")
                .raw("the whole path (<code>/app/*/config</code>: <code>*</code> is any run ")
                .raw("of characters, <code>?</code> one character).</p>");
        }
        Some(found) => {
            h.raw("<p class=\"summary\">").fmt(format_args!(
                "{} matching {:?}",
                match found.paths.len() {
                    1 => "1 path".to_owned(),
                    n => format!("{} paths", group(n as u64)),
                },
                text
            ));
            if under != "/" {
                h.text(" below ").link(&node_url(under, &[]), under);
            }
            h.fmt(format_args!(
                " ({} of {} nodes looked at).",
                group(found.visited as u64),
                group(tree.node_count() as u64)
            ))
            .raw("</p>");
            if let Some(why) = found.stopped {
                h.raw("<p class=\"note\">")
                    .fmt(format_args!(
                        "The search stopped at its {why} ({} results, {} s): narrow the \
                         pattern or search below a node.",
                        MAX_RESULTS,
                        MAX_WALK.as_secs()
                    ))
                    .raw("</p>");
            }
            if found.unlisted > 0 {
                h.raw("<p class=\"note\">")
                    .fmt(format_args!(
                        "Not searched below {} that this request may not list (no READ in \
                         their ACL).",
                        match found.unlisted {
                            1 => "1 node".to_owned(),
                            n => format!("{} nodes", group(n as u64)),
                        }
                    ))
                    .raw("</p>");
            }
            h.raw("<ul class=\"results\">");
            for path in &found.paths {
                h.raw("<li>").link(&node_url(path, &[]), path).raw("</li>");
            }
            h.raw("</ul>");
        }
    }
    page(
        &Frame {
            title: format!("Search {text}"),
            tree: Some((zxid, tree.node_count())),
            search: text.to_owned(),
        },
        &h,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let g = |p: &str, t: &str| glob_matches(&p.chars().collect::<Vec<_>>(), t);
        assert!(g("/app/*/config", "/app/a/config"));
        assert!(g("/app/*/config", "/app/a/b/config"));
        assert!(!g("/app/*/config", "/app/a/config2"));
        assert!(g("*lock*", "/x/lock-0001"));
        assert!(g("/a?c", "/abc"));
        assert!(!g("/a?c", "/ac"));
        assert!(g("*", ""));
        assert!(g("/é*", "/éa"));
        assert!(!g("/a", "/ab"));
        // Many stars on a long miss stay fast.
        let long = "a".repeat(5000);
        assert!(!g("*a*a*a*a*a*b", &long));
    }

    #[test]
    fn substring_or_glob() {
        assert!(Pattern::new("ook").matches("/zookeeper"));
        assert!(Pattern::new("keeper/q").matches("/zookeeper/quota"));
        assert!(!Pattern::new("quotas").matches("/zookeeper/quota"));
        // With a wildcard the glob covers the whole path.
        assert!(!Pattern::new("/zoo?").matches("/zookeeper"));
        assert!(Pattern::new("/zoo*").matches("/zookeeper/quota"));
    }

    fn anyone() -> Viewer {
        let headers = axum::http::HeaderMap::new();
        Viewer::of_request(&headers, None, None, false).unwrap()
    }

    #[test]
    fn walks_a_subtree() {
        let tree = DataTree::new(false);
        let anyone = anyone();
        let all = walk(&tree, "/", &Pattern::new("*"), &anyone);
        assert_eq!(
            all.paths,
            ["/", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"]
        );
        assert_eq!(all.visited, 4);
        assert!(all.stopped.is_none());
        let below = walk(&tree, "/zookeeper", &Pattern::new("quota"), &anyone);
        assert_eq!(below.paths, ["/zookeeper/quota"]);
        assert_eq!(below.visited, 3);
        assert!(walk(&tree, "/nope", &Pattern::new("x"), &anyone)
            .paths
            .is_empty());
    }
}
