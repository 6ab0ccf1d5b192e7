//! A node's data for people: which encoding it looks like (JSON, UTF-8 text or binary) and
//! the views of it (text, pretty JSON, hex dump, base64), each cut to a size a page can hold.

use base64::Engine as _;

use super::html::{bytes, Html};

/// Bytes of data the text, JSON and base64 views show at most; the whole value is offered
/// at the download link.
pub const SHOWN_LIMIT: usize = 1 << 20;

/// Bytes the hex view shows at most: a dump line is ~4.5 times the bytes it shows, so the
/// hex view stops sooner than the others.
pub const HEX_LIMIT: usize = 64 << 10;

/// Data up to this size is parsed to tell JSON from text; beyond it JSON is not tried.
const JSON_PARSE_LIMIT: usize = 8 << 20;

/// What the data looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// No data at all (Java's null, length -1).
    Null,
    /// Zero bytes.
    Empty,
    /// A JSON object or array.
    Json,
    /// UTF-8 without control characters (tabs and line breaks allowed).
    Text,
    /// Anything else.
    Binary,
}

impl Encoding {
    /// How the page names it.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Null => "null (no data)",
            Encoding::Empty => "empty",
            Encoding::Json => "JSON",
            Encoding::Text => "UTF-8 text",
            Encoding::Binary => "binary",
        }
    }

    /// The view shown when none is asked for.
    pub fn default_view(self) -> View {
        match self {
            Encoding::Json => View::Json,
            Encoding::Binary => View::Hex,
            Encoding::Null | Encoding::Empty | Encoding::Text => View::Text,
        }
    }
}

/// A way to show the data (`?view=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// UTF-8 text, control characters shown as symbols.
    Text,
    /// Pretty-printed JSON, keys in their order.
    Json,
    /// Offset, hex bytes and ASCII, 16 bytes a line.
    Hex,
    /// Base64, 76 characters a line.
    Base64,
}

impl View {
    /// Every view, in the order of the switcher.
    pub const ALL: [View; 4] = [View::Text, View::Json, View::Hex, View::Base64];

    /// The view named `name` in a URL.
    pub fn parse(name: &str) -> Option<View> {
        View::ALL.into_iter().find(|v| v.as_str() == name)
    }

    /// Its name in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            View::Text => "text",
            View::Json => "json",
            View::Hex => "hex",
            View::Base64 => "base64",
        }
    }

    /// Its label on the page.
    pub fn label(self) -> &'static str {
        match self {
            View::Text => "Text",
            View::Json => "JSON",
            View::Hex => "Hex",
            View::Base64 => "Base64",
        }
    }
}

/// Tells what `data` looks like. Only the first [`SHOWN_LIMIT`] bytes decide text or binary
/// for larger data (the page shows no more).
pub fn detect(data: Option<&[u8]>) -> Encoding {
    let Some(data) = data else {
        return Encoding::Null;
    };
    if data.is_empty() {
        return Encoding::Empty;
    }
    let Some(text) = utf8_prefix(&data[..data.len().min(SHOWN_LIMIT)]) else {
        return Encoding::Binary;
    };
    if text.chars().any(is_control) {
        return Encoding::Binary;
    }
    let looks_structured = matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['));
    if looks_structured && data.len() <= JSON_PARSE_LIMIT && parses_as_json(data) {
        Encoding::Json
    } else {
        Encoding::Text
    }
}

/// `bytes` as UTF-8, forgiving only a character cut off at the end (by the size limit).
fn utf8_prefix(bytes: &[u8]) -> Option<&str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Some(text),
        Err(e) if e.error_len().is_none() => {
            Some(std::str::from_utf8(&bytes[..e.valid_up_to()]).expect("valid up to there"))
        }
        Err(_) => None,
    }
}

/// Control characters other than tab, line feed, form feed and carriage return.
fn is_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c')
}

fn parses_as_json(data: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok()
}

/// Writes `data` in `view`: a `<pre>`, with a note when it was cut or could not be shown
/// that way.
pub fn render(out: &mut Html, data: &[u8], view: View) {
    match view {
        View::Text => text_view(out, data),
        View::Json => json_view(out, data),
        View::Hex => hex_view(out, data),
        View::Base64 => base64_view(out, data),
    }
}

fn cut_note(out: &mut Html, shown: usize, total: usize) {
    if shown < total {
        out.raw("<p class=\"note\">")
            .fmt(format_args!(
                "Showing the first {} of {}; download the whole value below.",
                bytes(shown),
                bytes(total)
            ))
            .raw("</p>");
    }
}

fn text_view(out: &mut Html, data: &[u8]) {
    let shown = &data[..data.len().min(SHOWN_LIMIT)];
    let valid = utf8_prefix(shown).is_some();
    let text = String::from_utf8_lossy(shown);
    if !valid {
        out.raw(
            "<p class=\"note\">Not valid UTF-8: bytes that do not decode show as \u{fffd}.</p>",
        );
    }
    cut_note(out, shown.len(), data.len());
    // Control characters become their visible symbols (U+2400 block): a NUL or escape byte
    // would otherwise vanish or garble the page.
    let visible: String = text
        .chars()
        .map(|c| match c {
            '\u{0}'..='\u{1f}' if !matches!(c, '\t' | '\n' | '\r') => {
                char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}')
            }
            '\u{7f}' => '\u{2421}',
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => '\u{fffd}',
            c => c,
        })
        .collect();
    out.raw("<pre class=\"data text\">")
        .text(&visible)
        .raw("</pre>");
}

fn json_view(out: &mut Html, data: &[u8]) {
    if data.len() > JSON_PARSE_LIMIT {
        out.raw("<p class=\"note\">")
            .fmt(format_args!(
                "Too large to parse as JSON here ({}).",
                bytes(data.len())
            ))
            .raw("</p>");
        return;
    }
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(data) {
        out.raw("<p class=\"note\">Not JSON: ")
            .text(&e.to_string())
            .raw(".</p>");
        return;
    }
    let mut pretty = pretty_json(data);
    let total = pretty.len();
    if total > SHOWN_LIMIT {
        let mut end = SHOWN_LIMIT;
        while !pretty.is_char_boundary(end) {
            end -= 1;
        }
        pretty.truncate(end);
        out.raw("<p class=\"note\">")
            .fmt(format_args!(
                "Showing the first {} of {} of pretty-printed JSON; download the whole value \
                 below.",
                bytes(end),
                bytes(total)
            ))
            .raw("</p>");
    }
    out.raw("<pre class=\"data json\">")
        .text(&pretty)
        .raw("</pre>");
}

/// Re-indents valid JSON text two spaces a level, keeping keys in their order and numbers as
/// written (a parse into values would sort keys and reformat numbers).
fn pretty_json(json: &[u8]) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(json.len() * 2);
    let mut depth = 0usize;
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.resize(out.len() + 2 * depth, b' ');
    };
    let mut i = 0;
    let mut in_string = false;
    let mut escaped = false;
    while i < json.len() {
        let b = json[i];
        i += 1;
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                out.push(b);
            }
            b'{' | b'[' => {
                out.push(b);
                let next = json[i..].iter().position(|c| !c.is_ascii_whitespace());
                let close = if b == b'{' { b'}' } else { b']' };
                match next {
                    Some(skip) if json[i + skip] == close => {
                        out.push(close);
                        i += skip + 1;
                    }
                    _ => {
                        depth += 1;
                        newline(&mut out, depth);
                    }
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(b);
            }
            b',' => {
                out.push(b);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => out.push(b),
        }
    }
    // Only ASCII was added or dropped between whole UTF-8 sequences.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn hex_view(out: &mut Html, data: &[u8]) {
    let shown = &data[..data.len().min(HEX_LIMIT)];
    cut_note(out, shown.len(), data.len());
    out.raw("<pre class=\"data hex\">")
        .text(&hex_dump(shown))
        .raw("</pre>");
}

/// `00000010  68 65 6c 6c 6f 0a 00 ff  ...  |hello...|`, 16 bytes a line.
fn hex_dump(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(data.len() / 16 * 79 + 79);
    for (line, chunk) in data.chunks(16).enumerate() {
        out.push_str(&format!("{:08x} ", line * 16));
        for i in 0..16 {
            if i == 8 {
                out.push(' ');
            }
            match chunk.get(i) {
                Some(&b) => {
                    out.push(' ');
                    out.push(HEX[usize::from(b >> 4)] as char);
                    out.push(HEX[usize::from(b & 15)] as char);
                }
                None => out.push_str("   "),
            }
        }
        out.push_str("  |");
        out.extend(chunk.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        }));
        out.push_str("|\n");
    }
    out
}

fn base64_view(out: &mut Html, data: &[u8]) {
    let shown = &data[..data.len().min(SHOWN_LIMIT)];
    cut_note(out, shown.len(), data.len());
    let encoded = base64::engine::general_purpose::STANDARD.encode(shown);
    let mut wrapped = String::with_capacity(encoded.len() + encoded.len() / 76 + 1);
    for line in encoded.as_bytes().chunks(76) {
        wrapped.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        wrapped.push('\n');
    }
    out.raw("<pre class=\"data base64\">")
        .text(&wrapped)
        .raw("</pre>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(data: &[u8], view: View) -> String {
        let mut h = Html::new();
        render(&mut h, data, view);
        h.into_string()
    }

    #[test]
    fn detection() {
        assert_eq!(detect(None), Encoding::Null);
        assert_eq!(detect(Some(b"")), Encoding::Empty);
        assert_eq!(detect(Some(br#" {"a": [1, 2]}"#)), Encoding::Json);
        assert_eq!(detect(Some(b"[1,2")), Encoding::Text);
        assert_eq!(detect(Some("héllo\nworld\t!".as_bytes())), Encoding::Text);
        assert_eq!(detect(Some(b"42")), Encoding::Text);
        assert_eq!(detect(Some(b"a\x01b")), Encoding::Binary);
        assert_eq!(detect(Some(b"\xff\xfe")), Encoding::Binary);
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(detect(Some(&all)), Encoding::Binary);
        // A large text cut in the middle of a character is still text.
        let mut big = "é".repeat(SHOWN_LIMIT).into_bytes();
        big.truncate(SHOWN_LIMIT + 1);
        assert_eq!(detect(Some(&big)), Encoding::Text);
    }

    #[test]
    fn json_is_reindented_in_key_order() {
        let pretty =
            pretty_json(br#"{"z":1,"a":{"s":"x,{y}: \"q\"","e":{},"l":[ ]},"n":[1.50,true]}"#);
        assert_eq!(
            pretty,
            "{\n  \"z\": 1,\n  \"a\": {\n    \"s\": \"x,{y}: \\\"q\\\"\",\n    \"e\": {},\n    \
             \"l\": []\n  },\n  \"n\": [\n    1.50,\n    true\n  ]\n}"
        );
        assert!(rendered(b"{\"k\":\"<b>\"}", View::Json).contains("&quot;&lt;b&gt;&quot;"));
        assert!(rendered(b"not json", View::Json).contains("Not JSON"));
    }

    #[test]
    fn hex_dump_lines() {
        let all: Vec<u8> = (0..=255).collect();
        let dump = hex_dump(&all);
        let lines: Vec<&str> = dump.lines().collect();
        assert_eq!(lines.len(), 16);
        assert_eq!(
            lines[4],
            "00000040  40 41 42 43 44 45 46 47  48 49 4a 4b 4c 4d 4e 4f  |@ABCDEFGHIJKLMNO|"
        );
        assert_eq!(
            hex_dump(b"hi\n"),
            "00000000  68 69 0a                                          |hi.|\n"
        );
        assert!(rendered(b"<&>", View::Hex).contains("|&lt;&amp;&gt;|"));
    }

    #[test]
    fn views_cut_large_data() {
        let big = vec![b'x'; SHOWN_LIMIT + 10];
        let text = rendered(&big, View::Text);
        assert!(text.contains("Showing the first 1.0 MiB of 1.0 MiB"));
        assert!(text.len() < SHOWN_LIMIT + 1000);
        let hex = rendered(&big, View::Hex);
        assert!(hex.contains("Showing the first 64.0 KiB"));
        assert!(!rendered(b"small", View::Text).contains("Showing"));
        assert!(rendered(b"a\x00b\x1b", View::Text).contains("a\u{2400}b\u{241b}"));
        assert!(rendered(b"\xff", View::Text).contains("Not valid UTF-8"));
        assert_eq!(
            rendered(b"hello", View::Base64),
            "<pre class=\"data base64\">aGVsbG8=\n</pre>"
        );
    }
}
