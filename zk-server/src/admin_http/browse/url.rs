//! The browser's URLs: a znode path is the URL path after `/browse`, one percent-encoded
//! segment per name (`/browse/app/a%20b` is `/app/a b`); options ride in the query string.
//!
//! Decoding is strict, as paths come from anyone who can reach the port: invalid
//! percent-encoding, bytes that are not UTF-8, NUL, empty segments (`//`), `.` and `..` (also
//! when percent-encoded) and an encoded `/` inside a name are refused, never "fixed".

/// The first segment of the assets' URLs (`/browse/_assets/browse.js`).
pub const ASSETS_DIR: &str = "_assets";

/// The files served from [`ASSETS_DIR`]. A znode with the same path (`/_assets/browse.js`) is
/// linked as `/browse?path=...` instead, so it stays reachable.
pub const ASSET_FILES: [&str; 2] = ["browse.js", "browse.css"];

/// The znode path of the URL path below `/browse` (`""` or `/` is the root). A single
/// trailing `/` is ignored; an `Err` says what is wrong, for a 400 page.
pub fn znode_path(url_path: &str) -> Result<String, String> {
    let trimmed = url_path.strip_suffix('/').unwrap_or(url_path);
    if trimmed.is_empty() {
        return Ok("/".to_owned());
    }
    let Some(rest) = trimmed.strip_prefix('/') else {
        return Err("the path must start with /".to_owned());
    };
    let mut path = String::with_capacity(trimmed.len());
    for segment in rest.split('/') {
        let name = percent_decode(segment, false)?;
        check_name(&name)?;
        path.push('/');
        path.push_str(&name);
    }
    Ok(path)
}

/// Checks a znode path given whole (the `path=` parameter): absolute, no empty, `.` or `..`
/// names, no NUL.
pub fn check_znode_path(path: &str) -> Result<(), String> {
    if path == "/" {
        return Ok(());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err("a znode path starts with /".to_owned());
    };
    rest.split('/').try_for_each(check_name)
}

fn check_name(name: &str) -> Result<(), String> {
    match name {
        "" => Err("empty path segment (//)".to_owned()),
        "." | ".." => Err(format!("{name:?} is not a znode name")),
        _ if name.contains('\0') => Err("NUL in the path".to_owned()),
        _ if name.contains('/') => Err("an encoded / inside a name".to_owned()),
        _ => Ok(()),
    }
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, as in query strings) into
/// UTF-8 text.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Result<String, String> {
    let escapes = s.contains('%') || (plus_is_space && s.contains('+'));
    if !escapes {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .ok_or_else(|| "invalid percent-encoding".to_owned())?;
                out.push(u8::from_str_radix(hex, 16).expect("two hex digits"));
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "percent-encoded bytes that are not UTF-8".to_owned())
}

/// Appends `s` percent-encoded, keeping only characters that mean nothing special in a URL
/// path segment or query value (letters, digits, `-._~`).
pub fn push_encoded(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// The URL of a znode's page with these query parameters (values are encoded here).
pub fn node_url(path: &str, params: &[(&str, &str)]) -> String {
    let mut url = String::from("/browse");
    let names: Vec<&str> = path.split('/').filter(|n| !n.is_empty()).collect();
    let shadowed_by_asset =
        names.len() == 2 && names[0] == ASSETS_DIR && ASSET_FILES.contains(&names[1]);
    let mut separator = '?';
    if shadowed_by_asset {
        url.push_str("?path=");
        push_encoded(&mut url, path);
        separator = '&';
    } else {
        for name in names {
            url.push('/');
            push_encoded(&mut url, name);
        }
    }
    for (key, value) in params {
        url.push(separator);
        separator = '&';
        url.push_str(key);
        url.push('=');
        push_encoded(&mut url, value);
    }
    url
}

/// A URL under `/browse` with query parameters (for the search and session pages).
pub fn browse_url(params: &[(&str, &str)]) -> String {
    let mut url = String::from("/browse");
    for (i, (key, value)) in params.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(key);
        url.push('=');
        push_encoded(&mut url, value);
    }
    url
}

/// A query string's parameters, decoded; the first of repeated keys wins.
#[derive(Debug, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// Parses `a=1&b=x+y` (absent: no parameters).
    pub fn parse(query: Option<&str>) -> Result<QueryParams, String> {
        let mut params = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            params.push((percent_decode(key, true)?, percent_decode(value, true)?));
        }
        Ok(QueryParams(params))
    }

    /// The value of `key`, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first key given more than once, if any (forms take each field once).
    pub fn repeated(&self) -> Option<&str> {
        self.0
            .iter()
            .enumerate()
            .find(|(i, (k, _))| self.0[..*i].iter().any(|(earlier, _)| earlier == k))
            .map(|(_, (k, _))| k.as_str())
    }

    /// Whether `key` is the only parameter given.
    pub fn only(&self, key: &str) -> bool {
        self.0.iter().all(|(k, _)| k == key)
    }

    /// `key` as a count: absent is `None`, digits are read saturating (a huge number is
    /// clamped by the caller, not refused), anything else is an error.
    pub fn count(&self, key: &str) -> Result<Option<usize>, String> {
        let Some(value) = self.get(key).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        if !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{key} must be a number, not {value:?}"));
        }
        Ok(Some(value.bytes().fold(0usize, |n, d| {
            n.saturating_mul(10).saturating_add(usize::from(d - b'0'))
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_paths_decode_to_znode_paths() {
        assert_eq!(znode_path("").unwrap(), "/");
        assert_eq!(znode_path("/").unwrap(), "/");
        assert_eq!(znode_path("/app/a").unwrap(), "/app/a");
        assert_eq!(znode_path("/app/a/").unwrap(), "/app/a");
        assert_eq!(znode_path("/a%20b/%C3%A9+").unwrap(), "/a b/é+");
        assert_eq!(znode_path("/...").unwrap(), "/...");
        for bad in [
            "/a//b",
            "//",
            "/a/../b",
            "/a/%2e%2E",
            "/.",
            "/a%00",
            "/a%2Fb",
            "/a%zz",
            "/a%4",
            "/%ff",
            "a",
        ] {
            assert!(znode_path(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn names_encode_and_decode_back() {
        for name in [
            "plain",
            "a b",
            "<script>",
            "100%",
            "q?#&=+",
            "é€😀",
            "x.y-z_~",
        ] {
            let url = node_url(&format!("/p/{name}"), &[]);
            let rest = url.strip_prefix("/browse").unwrap();
            assert!(!rest.contains(['<', ' ', '?', '#', '"']), "{url}");
            assert_eq!(znode_path(rest).unwrap(), format!("/p/{name}"));
        }
        assert_eq!(node_url("/", &[]), "/browse");
        assert_eq!(
            node_url("/a", &[("offset", "100"), ("view", "a b")]),
            "/browse/a?offset=100&view=a%20b"
        );
    }

    #[test]
    fn a_znode_shadowed_by_an_asset_is_linked_by_query() {
        assert_eq!(
            node_url("/_assets/browse.js", &[("view", "hex")]),
            "/browse?path=%2F_assets%2Fbrowse.js&view=hex"
        );
        assert_eq!(node_url("/_assets/other", &[]), "/browse/_assets/other");
    }

    #[test]
    fn query_parameters() {
        let q = QueryParams::parse(Some(
            "search=a+b%2A&limit=99999999999999999999999&x&offset=",
        ))
        .unwrap();
        assert_eq!(q.get("search"), Some("a b*"));
        assert_eq!(q.count("limit").unwrap(), Some(usize::MAX));
        assert_eq!(q.get("x"), Some(""));
        assert_eq!(q.count("offset").unwrap(), None);
        assert_eq!(q.count("missing").unwrap(), None);
        assert!(QueryParams::parse(Some("limit=-1"))
            .unwrap()
            .count("limit")
            .is_err());
        assert!(QueryParams::parse(Some("a=%G0")).is_err());
        assert_eq!(
            QueryParams::parse(Some("a=1&b=2&a=3")).unwrap().repeated(),
            Some("a")
        );
        assert_eq!(
            QueryParams::parse(Some("a=1&b=2")).unwrap().repeated(),
            None
        );
        assert!(check_znode_path("/a/b").is_ok());
        assert!(check_znode_path("/a/../b").is_err());
        assert!(check_znode_path("a").is_err());
    }
}
