//! Splitting shell lines and parsing command options the way zkCli.sh does (its
//! `MyCommandOptions.parseCommand` regex and commons-cli's `DefaultParser`).

/// Java's `\s`.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

/// Splits a shell line like zkCli.sh: words separated by whitespace, `"..."` and `'...'` group
/// words (the quotes are removed when they surround the whole word); a quote that is never
/// closed is dropped. A line of only whitespace gives no words (zkCli.sh reports a command
/// named " ").
pub fn split_line(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut words = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if is_space(chars[i]) {
            i += 1;
            continue;
        }
        let c = chars[i];
        if c == '"' || c == '\'' {
            match chars[i + 1..].iter().position(|&q| q == c) {
                Some(len) => {
                    words.push(chars[i + 1..i + 1 + len].iter().collect());
                    i += len + 2;
                }
                // No closing quote: the regex finds no match here and moves on one character.
                None => i += 1,
            }
        } else {
            let start = i;
            while i < chars.len() && !is_space(chars[i]) {
                i += 1;
            }
            words.push(chars[start..i].iter().collect());
        }
    }
    words
}

/// A command line after option parsing: `args[0]` is the command name, then the positional
/// arguments; options may appear anywhere (before `--`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The command name and positional arguments.
    pub args: Vec<String>,
    opts: Vec<(char, Option<String>)>,
}

impl Parsed {
    /// Whether the option was given.
    pub fn has(&self, name: char) -> bool {
        self.opts.iter().any(|(n, _)| *n == name)
    }

    /// The value of the first occurrence of an option that takes one.
    pub fn value(&self, name: char) -> Option<&str> {
        self.opts
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// The options given, in command-line order (repeats included).
    pub fn options(&self) -> impl Iterator<Item = char> + '_ {
        self.opts.iter().map(|(name, _)| *name)
    }

    /// Positional argument `i` (0 is the command).
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(String::as_str)
    }
}

/// An option: its letter and whether it takes a value.
pub type OptSpec = (char, bool);

fn spec_of(specs: &[OptSpec], c: char) -> Option<bool> {
    specs.iter().find(|(n, _)| *n == c).map(|(_, v)| *v)
}

/// Whether `token` would be read as an option rather than as an option's value (commons-cli's
/// `isShortOption`; unknown `-x` and negative numbers are values).
fn looks_like_option(token: &str, specs: &[OptSpec]) -> bool {
    if token.starts_with("--") {
        return token.len() > 2;
    }
    let Some(body) = token.strip_prefix('-') else {
        return false;
    };
    match body.chars().next() {
        Some(c) => {
            spec_of(specs, c).is_some() && (body.len() == 1 || spec_of(specs, c) == Some(true))
        }
        None => false,
    }
}

fn unrecognized(token: &str) -> String {
    format!("org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: {token}")
}

/// Parses `tokens` (command name first) with commons-cli's rules: `-x` flags, `-v 3` or `-v3`
/// for options with a value, bundled flags (`-se`), `--` ends options; an unknown option is an
/// error, as is a missing value; the messages are what zkCli prints for commons-cli's exceptions
/// (`org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -x`).
pub fn parse(tokens: &[String], specs: &[OptSpec]) -> Result<Parsed, String> {
    let mut args = Vec::new();
    let mut opts = Vec::new();
    let mut rest_are_args = false;
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        i += 1;
        if rest_are_args || i == 1 {
            args.push(token.clone());
            continue;
        }
        if token == "--" {
            rest_are_args = true;
            continue;
        }
        if token.starts_with("--") || !token.starts_with('-') || token.len() == 1 {
            if token.starts_with("--") {
                return Err(unrecognized(token));
            }
            args.push(token.clone());
            continue;
        }
        let body = &token[1..];
        for (at, c) in body.char_indices() {
            match spec_of(specs, c) {
                None => return Err(unrecognized(token)),
                Some(false) => opts.push((c, None)),
                Some(true) => {
                    let attached = &body[at + c.len_utf8()..];
                    if !attached.is_empty() {
                        opts.push((c, Some(attached.to_owned())));
                    } else if i < tokens.len() && !looks_like_option(&tokens[i], specs) {
                        opts.push((c, Some(tokens[i].clone())));
                        i += 1;
                    } else {
                        return Err(format!(
                            "org.apache.commons.cli.MissingArgumentException: Missing argument \
                             for option: {c}"
                        ));
                    }
                    break;
                }
            }
        }
    }
    Ok(Parsed { args, opts })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn splits_like_zkcli() {
        assert_eq!(split_line("ls   /   "), ["ls", "/"]);
        assert_eq!(
            split_line("set /a \"hello world\" 'x y'"),
            ["set", "/a", "hello world", "x y"]
        );
        assert_eq!(split_line("set /a a\"b\""), ["set", "/a", "a\"b\""]);
        assert_eq!(split_line("set /a \"open"), ["set", "/a", "open"]);
        assert_eq!(split_line("create /a ''"), ["create", "/a", ""]);
        assert!(split_line("   ").is_empty());
    }

    #[test]
    fn parses_like_commons_cli() {
        let specs = [('s', false), ('v', true), ('R', false)];
        let p = parse(&words("setAcl -s -v 3 /a world:anyone:r"), &specs).unwrap();
        assert_eq!(p.args, ["setAcl", "/a", "world:anyone:r"]);
        assert!(p.has('s') && !p.has('R'));
        assert_eq!(p.value('v'), Some("3"));
        let p = parse(&words("setAcl /a -sR -v-1 x"), &specs).unwrap();
        assert_eq!(p.args, ["setAcl", "/a", "x"]);
        assert!(p.has('s') && p.has('R'));
        assert_eq!(p.value('v'), Some("-1"));
        let p = parse(&words("setAcl -v -1 -- /a -s"), &specs).unwrap();
        assert_eq!(p.value('v'), Some("-1"));
        assert_eq!(p.args, ["setAcl", "/a", "-s"]);
        assert_eq!(
            parse(&words("set -x /a"), &specs).unwrap_err(),
            "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -x"
        );
        assert_eq!(
            parse(&words("set /a -v"), &specs).unwrap_err(),
            "org.apache.commons.cli.MissingArgumentException: Missing argument for option: v"
        );
        assert_eq!(
            parse(&words("set -v -s /a"), &specs).unwrap_err(),
            "org.apache.commons.cli.MissingArgumentException: Missing argument for option: v"
        );
    }
}
