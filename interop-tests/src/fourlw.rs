//! Four-letter words: 4 ASCII bytes in, text until the server closes.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Default limit for a whole four-letter-word exchange (connect, send, read to close).
pub const FOUR_LETTER_WORD_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends `word` (exactly 4 ASCII bytes, such as `ruok`, `srvr`, `mntr`) to a ZooKeeper server and
/// returns everything it writes before closing, within [`FOUR_LETTER_WORD_TIMEOUT`].
///
/// Errors: `InvalidInput` for a word that is not 4 bytes, the connect error (for example
/// `ConnectionRefused` when nothing listens), or `TimedOut` when the server does not finish in
/// time.
///
/// ```no_run
/// let reply = interop_tests::four_letter_word("127.0.0.1:2181", "ruok")?;
/// assert_eq!(reply, "imok");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn four_letter_word(addr: impl ToSocketAddrs, word: &str) -> io::Result<String> {
    four_letter_word_timeout(addr, word, FOUR_LETTER_WORD_TIMEOUT)
}

/// [`four_letter_word`] with an explicit limit for the whole exchange.
pub fn four_letter_word_timeout(
    addr: impl ToSocketAddrs,
    word: &str,
    timeout: Duration,
) -> io::Result<String> {
    if word.len() != 4 || !word.is_ascii() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a four-letter word is 4 ASCII bytes, not {word:?}"),
        ));
    }
    let deadline = Instant::now() + timeout;
    let mut last_err = None;
    let mut stream = None;
    for addr in addr.to_socket_addrs()? {
        match connect(addr, deadline) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    let mut stream = match stream {
        Some(s) => s,
        None => {
            return Err(last_err.unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "address resolved to nothing")
            }))
        }
    };
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    stream.write_all(word.as_bytes())?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        stream.set_read_timeout(Some(remaining(deadline)?))?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out(word, timeout, &reply));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

fn connect(addr: SocketAddr, deadline: Instant) -> io::Result<TcpStream> {
    TcpStream::connect_timeout(&addr, remaining(deadline)?)
}

/// Time left before `deadline`, or a `TimedOut` error when none is.
fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "four-letter word deadline passed",
        ));
    }
    Ok(left)
}

fn timed_out(word: &str, timeout: Duration, partial: &[u8]) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "no end of reply to {word:?} within {} ms (got {:?} so far)",
            timeout.as_millis(),
            String::from_utf8_lossy(partial)
        ),
    )
}
