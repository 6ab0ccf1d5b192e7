//! JAAS login configuration files (`-Djava.security.auth.login.config=FILE`), read as Java's
//! `sun.security.provider.ConfigFile` reads them:
//!
//! ```text
//! // line and /* block */ comments
//! Server {
//!     org.apache.zookeeper.server.auth.DigestLoginModule required
//!     user_alice="secret" debug=true;
//! };
//! ```
//!
//! Sections (`Name { ... };`) hold login modules (`class flag option=value ... ;`). The
//! tokens are those of Java's `StreamTokenizer` as ConfigFile sets it up: words of letters,
//! digits, `.`, `-`, `_`, `$` and `*` (not starting with a digit, `.` or `-`), double-quoted
//! strings with backslash escapes (a quote left open ends at the end of its line), `//`, `/* */`
//! and a lone `/` as comments (so a value holding `/` must be quoted). Single quotes, numbers
//! and `#` are not accepted where a name or value is expected. Values expand `${property}`;
//! an unknown property is an error. A section named twice is an error; a repeated option
//! keeps its last value; a section without modules counts as absent.
//!
//! ```
//! use zk_server::sasl::jaas::JaasConfig;
//! let text = "Server { a.B required user_bob=\"pw\"; };\nClient { a.B optional x=\"${h}/y\"; };";
//! let cfg = JaasConfig::parse(text, "jaas.conf", &|p| (p == "h").then(|| "/home".to_owned())).unwrap();
//! assert_eq!(cfg.section("Server").unwrap()[0].options["user_bob"], "pw");
//! assert_eq!(cfg.section("Client").unwrap()[0].options["x"], "/home/y");
//! let err = JaasConfig::parse("Server {\n a.B maybe;\n};", "jaas.conf", &|_| None).unwrap_err();
//! assert_eq!(err.to_string(), "jaas.conf:2: invalid control flag, MAYBE");
//! ```

use std::collections::BTreeMap;
use std::fmt;

/// How a login module's outcome counts (JAAS `LoginModuleControlFlag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlFlag {
    /// `required`.
    Required,
    /// `requisite`.
    Requisite,
    /// `sufficient`.
    Sufficient,
    /// `optional`.
    Optional,
}

/// One login module line of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginModule {
    /// The module's class name (`org.apache.zookeeper.server.auth.DigestLoginModule`).
    pub class: String,
    /// Its control flag.
    pub flag: ControlFlag,
    /// Its options, property references expanded.
    pub options: BTreeMap<String, String>,
}

/// A parsed JAAS file: its sections by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JaasConfig {
    sections: BTreeMap<String, Vec<LoginModule>>,
}

/// Why a JAAS file was refused: the file, the line and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasError {
    /// The file's name as given.
    pub file: String,
    /// The 1-based line where the problem was found.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for JaasError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for JaasError {}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    /// A string in double quotes.
    Quoted(String),
    /// A string in single quotes: a token Java reads but never accepts.
    SingleQuoted(String),
    Number(String),
    Char(char),
    Eof,
}

impl Token {
    /// How an error message shows the token.
    fn shown(&self) -> String {
        match self {
            Token::Word(s) | Token::Quoted(s) | Token::Number(s) => s.clone(),
            Token::SingleQuoted(s) => format!("'{s}'"),
            Token::Char(c) => c.to_string(),
            Token::Eof => "end of file".to_owned(),
        }
    }
}

/// Java's `StreamTokenizer` with ConfigFile's settings.
struct Tokenizer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, '$' | '_' | '*') || u32::from(c) >= 160
}

fn is_word_part(c: char) -> bool {
    is_word_start(c) || c.is_ascii_digit() || matches!(c, '.' | '-')
}

impl Tokenizer<'_> {
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        // \r\n, \r and \n each end one line.
        if c == '\n' || (c == '\r' && self.chars.peek() != Some(&'\n')) {
            self.line += 1;
        }
        Some(c)
    }

    fn skip_line(&mut self) {
        while let Some(&c) = self.chars.peek() {
            if c == '\n' || c == '\r' {
                return;
            }
            self.chars.next();
        }
    }

    fn next(&mut self) -> Result<Token, String> {
        loop {
            let Some(&c) = self.chars.peek() else {
                return Ok(Token::Eof);
            };
            if u32::from(c) <= 0x20 {
                self.bump();
                continue;
            }
            if c == '/' {
                self.bump();
                match self.chars.peek() {
                    Some('*') => {
                        self.bump();
                        let mut last = ' ';
                        loop {
                            match self.bump() {
                                None => return Ok(Token::Eof),
                                Some('/') if last == '*' => break,
                                Some(c) => last = c,
                            }
                        }
                    }
                    // `//` and a lone `/` (Java's comment character) both run to the line end.
                    _ => self.skip_line(),
                }
                continue;
            }
            if c == '"' || c == '\'' {
                self.bump();
                let text = self.quoted(c);
                return Ok(if c == '"' {
                    Token::Quoted(text)
                } else {
                    Token::SingleQuoted(text)
                });
            }
            if c.is_ascii_digit() || c == '.' || c == '-' {
                self.bump();
                let next = self.chars.peek().copied();
                if c == '-' && !next.is_some_and(|n| n.is_ascii_digit() || n == '.') {
                    return Ok(Token::Char('-'));
                }
                let mut number = c.to_string();
                while let Some(&d) = self.chars.peek() {
                    if !(d.is_ascii_digit() || d == '.') {
                        break;
                    }
                    number.push(d);
                    self.bump();
                }
                return Ok(Token::Number(number));
            }
            if is_word_start(c) {
                let mut word = String::new();
                while let Some(&w) = self.chars.peek() {
                    if !is_word_part(w) {
                        break;
                    }
                    word.push(w);
                    self.bump();
                }
                return Ok(Token::Word(word));
            }
            self.bump();
            return Ok(Token::Char(c));
        }
    }

    /// The rest of a quoted string: up to the closing quote, the line's end or the file's end.
    fn quoted(&mut self, quote: char) -> String {
        let mut out = String::new();
        while let Some(&c) = self.chars.peek() {
            if c == quote {
                self.bump();
                break;
            }
            if c == '\n' || c == '\r' {
                break;
            }
            self.bump();
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some(e) = self.bump() else { break };
            let escaped = match e {
                'a' => '\u{7}',
                'b' => '\u{8}',
                'f' => '\u{c}',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'v' => '\u{b}',
                '0'..='7' => {
                    // Up to three octal digits, the first at most 3 when there are three.
                    let mut value = e.to_digit(8).unwrap_or(0);
                    let max_digits = if e <= '3' { 3 } else { 2 };
                    for _ in 1..max_digits {
                        match self.chars.peek().and_then(|d| d.to_digit(8)) {
                            Some(d) => {
                                value = value * 8 + d;
                                self.bump();
                            }
                            None => break,
                        }
                    }
                    char::from_u32(value).unwrap_or('?')
                }
                other => other,
            };
            out.push(escaped);
        }
        out
    }
}

struct Parser<'a, 'f> {
    tokens: Tokenizer<'a>,
    lookahead: Token,
    /// The line of the lookahead token.
    line: usize,
    file: &'f str,
    expand: &'f dyn Fn(&str) -> Option<String>,
}

impl Parser<'_, '_> {
    fn error(&self, message: impl Into<String>) -> JaasError {
        JaasError {
            file: self.file.to_owned(),
            line: self.line,
            message: message.into(),
        }
    }

    fn advance(&mut self) -> Result<(), JaasError> {
        let token = self.tokens.next().map_err(|m| self.error(m))?;
        // Tokens are reported on the line they end on; a comment's lines come before.
        self.line = self.tokens.line;
        self.lookahead = token;
        Ok(())
    }

    /// A name or value: a word or a double-quoted string.
    fn text(&mut self, what: &str) -> Result<String, JaasError> {
        match &self.lookahead {
            Token::Word(s) | Token::Quoted(s) => {
                let s = s.clone();
                self.advance()?;
                Ok(s)
            }
            Token::Eof => Err(self.error(format!("expected [{what}], read [end of file]"))),
            other => Err(self.error(format!("expected [{what}], found [{}]", other.shown()))),
        }
    }

    fn punct(&mut self, c: char) -> Result<(), JaasError> {
        match &self.lookahead {
            Token::Char(found) if *found == c => self.advance(),
            Token::Eof => Err(self.error(format!("expected [{c}], read [end of file]"))),
            other => Err(self.error(format!("expected [{c}], found [{}]", other.shown()))),
        }
    }

    fn peek(&self, c: char) -> bool {
        self.lookahead == Token::Char(c)
    }

    fn section(&mut self) -> Result<(String, Vec<LoginModule>), JaasError> {
        // Java takes whatever token comes first as the name, and then wants `{`.
        let name = self.lookahead.shown();
        self.advance()?;
        self.punct('{')?;
        let mut modules = Vec::new();
        while !self.peek('}') {
            let class = self.text("module class name")?;
            let flag_line = self.line;
            let flag = match self.text("controlFlag")?.to_ascii_uppercase().as_str() {
                "REQUIRED" => ControlFlag::Required,
                "REQUISITE" => ControlFlag::Requisite,
                "SUFFICIENT" => ControlFlag::Sufficient,
                "OPTIONAL" => ControlFlag::Optional,
                other => {
                    return Err(JaasError {
                        line: flag_line,
                        ..self.error(format!("invalid control flag, {other}"))
                    })
                }
            };
            let mut options = BTreeMap::new();
            while !self.peek(';') {
                let key = self.text("option key")?;
                self.punct('=')?;
                let value_line = self.line;
                let value = self.text("option value")?;
                let value = expand(&value, self.expand).map_err(|m| JaasError {
                    line: value_line,
                    ..self.error(m)
                })?;
                options.insert(key, value);
            }
            self.advance()?;
            modules.push(LoginModule {
                class,
                flag,
                options,
            });
        }
        self.punct('}')?;
        self.punct(';')?;
        Ok((name, modules))
    }
}

/// Replaces `${name}` with the property's value (`${/}` is the path separator); a `$` not
/// followed by `{` stays.
fn expand(value: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else {
            // No closing brace: the rest is kept as it is.
            out.push_str(&rest[at..]);
            return Ok(out);
        };
        let name = &after[..end];
        let replacement = if name == "/" {
            Some("/".to_owned())
        } else {
            lookup(name)
        };
        match replacement {
            Some(v) => out.push_str(&v),
            None => return Err(format!("unable to expand property {name}")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl JaasConfig {
    /// Parses JAAS text; `file` names it in errors and `properties` resolves `${name}`.
    pub fn parse(
        text: &str,
        file: &str,
        properties: &dyn Fn(&str) -> Option<String>,
    ) -> Result<JaasConfig, JaasError> {
        let mut parser = Parser {
            tokens: Tokenizer {
                chars: text.chars().peekable(),
                line: 1,
            },
            lookahead: Token::Eof,
            line: 1,
            file,
            expand: properties,
        };
        parser.advance()?;
        let mut sections = BTreeMap::new();
        while parser.lookahead != Token::Eof {
            let line = parser.line;
            let (name, modules) = parser.section()?;
            if sections.insert(name.clone(), modules).is_some() {
                return Err(JaasError {
                    line,
                    ..parser.error(format!("can not specify multiple entries for {name}"))
                });
            }
        }
        Ok(JaasConfig { sections })
    }

    /// The login modules of a section; `None` when it is missing or empty (Java's
    /// `getAppConfigurationEntry` answers null for both).
    pub fn section(&self, name: &str) -> Option<&[LoginModule]> {
        self.sections
            .get(name)
            .map(Vec::as_slice)
            .filter(|m| !m.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<JaasConfig, JaasError> {
        JaasConfig::parse(text, "t.conf", &|p| {
            (p == "foo.bar").then(|| "BAZ".to_owned())
        })
    }

    fn options(cfg: &JaasConfig, section: &str, i: usize) -> Vec<(String, String)> {
        cfg.section(section).unwrap()[i]
            .options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Each case was run through Java 17's ConfigFile (Configuration.getConfiguration()).
    #[test]
    fn accepts_what_java_accepts() {
        let cfg = parse(
            "// c\n/* multi\nline */ Server {\n org.x.D Required user_a=sq debug=true;\n \
             org.x.E optional k=\"a\\\"b\\\\c\\tz\\101\" ;\n};\n\
             Client { m.M sufficient username=\"u\" password=\"${foo.bar}/x\" e=\"$${foo.bar}\" ; };",
        )
        .unwrap();
        let server = cfg.section("Server").unwrap();
        assert_eq!(server.len(), 2);
        assert_eq!(
            (server[0].class.as_str(), server[0].flag),
            ("org.x.D", ControlFlag::Required)
        );
        assert_eq!(
            options(&cfg, "Server", 0),
            [
                ("debug".into(), "true".into()),
                ("user_a".into(), "sq".into())
            ]
        );
        assert_eq!(
            options(&cfg, "Server", 1),
            [("k".into(), "a\"b\\c\tzA".into())]
        );
        assert_eq!(
            options(&cfg, "Client", 0),
            [
                ("e".into(), "$BAZ".into()),
                ("password".into(), "BAZ/x".into()),
                ("username".into(), "u".into())
            ]
        );
        // A quote left open ends at the line's end.
        let cfg = parse("Server { org.x.D required a=\"unterminated\n; };").unwrap();
        assert_eq!(
            options(&cfg, "Server", 0),
            [("a".into(), "unterminated".into())]
        );
        // Words take digits, dots, dashes, `*` and `$` after their first character; names
        // may be quoted; empty sections count as absent.
        let cfg = parse(
            "Server { org.x.D required a=b-1.2*$c a=\"later wins\"; };\n\"Ser ver\" { x.Y optional; }; E { };",
        )
        .unwrap();
        assert_eq!(
            options(&cfg, "Server", 0),
            [("a".into(), "later wins".into())]
        );
        assert!(cfg.section("Ser ver").is_some());
        assert!(cfg.section("E").is_none() && cfg.section("Client").is_none());
        let cfg = parse("Server { org.x.D required a=ü; };").unwrap();
        assert_eq!(options(&cfg, "Server", 0), [("a".into(), "ü".into())]);
    }

    #[test]
    fn refuses_what_java_refuses_with_the_line() {
        for (text, line, message) in [
            (
                "// c\nServer {\n org.x.D required user_a='sq';\n};",
                3,
                "expected [option value], found ['sq']",
            ),
            (
                "# hash\nServer { org.x.D required; };",
                1,
                "expected [{], found [hash]",
            ),
            (
                "Server { org.x.D required user_a=123; };",
                1,
                "expected [option value], found [123]",
            ),
            (
                "Server { org.x.D required\nuser_a=\"x\"\nuser_b; };",
                3,
                "expected [=], found [;]",
            ),
            (
                "Server {\n org.x.D bogus; };",
                2,
                "invalid control flag, BOGUS",
            ),
            (
                "Server { org.x.D required; };\n\nServer { org.x.D required; };",
                3,
                "can not specify multiple entries for Server",
            ),
            (
                "Server { org.x.D required\n a=\"${nope.x}\"; };",
                2,
                "unable to expand property nope.x",
            ),
            (
                "Server { org.x.D required a=b/c; };",
                1,
                "expected [option key], read [end of file]",
            ),
            (
                "Server { org.x.D required a=\"x\" , b=\"y\"; };",
                1,
                "expected [option key], found [,]",
            ),
            (
                "Server { org.x.D required a = \"x\" ; } Client { m.M required; };",
                1,
                "expected [;], found [Client]",
            ),
            (
                "Server { org.x.D required a=\"x\" a=\"y\"; }",
                1,
                "expected [;], read [end of file]",
            ),
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(
                (err.line, err.message.as_str()),
                (line, message),
                "{text:?}"
            );
            assert_eq!(err.file, "t.conf");
        }
    }
}
