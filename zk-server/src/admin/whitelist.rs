//! Which words run: Java's `FourLetterCommands.isEnabled` and the whitelist it builds from
//! `4lw.commands.whitelist` (see the module doc of `admin`).

use zk_proto::frame::FourLetterWord;

/// The word's name in Java (`telnet close` for the telnet bytes), as the whitelist and the
/// "not executed" message spell it.
pub fn java_name(word: FourLetterWord) -> &'static str {
    match word {
        FourLetterWord::TelnetClose => "telnet close",
        other => other.as_str(),
    }
}

/// Whether `word` runs: `srvr` always, others if named in `whitelist` or if it holds `*`.
pub fn is_enabled(word: FourLetterWord, whitelist: &[String]) -> bool {
    let name = java_name(word);
    name == "srvr"
        || whitelist
            .iter()
            .map(|w| w.trim())
            .any(|w| w == "*" || w == name)
}

/// The effective whitelist for the property value (`4lw.commands.whitelist` /
/// `zookeeper.4lw.commands.whitelist`), as Java builds it: comma-separated and trimmed, `*`
/// expands to every word, `isro` is added when `readonlymode.enabled`, `srvr` always.
pub fn whitelist_from_property(value: Option<&str>, readonly_mode_enabled: bool) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut add = |w: &str| {
        if !words.iter().any(|x| x == w) {
            words.push(w.to_owned());
        }
    };
    for entry in value.unwrap_or("").split(',').map(str::trim) {
        if entry == "*" {
            FourLetterWord::ALL.iter().for_each(|w| add(java_name(*w)));
            break;
        }
        if !entry.is_empty() {
            add(entry);
        }
    }
    if readonly_mode_enabled {
        add("isro");
    }
    add("srvr");
    words
}

/// Whether answering `word` reads the snapshot; if not, any snapshot (e.g. the default) will
/// do. Disabled words, `ruok`, `stmk` and the telnet bytes read nothing.
pub fn needs_snapshot(word: FourLetterWord, whitelist: &[String]) -> bool {
    is_enabled(word, whitelist)
        && !matches!(
            word,
            FourLetterWord::Ruok | FourLetterWord::Stmk | FourLetterWord::TelnetClose
        )
}

#[cfg(test)]
mod tests {
    use super::super::{answer, list, AdminSnapshot};
    use super::*;

    #[test]
    fn whitelist_rules() {
        let default = whitelist_from_property(None, false);
        assert_eq!(default, list(&["srvr"]));
        for word in FourLetterWord::ALL {
            assert_eq!(
                is_enabled(word, &default),
                word == FourLetterWord::Srvr,
                "{word:?}"
            );
        }
        // srvr runs even with an empty list.
        assert!(is_enabled(FourLetterWord::Srvr, &[]));

        let star = whitelist_from_property(Some("*"), false);
        assert!(FourLetterWord::ALL.iter().all(|w| is_enabled(*w, &star)));
        assert!(star.contains(&"telnet close".to_owned()));
        assert!(FourLetterWord::ALL
            .iter()
            .all(|w| is_enabled(*w, &list(&["*"]))));

        let some = whitelist_from_property(Some(" ruok , stat,,"), false);
        assert_eq!(some, list(&["ruok", "stat", "srvr"]));
        assert!(is_enabled(FourLetterWord::Ruok, &some));
        assert!(is_enabled(FourLetterWord::Stat, &some));
        assert!(!is_enabled(FourLetterWord::Mntr, &some));
        assert!(!is_enabled(FourLetterWord::Isro, &some));
        // Names are case-sensitive, as in Java.
        assert!(!is_enabled(FourLetterWord::Ruok, &list(&["RUOK"])));

        let ro = whitelist_from_property(Some("ruok"), true);
        assert_eq!(ro, list(&["ruok", "isro", "srvr"]));

        // The answer to a disabled word, and no action.
        let snap = AdminSnapshot::default();
        let a = answer(FourLetterWord::Mntr, None, &some, &snap);
        assert_eq!(
            a.bytes,
            b"mntr is not executed because it is not in the whitelist.\n"
        );
        assert_eq!(a.action, None);
        let a = answer(FourLetterWord::Srst, None, &some, &snap);
        assert_eq!(
            a.bytes,
            b"srst is not executed because it is not in the whitelist.\n"
        );
        assert_eq!(a.action, None);
        let a = answer(FourLetterWord::Stmk, Some(5), &some, &snap);
        assert_eq!(
            a.bytes,
            b"stmk is not executed because it is not in the whitelist.\n"
        );
        assert_eq!(a.action, None);
        let a = answer(FourLetterWord::TelnetClose, None, &some, &snap);
        assert_eq!(
            a.bytes,
            b"telnet close is not executed because it is not in the whitelist.\n"
        );
        // Enabled, the telnet bytes get no answer.
        let a = answer(FourLetterWord::TelnetClose, None, &star, &snap);
        assert!(a.bytes.is_empty());

        assert!(!needs_snapshot(FourLetterWord::Ruok, &star));
        assert!(!needs_snapshot(FourLetterWord::Mntr, &some));
        assert!(needs_snapshot(FourLetterWord::Mntr, &star));
        assert!(needs_snapshot(FourLetterWord::Srvr, &[]));
    }
}
