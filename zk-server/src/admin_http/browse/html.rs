//! Building HTML safely: every piece of text goes through [`Html::text`] (paths, names and
//! data are whoever wrote them), the page frame every page shares, and the small formatters
//! (counts, times, zxids).

use std::fmt::Write as _;

/// An HTML document or fragment being written. Markup is added with [`Html::raw`] (our own
/// constant markup only) and text with [`Html::text`] / [`Html::attr`], which escape.
#[derive(Debug, Default)]
pub struct Html(String);

impl Html {
    /// An empty buffer.
    pub fn new() -> Html {
        Html(String::with_capacity(16 * 1024))
    }

    /// Appends markup written by this module's callers, never anything from a request or the
    /// tree.
    pub fn raw(&mut self, markup: &str) -> &mut Html {
        self.0.push_str(markup);
        self
    }

    /// Appends text, escaped for element content.
    pub fn text(&mut self, text: &str) -> &mut Html {
        escape_into(&mut self.0, text);
        self
    }

    /// Appends ` name="value"` with the value escaped for a quoted attribute.
    pub fn attr(&mut self, name: &str, value: &str) -> &mut Html {
        self.0.push(' ');
        self.0.push_str(name);
        self.0.push_str("=\"");
        escape_into(&mut self.0, value);
        self.0.push('"');
        self
    }

    /// `<a href="url">text</a>`, both escaped.
    pub fn link(&mut self, url: &str, text: &str) -> &mut Html {
        self.raw("<a")
            .attr("href", url)
            .raw(">")
            .text(text)
            .raw("</a>")
    }

    /// Appends formatted text, escaped.
    pub fn fmt(&mut self, args: std::fmt::Arguments<'_>) -> &mut Html {
        self.text(&args.to_string())
    }

    /// The finished text.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Escapes the five characters that matter in content and quoted attributes.
fn escape_into(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&#39;",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// What the page frame shows besides the content.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    /// The `<title>` (escaped here).
    pub title: String,
    /// The footer's tree facts: last zxid and node count, when a tree was read.
    pub tree: Option<(i64, usize)>,
    /// The search box's current text.
    pub search: String,
}

/// A whole page: the frame around `content`.
pub fn page(frame: &Frame, content: &Html) -> String {
    let mut out = Html::new();
    out.raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        .raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        .raw("<meta name=\"color-scheme\" content=\"light dark\">")
        .raw("<title>")
        .text(&frame.title)
        .raw(" · ZooKeeper tree</title>")
        .raw("<link rel=\"stylesheet\" href=\"/browse/_assets/browse.css\">")
        .raw("<script src=\"/browse/_assets/browse.js\" defer></script>")
        .raw("</head><body><header class=\"top\">")
        .raw("<a class=\"brand\" href=\"/browse\">ZooKeeper tree</a>")
        .raw("<form class=\"find\" action=\"/browse\" method=\"get\" role=\"search\">")
        .raw("<input type=\"search\" name=\"search\" aria-label=\"Search paths\" ")
        .raw("placeholder=\"Search paths: text, or a glob like /app/*/lock\"")
        .attr("value", &frame.search)
        .raw("><button type=\"submit\">Search</button></form>")
        .raw("<form class=\"find\" action=\"/browse\" method=\"get\">")
        .raw("<input type=\"text\" name=\"path\" aria-label=\"Go to path\" ")
        .raw("placeholder=\"Go to path: /app/config\" spellcheck=\"false\">")
        .raw("<button type=\"submit\">Go</button></form></header>\n<main>");
    out.raw(&content.0);
    out.raw("</main>\n<footer>");
    if let Some((zxid, nodes)) = frame.tree {
        out.fmt(format_args!(
            "Committed tree at zxid {} · {} nodes · ",
            zxid_hex(zxid),
            group(nodes as u64)
        ));
    }
    out.raw("read from the server's own tree: no client session, no watches")
        .raw("</footer></body></html>\n");
    out.into_string()
}

/// A short page for an error (`heading`, then `message`, then extra markup).
pub fn error_page(heading: &str, message: &str, extra: &Html) -> String {
    let mut body = Html::new();
    body.raw("<section class=\"card problem\"><h1>")
        .text(heading)
        .raw("</h1><p>")
        .text(message)
        .raw("</p>")
        .raw(&extra.0)
        .raw("<p><a href=\"/browse\">Back to /</a></p></section>");
    page(
        &Frame {
            title: heading.to_owned(),
            ..Frame::default()
        },
        &body,
    )
}

/// `1234567` as `1,234,567`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` and the noun, singular or plural: `1 child`, `3 children`.
pub fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", group(n), if n == 1 { one } else { many })
}

/// A zxid or session id as ZooKeeper prints them: `0x` and lowercase hex of the unsigned bits.
pub fn zxid_hex(id: i64) -> String {
    format!("0x{:x}", id as u64)
}

/// Milliseconds since the epoch as `2024-02-29 13:05:09.042 UTC`.
pub fn utc(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = zk_proto::time::civil_from_days(days);
    let mut out = String::with_capacity(32);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03} UTC",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    );
    out
}

/// A byte count for people: `512 B`, `1.5 KiB`, `3.0 MiB`.
pub fn bytes(n: usize) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped() {
        let mut h = Html::new();
        h.text("<script>alert('x') & \"y\"</script>")
            .raw("<a")
            .attr("href", "/a?b=1&c=\"><script>")
            .raw(">");
        assert_eq!(
            h.into_string(),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;\
             <a href=\"/a?b=1&amp;c=&quot;&gt;&lt;script&gt;\">"
        );
    }

    #[test]
    fn formatters() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(counted(1, "child", "children"), "1 child");
        assert_eq!(counted(2500, "child", "children"), "2,500 children");
        assert_eq!(zxid_hex(0x1_0000_002a), "0x10000002a");
        assert_eq!(zxid_hex(-1), "0xffffffffffffffff");
        assert_eq!(utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(utc(1_709_211_909_042), "2024-02-29 13:05:09.042 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59:59.999 UTC");
        assert_eq!(bytes(10), "10 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
    }
}
