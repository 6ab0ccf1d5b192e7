//! The write forms on a node's page and what they post: `set` (new data, the version the
//! page showed), `create` (a child's name, data and mode) and `delete` (the version the page
//! showed), each a `POST /browse/_write/<op>` of `application/x-www-form-urlencoded` fields.
//!
//! Checks before anything is written: the request comes from a page of this server
//! ([`same_origin`]), the body is a form under [`MAX_BODY`] whose fields are each given at
//! most once, the data decodes (text, base64 or hex) to at most [`MAX_DATA`] bytes.
//!
//! A child gets `OPEN_ACL_UNSAFE` (world:anyone, all permissions) when its parent has exactly
//! that ACL; otherwise all permissions for the creator's digest identity only.

use axum::http::{header, HeaderMap};
use base64::Engine as _;
use bytes::Bytes;
use zk_proto::data::{Acl, Id};
use zk_proto::CreateMode;

use super::data_view::{self, Encoding};
use super::html::{counted, Html};
use super::url::QueryParams;
use super::write::WriteOp;
use crate::tree::{DataTree, Node};

/// The largest form body accepted (1 MiB of data percent-encoded takes up to 3 MiB).
pub const MAX_BODY: usize = 3 * MAX_DATA + 64 * 1024;
/// The most data a write may carry (the server's default `jute.maxbuffer` is a little less:
/// the server refuses what its own limit does not take).
pub const MAX_DATA: usize = 1 << 20;

/// Where the forms post, below `/browse`.
pub const WRITE_DIR: &str = "_write";

/// The write a form asks for, before its ACL is known (`create` needs the parent's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    /// `set`: the node, its new data, the version the page showed.
    Set {
        /// The node.
        path: String,
        /// The new data.
        data: Bytes,
        /// The expected version.
        version: i32,
    },
    /// `create`: the parent, the child's name (a prefix for a sequential node), data, mode.
    Create {
        /// The parent.
        parent: String,
        /// The child's path.
        path: String,
        /// Its data.
        data: Bytes,
        /// Its mode.
        mode: CreateMode,
    },
    /// `delete`: the node and the version the page showed.
    Delete {
        /// The node.
        path: String,
        /// The expected version.
        version: i32,
    },
}

impl Form {
    /// Parses the body of `POST /browse/_write/<op>`.
    pub fn parse(op: &str, body: &[u8]) -> Result<Form, String> {
        let body = std::str::from_utf8(body).map_err(|_| "the form is not UTF-8".to_owned())?;
        let fields = QueryParams::parse(Some(body))?;
        if let Some(key) = fields.repeated() {
            return Err(format!("the field {key:?} is given twice"));
        }
        let path = |key: &str| -> Result<String, String> {
            let path = fields
                .get(key)
                .ok_or_else(|| format!("the field {key:?} is missing"))?;
            super::url::check_znode_path(path)?;
            Ok(path.to_owned())
        };
        let version = || -> Result<i32, String> {
            let text = fields.get("version").unwrap_or("");
            text.parse::<i32>()
                .map_err(|_| format!("version must be a number, not {text:?}"))
        };
        let data = || decode_data(fields.get("data").unwrap_or(""), fields.get("encoding"));
        match op {
            "set" => Ok(Form::Set {
                path: path("path")?,
                data: data()?,
                version: version()?,
            }),
            "create" => {
                let parent = path("parent")?;
                let name = fields.get("name").unwrap_or("");
                let mode = match fields.get("mode").unwrap_or("persistent") {
                    "persistent" => CreateMode::Persistent,
                    "persistent_sequential" => CreateMode::PersistentSequential,
                    "container" => CreateMode::Container,
                    other => {
                        return Err(format!(
                            "unknown mode {other:?}: persistent, persistent_sequential or \
                             container"
                        ))
                    }
                };
                if name.is_empty() && mode != CreateMode::PersistentSequential {
                    return Err("the child needs a name".to_owned());
                }
                if name.contains('/') {
                    return Err("a name cannot contain /".to_owned());
                }
                let path = if parent == "/" {
                    format!("/{name}")
                } else {
                    format!("{parent}/{name}")
                };
                if !name.is_empty() {
                    super::url::check_znode_path(&path)?;
                }
                Ok(Form::Create {
                    parent,
                    path,
                    data: data()?,
                    mode,
                })
            }
            "delete" => Ok(Form::Delete {
                path: path("path")?,
                version: version()?,
            }),
            other => Err(format!("unknown write {other:?}")),
        }
    }

    /// The node whose ACL decides: the node for `set`, its parent for `create` and `delete`.
    pub fn acl_node(&self) -> &str {
        match self {
            Form::Set { path, .. } => path,
            Form::Create { parent, .. } => parent,
            Form::Delete { path, .. } => parent_of(path),
        }
    }

    /// The permission the write needs on [`Form::acl_node`] (as the server checks it).
    pub fn perm(&self) -> i32 {
        match self {
            Form::Set { .. } => zk_proto::perms::WRITE,
            Form::Create { .. } => zk_proto::perms::CREATE,
            Form::Delete { .. } => zk_proto::perms::DELETE,
        }
    }

    /// The write, a child's ACL chosen from its parent's (`parent_acl`) and the creator's
    /// digest id (`user:hash`).
    pub fn into_op(self, parent_acl: &[Acl], digest_id: &str) -> WriteOp {
        match self {
            Form::Set {
                path,
                data,
                version,
            } => WriteOp::SetData {
                path,
                data,
                version,
            },
            Form::Create {
                path, data, mode, ..
            } => WriteOp::Create {
                path,
                data,
                acl: child_acl(parent_acl, digest_id),
                mode,
            },
            Form::Delete { path, version } => WriteOp::Delete { path, version },
        }
    }
}

/// The ACL a child made here gets: `OPEN_ACL_UNSAFE` under a parent with exactly that ACL,
/// otherwise all permissions for the creator's digest id.
pub fn child_acl(parent_acl: &[Acl], digest_id: &str) -> Vec<Acl> {
    if parent_acl == Acl::open_unsafe().as_slice() {
        Acl::open_unsafe()
    } else {
        vec![Acl::new(zk_proto::perms::ALL, Id::new("digest", digest_id))]
    }
}

/// The parent of a path (`/` for a top-level node and for `/` itself).
pub fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Decodes the data field: `text` (line breaks sent as CRLF, as browsers send a textarea's,
/// become LF), `base64` or `hex` (blanks ignored).
fn decode_data(value: &str, encoding: Option<&str>) -> Result<Bytes, String> {
    let data = match encoding.unwrap_or("text") {
        "text" => value.replace("\r\n", "\n").into_bytes(),
        "base64" => {
            let packed: String = value.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(packed)
                .map_err(|e| format!("the data is not base64: {e}"))?
        }
        "hex" => {
            let digits: Vec<u8> = value.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
            if digits.len() % 2 != 0 {
                return Err("the hex data has an odd number of digits".to_owned());
            }
            digits
                .chunks(2)
                .map(|pair| {
                    std::str::from_utf8(pair)
                        .ok()
                        .and_then(|p| u8::from_str_radix(p, 16).ok())
                        .ok_or_else(|| "the data is not hex".to_owned())
                })
                .collect::<Result<_, _>>()?
        }
        other => return Err(format!("unknown encoding {other:?}: text, base64 or hex")),
    };
    if data.len() > MAX_DATA {
        return Err(format!("the data is over {MAX_DATA} bytes"));
    }
    Ok(Bytes::from(data))
}

/// Whether the request comes from a page of this server: its `Origin` (or, without one, its
/// `Referer`) must name the `Host` it was sent to. A request with neither (not a browser's)
/// passes; `Origin: null` does not.
pub fn same_origin(headers: &HeaderMap) -> Result<(), String> {
    let text = |name: header::HeaderName| -> Result<Option<&str>, String> {
        headers
            .get(&name)
            .map(|v| {
                v.to_str()
                    .map_err(|_| format!("an unreadable {name} header"))
            })
            .transpose()
    };
    let host = text(header::HOST)?.ok_or_else(|| "the request has no Host header".to_owned())?;
    let (source, url) = match (text(header::ORIGIN)?, text(header::REFERER)?) {
        (Some(origin), _) => ("Origin", origin),
        (None, Some(referer)) => ("Referer", referer),
        (None, None) => return Ok(()),
    };
    let authority = url
        .split_once("://")
        .map(|(scheme, rest)| {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            (scheme, &rest[..end])
        })
        .filter(|(_, authority)| !authority.is_empty() && !authority.contains('@'));
    let Some((scheme, authority)) = authority else {
        return Err(format!("its {source} ({url}) names no site"));
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return Err(format!("its {source} ({url}) is not http or https")),
    };
    let normal = |a: &str| {
        let a = a.to_ascii_lowercase();
        a.strip_suffix(default_port).map(str::to_owned).unwrap_or(a)
    };
    if normal(authority) == normal(host) {
        Ok(())
    } else {
        Err(format!(
            "its {source} ({url}) is another site than this server ({host})"
        ))
    }
}

/// What a node page knows about writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Writes {
    /// `admin.browser.writable=false`: no forms.
    Off,
    /// Writable, but the server has no plain client port to write through.
    Unavailable,
    /// Forms; the user name of the request's digest identity, if it has one.
    On(Option<String>),
}

/// The write forms of a node's page (`readable`: whether its data may be shown).
pub fn write_section(
    h: &mut Html,
    tree: &DataTree,
    path: &str,
    node: &Node,
    readable: bool,
    user: Option<&str>,
) {
    let stat = tree.client_stat(node);
    let version = stat.version.to_string();
    h.raw("<section class=\"card write\" id=\"write\"><h2>Change</h2>");
    match user {
        Some(user) => {
            h.raw("<p class=\"hint\">Writes run as a client session of ")
                .raw("<code>digest:")
                .text(user)
                .raw("</code> (your Authorization header) through the client port; ")
                .raw("the node&#39;s ACL decides.</p>");
        }
        None => {
            h.raw("<p class=\"note\">Writes need an <code>Authorization: digest ")
                .raw("user:password</code> header: they run as that identity, and this ")
                .raw("request has none.</p>");
        }
    }

    // Set data.
    let data = node.data.as_deref();
    let (prefill, encoding, hint): (String, &str, Option<String>) = if !readable {
        (
            String::new(),
            "text",
            Some("Its data is hidden from you; setting it replaces it.".to_owned()),
        )
    } else {
        match data_view::detect(data) {
            Encoding::Null | Encoding::Empty => (String::new(), "text", None),
            _ if data.map_or(0, <[u8]>::len) > MAX_DATA => (
                String::new(),
                "text",
                Some("Its data is too large to edit here; setting it replaces it.".to_owned()),
            ),
            Encoding::Text | Encoding::Json => (
                String::from_utf8_lossy(data.unwrap_or_default()).into_owned(),
                "text",
                None,
            ),
            Encoding::Binary => (
                base64::engine::general_purpose::STANDARD.encode(data.unwrap_or_default()),
                "base64",
                Some("Its data is binary: shown and sent as base64.".to_owned()),
            ),
        }
    };
    h.raw("<form class=\"write set\" method=\"post\" accept-charset=\"utf-8\"")
        .attr("action", &format!("/browse/{WRITE_DIR}/set"))
        .raw("><h3>Set data</h3>");
    hidden(h, "path", path);
    hidden(h, "version", &version);
    if let Some(hint) = hint {
        h.raw("<p class=\"hint\">").text(&hint).raw("</p>");
    }
    // The newline after <textarea> is eaten by the HTML parser, so data that starts with
    // one keeps it.
    h.raw("<textarea name=\"data\" rows=\"8\" spellcheck=\"false\" aria-label=\"New data\">\n")
        .text(&prefill)
        .raw("</textarea><div class=\"row\">");
    encoding_select(h, encoding);
    h.raw("<button type=\"submit\">")
        .fmt(format_args!("Set data (if still version {version})"))
        .raw("</button></div></form>");

    // Create a child.
    let child_is_open = tree.acl(node).as_slice() == Acl::open_unsafe().as_slice();
    h.raw("<form class=\"write create\" method=\"post\" accept-charset=\"utf-8\"")
        .attr("action", &format!("/browse/{WRITE_DIR}/create"))
        .raw("><h3>Create child</h3>");
    hidden(h, "parent", path);
    h.raw("<div class=\"row\"><input type=\"text\" name=\"name\" aria-label=\"Child name\" ")
        .raw("placeholder=\"name\" spellcheck=\"false\">")
        .raw("<select name=\"mode\" aria-label=\"Mode\">")
        .raw("<option value=\"persistent\" selected>persistent</option>")
        .raw("<option value=\"persistent_sequential\">persistent sequential</option>")
        .raw("<option value=\"container\">container</option></select></div>")
        .raw("<textarea name=\"data\" rows=\"3\" spellcheck=\"false\" aria-label=\"Data\" ")
        .raw("placeholder=\"data (optional)\">\n</textarea><div class=\"row\">");
    encoding_select(h, "text");
    h.raw("<button type=\"submit\">Create child</button></div><p class=\"hint\">ACL: ");
    if child_is_open {
        h.raw("world:anyone, all permissions (as this node&#39;s).");
    } else {
        h.raw("all permissions for your digest identity only.");
    }
    h.raw("</p></form>");

    // Delete.
    if path != "/" {
        if node.child_count() == 0 {
            h.raw("<form class=\"write delete\" method=\"post\"")
                .attr("action", &format!("/browse/{WRITE_DIR}/delete"))
                .raw("><h3>Delete</h3>");
            hidden(h, "path", path);
            hidden(h, "version", &version);
            h.raw("<button type=\"submit\" class=\"danger\">")
                .fmt(format_args!(
                    "Delete this node (if still version {version})"
                ))
                .raw("</button></form>");
        } else {
            h.raw("<p class=\"hint\">Delete: only a node without children can be deleted; ")
                .raw("this one has ")
                .text(&counted(node.child_count() as u64, "child", "children"))
                .raw(".</p>");
        }
    }
    h.raw("</section>");
}

fn hidden(h: &mut Html, name: &str, value: &str) {
    h.raw("<input type=\"hidden\"")
        .attr("name", name)
        .attr("value", value)
        .raw(">");
}

fn encoding_select(h: &mut Html, selected: &str) {
    h.raw("<select name=\"encoding\" aria-label=\"Data encoding\">");
    for (value, label) in [
        ("text", "text (UTF-8)"),
        ("base64", "base64"),
        ("hex", "hex"),
    ] {
        h.raw("<option").attr("value", value);
        if value == selected {
            h.raw(" selected");
        }
        h.raw(">").text(label).raw("</option>");
    }
    h.raw("</select>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn only_pages_of_this_server_may_post() {
        let ok = [
            vec![("host", "zk:8080"), ("origin", "http://zk:8080")],
            vec![("host", "ZK:8080"), ("origin", "http://zk:8080")],
            vec![("host", "zk:80"), ("origin", "http://zk")],
            vec![("host", "zk"), ("origin", "https://zk:443")],
            vec![
                ("host", "zk:8080"),
                ("referer", "http://zk:8080/browse/a?x=1"),
            ],
            vec![("host", "[::1]:8080"), ("origin", "http://[::1]:8080")],
            vec![("host", "zk:8080")],
        ];
        for h in ok {
            assert_eq!(same_origin(&headers(&h)), Ok(()), "{h:?}");
        }
        let refused = [
            vec![("host", "zk:8080"), ("origin", "http://evil:8080")],
            vec![("host", "zk:8080"), ("origin", "http://zk:8081")],
            vec![("host", "zk:8080"), ("origin", "null")],
            vec![("host", "zk:8080"), ("referer", "http://evil/browse")],
            vec![("host", "zk:8080"), ("origin", "http://zk:8080@evil")],
            vec![("host", "zk:8080"), ("origin", "ftp://zk:8080")],
            vec![("origin", "http://zk:8080")],
            // Origin wins over a matching Referer.
            vec![
                ("host", "zk:8080"),
                ("origin", "http://evil"),
                ("referer", "http://zk:8080/"),
            ],
        ];
        for h in refused {
            assert!(same_origin(&headers(&h)).is_err(), "{h:?}");
        }
    }

    #[test]
    fn forms_parse_strictly() {
        assert_eq!(
            Form::parse("set", b"path=%2Fa+b&version=3&data=x%0D%0Ay").unwrap(),
            Form::Set {
                path: "/a b".into(),
                data: Bytes::from_static(b"x\ny"),
                version: 3
            }
        );
        assert_eq!(
            Form::parse("set", b"path=/a&version=0&data=AAE%3D&encoding=base64").unwrap(),
            Form::Set {
                path: "/a".into(),
                data: Bytes::from_static(b"\x00\x01"),
                version: 0
            }
        );
        assert_eq!(
            Form::parse(
                "create",
                b"parent=/&name=c&mode=container&data=0a+FF&encoding=hex"
            )
            .unwrap(),
            Form::Create {
                parent: "/".into(),
                path: "/c".into(),
                data: Bytes::from_static(b"\x0a\xff"),
                mode: CreateMode::Container
            }
        );
        let seq = Form::parse("create", b"parent=/q&name=&mode=persistent_sequential").unwrap();
        assert!(matches!(seq, Form::Create { ref path, .. } if path == "/q/"));
        assert_eq!(seq.acl_node(), "/q");
        let delete = Form::parse("delete", b"path=/q/a&version=2").unwrap();
        assert_eq!(delete.acl_node(), "/q");
        assert_eq!(delete.perm(), zk_proto::perms::DELETE);
        for (op, bad) in [
            ("set", &b"path=/a&version=x&data="[..]),
            ("set", b"path=/a&path=/b&version=1"),
            ("set", b"path=a&version=1"),
            ("set", b"path=/a/../b&version=1"),
            ("set", b"version=1"),
            ("set", b"path=/a&version=1&data=zz&encoding=hex"),
            ("set", b"path=/a&version=1&data=abc&encoding=rot13"),
            ("set", b"path=/a&version=1&data=%ff"),
            ("create", b"parent=/&name="),
            ("create", b"parent=/&name=a/b"),
            ("create", b"parent=/&name=..&mode=persistent"),
            ("create", b"parent=/&name=a&mode=ephemeral"),
            ("delete", b"path=/a"),
            ("rename", b"path=/a"),
        ] {
            assert!(Form::parse(op, bad).is_err(), "{op} {:?}", bad);
        }
    }

    #[test]
    fn children_of_open_nodes_are_open_others_belong_to_their_creator() {
        assert_eq!(child_acl(&Acl::open_unsafe(), "al:h"), Acl::open_unsafe());
        let mine = vec![Acl::new(zk_proto::perms::ALL, Id::new("digest", "al:h"))];
        assert_eq!(child_acl(&Acl::read_unsafe(), "al:h"), mine);
        assert_eq!(child_acl(&mine, "al:h"), mine);
        assert_eq!(parent_of("/a"), "/");
        assert_eq!(parent_of("/a/b"), "/a");
    }
}
