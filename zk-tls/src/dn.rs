//! Distinguished names as Java prints and parses them: the `x509` auth scheme's ids.

use x509_cert::der::{Decode, Encode, Tagged};

use crate::{Error, Result};

/// Attribute types with an RFC 2253 keyword in Java's `AVAKeyword` table; any other type
/// prints as its dotted OID with the value in `#hex` form.
const RFC2253_KEYWORDS: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// Every keyword Java's `X500Principal(String)` accepts (upper case).
const ALL_KEYWORDS: &[&str] = &[
    "CN",
    "C",
    "L",
    "S",
    "ST",
    "O",
    "OU",
    "T",
    "IP",
    "STREET",
    "DC",
    "DNQUALIFIER",
    "DNQ",
    "SURNAME",
    "GIVENNAME",
    "INITIALS",
    "GENERATION",
    "EMAIL",
    "EMAILADDRESS",
    "UID",
    "SERIALNUMBER",
];

/// The subject of a DER certificate as Java's `X500Principal.getName()` gives it (RFC 2253:
/// the last RDN first, `,` between RDNs and `+` inside one; `,=+<>#;"\` escaped with `\`,
/// leading and trailing spaces escaped; unknown types as `oid=#hex`).
pub fn subject_name(cert_der: &[u8]) -> Result<String> {
    let cert = x509_cert::Certificate::from_der(cert_der)
        .map_err(|e| Error::Certificate(e.to_string()))?;
    let mut out = String::new();
    for (i, rdn) in cert.tbs_certificate.subject.0.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.0.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = atv.oid.to_string();
            let keyword = RFC2253_KEYWORDS.iter().find(|(o, _)| *o == oid);
            // PrintableString, T61String, IA5String, GeneralString, BMPString, UTF8String.
            let is_string = matches!(
                u8::from(atv.value.tag()),
                0x13 | 0x14 | 0x16 | 0x1b | 0x1e | 0x0c
            );
            match keyword {
                Some((_, keyword)) if is_string => {
                    out.push_str(keyword);
                    out.push('=');
                    // Java decodes every string type's bytes as UTF-8.
                    push_escaped(&mut out, &String::from_utf8_lossy(atv.value.value()));
                }
                _ => {
                    out.push_str(keyword.map_or(oid.as_str(), |(_, k)| k));
                    out.push_str("=#");
                    let der = atv
                        .value
                        .to_der()
                        .map_err(|e| Error::Certificate(e.to_string()))?;
                    for b in der {
                        out.push_str(&format!("{b:02x}"));
                    }
                }
            }
        }
    }
    Ok(out)
}

fn push_escaped(out: &mut String, value: &str) {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        if ",=+<>#;\"\\".contains(c) {
            escaped.push('\\');
            escaped.push(c);
        } else if c == '\0' {
            escaped.push_str("\\00");
        } else {
            escaped.push(c);
        }
    }
    let is_blank = |c: char| c == ' ' || c == '\r';
    let chars: Vec<char> = escaped.chars().collect();
    let lead = chars
        .iter()
        .position(|c| !is_blank(*c))
        .unwrap_or(chars.len());
    let trail = chars
        .iter()
        .rposition(|c| !is_blank(*c))
        .map_or(0, |i| i + 1);
    for (i, c) in chars.iter().enumerate() {
        if i < lead || i >= trail.max(lead) {
            out.push('\\');
        }
        out.push(*c);
    }
}

/// Whether `name` parses as a distinguished name the way Java's `new X500Principal(name)`
/// does (what `X509AuthenticationProvider.isValid` checks of an `x509` ACL id): RDNs separated
/// by `,` or `;`, attributes by `+`, each `keyword=value` with a known keyword or an OID, the
/// value quoted, `#hex` or escaped text. The empty name is valid.
///
/// ```
/// use zk_tls::is_valid_name;
/// assert!(is_valid_name("CN=alice,OU=Eng,O=Example\\, Inc.,C=US"));
/// assert!(is_valid_name(""));
/// assert!(!is_valid_name("alice"));
/// assert!(!is_valid_name("XX=alice"));
/// ```
pub fn is_valid_name(name: &str) -> bool {
    if name.trim().is_empty() {
        return true;
    }
    split_unescaped(name, &[',', ';']).into_iter().all(|rdn| {
        split_unescaped(rdn, &['+'])
            .into_iter()
            .all(valid_attribute)
    })
}

/// Splits at separators that are neither escaped nor inside quotes; `None`-free by
/// construction (an unterminated quote leaves the rest as one part, which then fails).
fn split_unescaped<'a>(text: &'a str, separators: &[char]) -> Vec<&'a str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if !quoted && separators.contains(&c) {
            parts.push(&text[start..i]);
            start = i + 1;
        }
    }
    parts.push(&text[start..]);
    parts
}

fn valid_attribute(ava: &str) -> bool {
    let Some((keyword, value)) = ava.split_once('=') else {
        return false;
    };
    let keyword = keyword.trim().to_ascii_uppercase();
    let oid = keyword.strip_prefix("OID.").unwrap_or(&keyword);
    let keyword_ok = ALL_KEYWORDS.contains(&keyword.as_str())
        || (oid.starts_with(|c: char| c.is_ascii_digit()) && valid_oid(oid));
    keyword_ok && valid_value(value.trim())
}

fn valid_oid(oid: &str) -> bool {
    let arcs: Vec<&str> = oid.split('.').collect();
    arcs.len() >= 2
        && arcs
            .iter()
            .all(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
        && matches!(arcs[0], "0" | "1" | "2")
}

fn valid_value(value: &str) -> bool {
    if let Some(hex) = value.strip_prefix('#') {
        return !hex.is_empty() && hex.len() % 2 == 0 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    if let Some(inner) = value.strip_prefix('"') {
        return inner.ends_with('"') && !inner.ends_with("\\\"") && !inner.is_empty();
    }
    // A backslash escapes a special character or starts a hex pair.
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                let next = bytes.get(i + 1).copied();
                match next {
                    Some(c) if b",=+<>#;\"\\ ".contains(&c) => i += 2,
                    Some(c) if c.is_ascii_hexdigit() => {
                        if !bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit) {
                            return false;
                        }
                        i += 3;
                    }
                    _ => return false,
                }
            }
            b'"' => return false,
            _ => i += 1,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_as_java() {
        let mut out = String::new();
        push_escaped(&mut out, " a,b=c+d#e ");
        assert_eq!(out, r"\ a\,b\=c\+d\#e\ ");
        let mut out = String::new();
        push_escaped(&mut out, "Example Inc.");
        assert_eq!(out, "Example Inc.");
    }

    #[test]
    fn names_java_accepts_or_refuses() {
        for good in [
            "CN=alice",
            "cn=alice, o=Example",
            "CN=a+UID=b;O=c",
            "OID.2.5.4.3=alice",
            "2.5.4.3=#0c05616c696365",
            "CN=\"quoted, with comma\"",
            "CN=a\\2cb",
        ] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in [
            "alice",
            "FOO=alice",
            "CN=a,",
            "CN=\"open",
            "CN=a\\q",
            "2.5.4.3=#0c0",
            "9.1=x",
        ] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
