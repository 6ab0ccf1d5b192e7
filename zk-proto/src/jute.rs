//! Jute, ZooKeeper's binary record encoding (`BinaryOutputArchive` / `BinaryInputArchive`).
//!
//! Every number is big-endian two's complement. Strings, buffers and vectors carry an `int` length
//! (element count for vectors) in front, where `-1` means null. A record is its fields in order,
//! with no header or terminator.
//!
//! Decoding reads from a `&mut &[u8]` cursor and never panics: running out of input gives
//! [`DecodeError::Incomplete`] (the caller may wait for more bytes), anything that can never become
//! valid gives [`DecodeError::Invalid`]. Allocation is bounded by the input length, so a huge length
//! or count announced by a peer cannot make the decoder reserve memory it was not given.
//!
//! Nullable jute fields are `Option<_>` in Rust; a non-`Option` field that reads `-1` is invalid
//! for [`Jute::read`]. Java reads a null wherever a ustring, buffer or vector stands, and its
//! server then reacts to the null in its own way; [`Jute::read_nulls`] is the same decoding, but
//! a null in a field that cannot hold one reads as the empty value and its place is recorded in a
//! [`NullLog`], so that a server can answer as Java does.
//!
//! ```
//! use zk_proto::jute::{Jute, DecodeError};
//! let bytes = "/app".to_string().to_jute_bytes();
//! assert_eq!(bytes, b"\0\0\0\x04/app");
//! assert_eq!(String::from_jute_bytes(&bytes).unwrap(), "/app");
//! assert!(matches!(String::from_jute_bytes(&bytes[..3]), Err(DecodeError::Incomplete { .. })));
//! ```

use bytes::{BufMut, Bytes};

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended early: at least `needed` more bytes are required. On a stream, wait for
    /// more; inside a complete frame or file, the data is truncated.
    #[error("input ends early: at least {needed} more bytes needed")]
    Incomplete {
        /// A lower bound on how many more bytes are needed.
        needed: usize,
    },
    /// The bytes can never decode, whatever follows.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// What was being decoded.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
}

impl DecodeError {
    /// An [`DecodeError::Invalid`] error.
    pub fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        DecodeError::Invalid {
            what,
            detail: detail.into(),
        }
    }

    /// Turns "need more bytes" into "invalid", for input known to be complete (a whole frame, a
    /// whole file).
    pub fn complete_input(self, what: &'static str) -> Self {
        match self {
            DecodeError::Incomplete { needed } => DecodeError::Invalid {
                what,
                detail: format!("truncated: {needed} more bytes expected"),
            },
            other => other,
        }
    }
}

/// A value with a jute encoding.
pub trait Jute: Sized {
    /// Appends the encoding of `self` to `out`.
    fn write<B: BufMut>(&self, out: &mut B);

    /// Decodes one value from the front of `input`, advancing it past the bytes used. On error,
    /// `input` may have been partly consumed: keep a copy of the slice to retry from.
    fn read(input: &mut &[u8]) -> Result<Self, DecodeError>;

    /// The encoding of `self` as a new vector.
    fn to_jute_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    /// Like [`Jute::read`], but a null (-1) in a ustring, buffer or vector this type cannot hold
    /// as null reads as the empty value, and its place is recorded in `log` (see [`NullLog`]).
    /// Fields that may be null (`Option`) read as `None` and are not recorded. Every other error
    /// is the one [`Jute::read`] gives.
    fn read_nulls(input: &mut &[u8], log: &mut NullLog) -> Result<Self, DecodeError> {
        let _ = log;
        Self::read(input)
    }

    /// Decodes a value that must use all of `bytes`; leftover bytes are invalid.
    fn from_jute_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut input = bytes;
        let value = Self::read(&mut input)?;
        if !input.is_empty() {
            return Err(DecodeError::invalid(
                std::any::type_name::<Self>(),
                format!("{} bytes left over", input.len()),
            ));
        }
        Ok(value)
    }
}

/// One step of a [`FieldPath`]: a record field, or an element of a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldStep {
    /// A record field, by its Rust name (`path`, `acl`, `scheme`, `data_watches`, ...).
    Field(&'static str),
    /// The element at this index of a vector (or the sub-op at this index of a multi).
    Index(usize),
}

/// Where a field stands inside a decoded value, from its top: `acl[0].id.scheme` is
/// `[Field("acl"), Index(0), Field("id"), Field("scheme")]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldPath(pub Vec<FieldStep>);

impl FieldPath {
    /// The path from its steps.
    pub fn of(steps: &[FieldStep]) -> Self {
        FieldPath(steps.to_vec())
    }

    /// Whether this path is exactly `steps`.
    pub fn is(&self, steps: &[FieldStep]) -> bool {
        self.0 == steps
    }

    /// The rest of this path if it starts with `prefix`.
    pub fn strip_prefix(&self, prefix: &[FieldStep]) -> Option<&[FieldStep]> {
        self.0.strip_prefix(prefix)
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for step in &self.0 {
            match step {
                FieldStep::Field(name) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    f.write_str(name.trim_start_matches("r#"))?;
                }
                FieldStep::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

/// The nulls met by [`Jute::read_nulls`]: the place of each, in reading order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NullLog {
    at: Vec<FieldStep>,
    nulls: Vec<FieldPath>,
}

impl NullLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `T` with its steps below `step` (what a record does for each field and a vector
    /// for each element).
    pub fn within<T>(
        &mut self,
        step: FieldStep,
        read: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        self.at.push(step);
        let result = read(self);
        self.at.pop();
        result
    }

    /// Records a null at the current place.
    pub fn record(&mut self) {
        self.nulls.push(FieldPath(self.at.clone()));
    }

    /// The places of the nulls met, in reading order.
    pub fn nulls(&self) -> &[FieldPath] {
        &self.nulls
    }

    /// Consumes the log, giving the places of the nulls met.
    pub fn into_nulls(self) -> Vec<FieldPath> {
        self.nulls
    }
}

/// Takes `n` bytes from the front of `input`.
pub fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
    if input.len() < n {
        return Err(DecodeError::Incomplete {
            needed: n - input.len(),
        });
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Ok(head)
}

fn take_array<const N: usize>(input: &mut &[u8]) -> Result<[u8; N], DecodeError> {
    let mut array = [0u8; N];
    array.copy_from_slice(take(input, N)?);
    Ok(array)
}

/// Reads a length or count prefix: `None` for `-1` (null), an error for anything below.
fn read_len(input: &mut &[u8], what: &'static str) -> Result<Option<usize>, DecodeError> {
    match i32::read(input)? {
        -1 => Ok(None),
        n if n < -1 => Err(DecodeError::invalid(what, format!("negative length {n}"))),
        n => Ok(Some(n as usize)),
    }
}

fn null_error(what: &'static str) -> DecodeError {
    DecodeError::invalid(what, "null (-1) where a value is required")
}

fn write_len<B: BufMut>(out: &mut B, len: usize) {
    let len = i32::try_from(len).expect("jute lengths are at most i32::MAX");
    out.put_i32(len);
}

/// Writes a jute `ustring` from a borrowed `str` (what [`String`]'s [`Jute::write`] writes).
pub fn write_str<B: BufMut>(out: &mut B, s: &str) {
    write_len(out, s.len());
    out.put_slice(s.as_bytes());
}

/// Writes a jute `buffer` that may be null from borrowed bytes (what `Option<Bytes>`'s
/// [`Jute::write`] writes).
pub fn write_buffer<B: BufMut>(out: &mut B, data: Option<&[u8]>) {
    match data {
        Some(data) => {
            write_len(out, data.len());
            out.put_slice(data);
        }
        None => out.put_i32(-1),
    }
}

impl Jute for i32 {
    fn write<B: BufMut>(&self, out: &mut B) {
        out.put_i32(*self);
    }
    fn read(input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok(i32::from_be_bytes(take_array(input)?))
    }
}

impl Jute for i64 {
    fn write<B: BufMut>(&self, out: &mut B) {
        out.put_i64(*self);
    }
    fn read(input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok(i64::from_be_bytes(take_array(input)?))
    }
}

/// Java writes `true` as 1 and reads any non-zero byte as `true`.
impl Jute for bool {
    fn write<B: BufMut>(&self, out: &mut B) {
        out.put_u8(u8::from(*self));
    }
    fn read(input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok(take_array::<1>(input)?[0] != 0)
    }
}

fn read_string_bytes<'a>(input: &mut &'a [u8]) -> Result<Option<&'a [u8]>, DecodeError> {
    match read_len(input, "ustring")? {
        None => Ok(None),
        Some(len) => Ok(Some(take(input, len)?)),
    }
}

/// Decodes jute string bytes as Java does: UTF-8, where a character outside the BMP may come as a
/// CESU-8 surrogate pair (Java's writer encodes each UTF-16 unit alone), and malformed sequences
/// become U+FFFD (Java's `new String(bytes, UTF_8)`).
pub fn decode_java_utf8(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => decode_cesu8_lossy(bytes),
    }
}

fn decode_cesu8_lossy(bytes: &[u8]) -> String {
    // Rewrite each 6-byte encoded surrogate pair as the 4-byte UTF-8 of its code point; leave
    // everything else to the standard lossy decoder.
    let mut fixed = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let Some(cp) = surrogate_pair_at(&bytes[i..]) {
            let ch = char::from_u32(cp).expect("surrogate pairs decode to valid scalars");
            let mut buf = [0u8; 4];
            fixed.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            i += 6;
        } else {
            fixed.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&fixed).into_owned()
}

fn surrogate_pair_at(b: &[u8]) -> Option<u32> {
    if b.len() < 6 || b[0] != 0xED || b[3] != 0xED {
        return None;
    }
    let unit = |s: &[u8]| -> Option<u32> {
        if s[1] & 0xC0 != 0x80 || s[2] & 0xC0 != 0x80 {
            return None;
        }
        Some(0xD000 | ((u32::from(s[1]) & 0x3F) << 6) | (u32::from(s[2]) & 0x3F))
    };
    let high = unit(&b[0..3])?;
    let low = unit(&b[3..6])?;
    if !(0xD800..0xDC00).contains(&high) || !(0xDC00..0xE000).contains(&low) {
        return None;
    }
    Some(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
}

impl Jute for String {
    fn write<B: BufMut>(&self, out: &mut B) {
        write_str(out, self);
    }
    fn read(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let bytes = read_string_bytes(input)?.ok_or_else(|| null_error("ustring"))?;
        Ok(decode_java_utf8(bytes))
    }
    fn read_nulls(input: &mut &[u8], log: &mut NullLog) -> Result<Self, DecodeError> {
        match read_string_bytes(input)? {
            Some(bytes) => Ok(decode_java_utf8(bytes)),
            None => {
                log.record();
                Ok(String::new())
            }
        }
    }
}

impl Jute for Option<String> {
    fn write<B: BufMut>(&self, out: &mut B) {
        match self {
            Some(s) => s.write(out),
            None => out.put_i32(-1),
        }
    }
    fn read(input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok(read_string_bytes(input)?.map(decode_java_utf8))
    }
}

fn read_buffer(input: &mut &[u8]) -> Result<Option<Bytes>, DecodeError> {
    match read_len(input, "buffer")? {
        None => Ok(None),
        Some(len) => Ok(Some(Bytes::copy_from_slice(take(input, len)?))),
    }
}

/// A jute `buffer`.
impl Jute for Bytes {
    fn write<B: BufMut>(&self, out: &mut B) {
        write_buffer(out, Some(self));
    }
    fn read(input: &mut &[u8]) -> Result<Self, DecodeError> {
        read_buffer(input)?.ok_or_else(|| null_error("buffer"))
    }
    fn read_nulls(input: &mut &[u8], log: &mut NullLog) -> Result<Self, DecodeError> {
        match read_buffer(input)? {
            Some(bytes) => Ok(bytes),
            None => {
                log.record();
                Ok(Bytes::new())
            }
        }
    }
}

/// A jute `buffer` that may be null (znode data can be).
impl Jute for Option<Bytes> {
    fn write<B: BufMut>(&self, out: &mut B) {
        write_buffer(out, self.as_deref());
    }
    fn read(input: &mut &[u8]) -> Result<Self, DecodeError> {
        read_buffer(input)
    }
}

fn read_vector<T: Jute>(input: &mut &[u8]) -> Result<Option<Vec<T>>, DecodeError> {
    read_vector_with(input, |input, _| T::read(input))
}

/// A vector whose elements are read with [`Jute::read_nulls`], each below its index.
fn read_vector_nulls<T: Jute>(
    input: &mut &[u8],
    log: &mut NullLog,
) -> Result<Option<Vec<T>>, DecodeError> {
    read_vector_with(input, |input, i| {
        log.within(FieldStep::Index(i), |log| T::read_nulls(input, log))
    })
}

fn read_vector_with<T>(
    input: &mut &[u8],
    mut read: impl FnMut(&mut &[u8], usize) -> Result<T, DecodeError>,
) -> Result<Option<Vec<T>>, DecodeError> {
    let Some(count) = read_len(input, "vector")? else {
        return Ok(None);
    };
    // Every element takes at least one byte, so a count beyond the remaining input cannot be met
    // yet; checking first keeps a hostile count from reserving memory.
    if count > input.len() {
        return Err(DecodeError::Incomplete {
            needed: count - input.len(),
        });
    }
    let mut items = Vec::with_capacity(count);
    for i in 0..count {
        items.push(read(input, i)?);
    }
    Ok(Some(items))
}

/// A jute `vector<T>`.
impl<T: Jute> Jute for Vec<T> {
    fn write<B: BufMut>(&self, out: &mut B) {
        write_len(out, self.len());
        for item in self {
            item.write(out);
        }
    }
    fn read(input: &mut &[u8]) -> Result<Self, DecodeError> {
        read_vector(input)?.ok_or_else(|| null_error("vector"))
    }
    fn read_nulls(input: &mut &[u8], log: &mut NullLog) -> Result<Self, DecodeError> {
        match read_vector_nulls(input, log)? {
            Some(items) => Ok(items),
            None => {
                log.record();
                Ok(Vec::new())
            }
        }
    }
}

/// A jute `vector<T>` that may be null.
impl<T: Jute> Jute for Option<Vec<T>> {
    fn write<B: BufMut>(&self, out: &mut B) {
        match self {
            Some(v) => v.write(out),
            None => out.put_i32(-1),
        }
    }
    fn read(input: &mut &[u8]) -> Result<Self, DecodeError> {
        read_vector(input)
    }
    fn read_nulls(input: &mut &[u8], log: &mut NullLog) -> Result<Self, DecodeError> {
        read_vector_nulls(input, log)
    }
}

/// Builds values of jute types from unstructured bytes, for property tests and fuzzing.
#[cfg(any(test, feature = "arbitrary"))]
pub trait Arb: Sized {
    /// One value taken from `u`.
    fn arb(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self>;
}

#[cfg(any(test, feature = "arbitrary"))]
mod arb_impls {
    use super::Arb;
    use arbitrary::{Result, Unstructured};
    use bytes::Bytes;

    macro_rules! arb_via_arbitrary {
        ($($t:ty),*) => {$(
            impl Arb for $t {
                fn arb(u: &mut Unstructured<'_>) -> Result<Self> {
                    u.arbitrary()
                }
            }
        )*};
    }
    arb_via_arbitrary!(i32, i64, bool, String);

    impl Arb for Bytes {
        fn arb(u: &mut Unstructured<'_>) -> Result<Self> {
            Ok(Bytes::from(u.arbitrary::<Vec<u8>>()?))
        }
    }

    impl<T: Arb> Arb for Vec<T> {
        fn arb(u: &mut Unstructured<'_>) -> Result<Self> {
            let len = u.int_in_range(0..=6)?;
            (0..len).map(|_| T::arb(u)).collect()
        }
    }

    impl<T: Arb> Arb for Option<T> {
        fn arb(u: &mut Unstructured<'_>) -> Result<Self> {
            Ok(if u.arbitrary()? {
                Some(T::arb(u)?)
            } else {
                None
            })
        }
    }
}

/// Declares a jute record: the struct, its [`Jute`] impl (fields in declaration order), its
/// [`Arb`] impl, and a property test that encoding then decoding gives the same value back.
///
/// ```ignore
/// jute_record! {
///     /// `Id`: an authentication identity.
///     pub struct Id {
///         /// The scheme, for example `digest`.
///         pub scheme: String,
///         /// The identity within the scheme.
///         pub id: String,
///     }
/// }
/// ```
macro_rules! jute_record {
    ($(#[$meta:meta])* $vis:vis struct $name:ident {
        $($(#[$field_meta:meta])* $field_vis:vis $field:ident : $ty:ty),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
        $vis struct $name {
            $($(#[$field_meta])* $field_vis $field: $ty,)*
        }

        impl $crate::jute::Jute for $name {
            #[allow(unused_variables)]
            fn write<B: ::bytes::BufMut>(&self, out: &mut B) {
                $($crate::jute::Jute::write(&self.$field, out);)*
            }
            #[allow(unused_variables)]
            fn read(input: &mut &[u8]) -> Result<Self, $crate::jute::DecodeError> {
                Ok(Self {
                    $($field: <$ty as $crate::jute::Jute>::read(input)?,)*
                })
            }
            #[allow(unused_variables)]
            fn read_nulls(
                input: &mut &[u8],
                log: &mut $crate::jute::NullLog,
            ) -> Result<Self, $crate::jute::DecodeError> {
                Ok(Self {
                    $($field: log.within(
                        $crate::jute::FieldStep::Field(stringify!($field)),
                        |log| <$ty as $crate::jute::Jute>::read_nulls(input, log),
                    )?,)*
                })
            }
        }

        #[cfg(any(test, feature = "arbitrary"))]
        impl $crate::jute::Arb for $name {
            #[allow(unused_variables)]
            fn arb(u: &mut ::arbitrary::Unstructured<'_>) -> ::arbitrary::Result<Self> {
                Ok(Self {
                    $($field: <$ty as $crate::jute::Arb>::arb(u)?,)*
                })
            }
        }

        #[cfg(test)]
        ::pastey::paste! {
            #[allow(non_snake_case)]
            mod [<$name:snake _jute_roundtrip>] {
                use super::*;
                $crate::jute::roundtrip_property!($name);
            }
        }
    };
}
pub(crate) use jute_record;

/// The property test that [`jute_record!`] generates, also usable for hand-written codecs:
/// every value built from arbitrary bytes survives an encode/decode round trip exactly, and
/// decoding arbitrary bytes never panics.
#[cfg(test)]
macro_rules! roundtrip_property {
    ($ty:ty) => {
        ::proptest::proptest! {
            #![proptest_config(::proptest::prelude::ProptestConfig::with_cases(256))]
            #[test]
            fn encode_then_decode_is_identity(seed in ::proptest::collection::vec(::proptest::prelude::any::<u8>(), 0..512)) {
                let mut u = ::arbitrary::Unstructured::new(&seed);
                if let Ok(value) = <$ty as $crate::jute::Arb>::arb(&mut u) {
                    let bytes = $crate::jute::Jute::to_jute_bytes(&value);
                    let back = <$ty as $crate::jute::Jute>::from_jute_bytes(&bytes);
                    ::proptest::prop_assert_eq!(back, Ok(value));
                }
            }

            #[test]
            fn decoding_any_bytes_never_panics(bytes in ::proptest::collection::vec(::proptest::prelude::any::<u8>(), 0..256)) {
                let _ = <$ty as $crate::jute::Jute>::from_jute_bytes(&bytes);
            }
        }
    };
}
#[cfg(test)]
pub(crate) use roundtrip_property;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_are_big_endian() {
        assert_eq!(0x0102_0304i32.to_jute_bytes(), [1, 2, 3, 4]);
        assert_eq!(
            (-2i64).to_jute_bytes(),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]
        );
        assert_eq!(true.to_jute_bytes(), [1]);
        assert!(
            bool::from_jute_bytes(&[7]).unwrap(),
            "non-zero reads as true, as in Java"
        );
    }

    #[test]
    fn null_and_empty_are_distinct() {
        assert_eq!(None::<Bytes>.to_jute_bytes(), [0xff; 4]);
        assert_eq!(Some(Bytes::new()).to_jute_bytes(), [0; 4]);
        assert_eq!(Option::<Bytes>::from_jute_bytes(&[0xff; 4]), Ok(None));
        assert!(matches!(
            Bytes::from_jute_bytes(&[0xff; 4]),
            Err(DecodeError::Invalid { .. })
        ));
        assert_eq!(Option::<Vec<i32>>::from_jute_bytes(&[0xff; 4]), Ok(None));
        assert!(matches!(
            String::from_jute_bytes(&[0xff, 0xff, 0xff, 0xfe]),
            Err(DecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn huge_counts_are_incomplete_without_allocating() {
        let mut bytes = vec![0x7f, 0xff, 0xff, 0xff];
        bytes.extend_from_slice(&[0; 8]);
        assert!(matches!(
            Vec::<i64>::from_jute_bytes(&bytes),
            Err(DecodeError::Incomplete { .. })
        ));
        assert!(matches!(
            Bytes::from_jute_bytes(&bytes),
            Err(DecodeError::Incomplete { needed }) if needed == 0x7fff_ffff - 8
        ));
    }

    #[test]
    fn cesu8_surrogate_pairs_decode_like_java() {
        // U+1F600 as Java writes it: two 3-byte surrogate encodings.
        let java = [0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80];
        assert_eq!(decode_java_utf8(&java), "\u{1F600}");
        assert_eq!(decode_java_utf8(b"ok\xff"), "ok\u{FFFD}");
    }

    #[test]
    fn trailing_bytes_are_rejected_by_from_jute_bytes() {
        assert!(matches!(
            i32::from_jute_bytes(&[0, 0, 0, 1, 9]),
            Err(DecodeError::Invalid { .. })
        ));
    }
}
