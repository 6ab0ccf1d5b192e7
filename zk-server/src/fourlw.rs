//! Four-letter words answered from the core's state. So far `ruok`, `isro` and the whitelist
//! refusal; the other words say they are not implemented yet (their Java formats come next).

use zk_proto::frame::FourLetterWord;

use crate::core::ServerCore;

/// The bytes a four-letter word gets back (the connection closes after them).
pub fn answer(
    _core: &ServerCore,
    word: FourLetterWord,
    _stmk_mask: Option<i64>,
    whitelist: &[String],
) -> Vec<u8> {
    let name = word.as_str();
    let enabled = whitelist.iter().any(|w| w == "*" || w == name);
    if !enabled {
        return format!("{name} is not executed because it is not in the whitelist.\n")
            .into_bytes();
    }
    match word {
        FourLetterWord::Ruok => b"imok".to_vec(),
        FourLetterWord::Isro => b"rw".to_vec(),
        _ => format!("{name} is not implemented by zk-rs yet.\n").into_bytes(),
    }
}
