//! JSON in the layout of Jackson's `INDENT_OUTPUT` (its `DefaultPrettyPrinter`), which Java's
//! AdminServer writes and scripts may match on: objects one entry a line, indented by two
//! spaces, `"key" : value`; arrays on the line they open, `[ a, b ]`, and `[ ]` or `{ }` when
//! empty; no newline at the end.

use serde::Serialize;
use serde_json::ser::Formatter;
use std::io::{self, Write};

/// `value` as Java's AdminServer prints it.
///
/// ```
/// let v = serde_json::json!({"a": [1, 2], "b": {}, "command": "ruok", "error": null});
/// assert_eq!(
///     zk_server::admin_http::to_java_json(&v),
///     "{\n  \"a\" : [ 1, 2 ],\n  \"b\" : { },\n  \"command\" : \"ruok\",\n  \"error\" : null\n}"
/// );
/// ```
pub fn to_java_json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, JacksonFormatter::default());
    value
        .serialize(&mut ser)
        .expect("serializing to memory cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// The state of the layout: how deep we are, and whether the open container has entries.
#[derive(Debug, Default)]
struct JacksonFormatter {
    depth: usize,
    has_value: bool,
}

impl JacksonFormatter {
    fn indent<W: ?Sized + Write>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(b"\n")?;
        for _ in 0..self.depth {
            w.write_all(b"  ")?;
        }
        Ok(())
    }
}

impl Formatter for JacksonFormatter {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.has_value = false;
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.has_value = true;
        w.write_all(b" ]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        w.write_all(if first { b" " } else { b", " })
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.indent(w)?;
        } else {
            w.write_all(b" ")?;
        }
        self.has_value = true;
        w.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        self.indent(w)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b" : ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Every body a Java 3.8 AdminServer answered (captured with curl): parsed and printed
    /// again, each is the same bytes.
    #[test]
    fn java_bodies_print_back_byte_for_byte() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/admin-java-3.8");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(to_java_json(&value), text, "{}", path.display());
            seen += 1;
        }
        assert!(seen >= 25, "{seen} bodies");
    }

    #[test]
    fn nested_and_empty_containers() {
        let v = serde_json::json!({
            "connections": [{"a": 1, "b": [ ]}, {"c": {"d": "x"}}],
            "empty": {},
            "list": [],
            "avg": 1.0,
        });
        assert_eq!(
            to_java_json(&v),
            "{\n  \"connections\" : [ {\n    \"a\" : 1,\n    \"b\" : [ ]\n  }, {\n    \"c\" : {\n      \
             \"d\" : \"x\"\n    }\n  } ],\n  \"empty\" : { },\n  \"list\" : [ ],\n  \"avg\" : 1.0\n}"
        );
    }
}
