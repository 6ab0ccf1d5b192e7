//! Snapshot files (`snapshot.<zxid>`, uncompressed) and the SNAP sync body of the quorum port.
//!
//! The input is a whole snapshot stream, parsed with `storage::Snapshot::parse`. Seals are
//! Adler-32 checksums of everything before them, so a mutated node would almost always stop at
//! "CRC corruption"; when parsing fails on a seal, the seal is patched with the computed value
//! and parsing retried (up to the three seals), so mutations also reach the digest section and
//! the 3.9 trailer. The same bytes (and the bytes after a 16-byte file header) are also read
//! with `storage::read_snap_sync_body`.
//!
//! Properties checked (beyond "no panic"):
//! - a snapshot that parses re-encodes (`to_bytes`) to a stream that parses to the same value
//!   and passes Java's quick validity test (`is_valid_snapshot`); its data, written as a SNAP
//!   sync body, reads back the same;
//! - parse errors on the complete stream are never `Incomplete`;
//! - a SNAP sync body that decodes re-encodes to bytes that decode to the same data using all
//!   of them, and every proper prefix of those bytes is `Incomplete` (a stream must wait for
//!   more), never `Invalid`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zk_proto::storage::{
    is_valid_snapshot, read_snap_sync_body, write_snap_sync_body, Snapshot, SnapshotContainer,
    SnapshotData, SnapshotError,
};
use zk_proto::DecodeError;

fn parse_fixing_seals(data: &[u8]) -> Result<Snapshot, SnapshotError> {
    let mut bytes = data.to_vec();
    let mut result = Snapshot::parse(&bytes);
    for _ in 0..3 {
        match result {
            Err(SnapshotError::SealMismatch {
                offset, computed, ..
            }) => {
                bytes[offset..offset + 8].copy_from_slice(&computed.to_be_bytes());
                result = Snapshot::parse(&bytes);
            }
            _ => break,
        }
    }
    result
}

fn check_sync_body_bytes(data: &SnapshotData, cut: usize) {
    let mut bytes = Vec::new();
    write_snap_sync_body(data, &mut bytes);
    let mut input = &bytes[..];
    assert_eq!(
        read_snap_sync_body(&mut input).as_ref(),
        Ok(data),
        "a written SNAP sync body reads back differently"
    );
    assert!(input.is_empty(), "the SNAP sync body reader left bytes");
    for prefix in [bytes.len() - 1, bytes.len() / 2, cut % bytes.len()] {
        let mut input = &bytes[..prefix];
        let result = read_snap_sync_body(&mut input);
        assert!(
            matches!(result, Err(DecodeError::Incomplete { .. })),
            "a {prefix}-byte prefix of a {}-byte SNAP sync body gave {result:?}",
            bytes.len()
        );
    }
}

fn check_sync_body(input: &[u8], cut: usize) {
    let mut rest = input;
    if let Ok(data) = read_snap_sync_body(&mut rest) {
        check_sync_body_bytes(&data, cut);
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = SnapshotContainer::from_magic(data);
    let _ = is_valid_snapshot("snapshot.1", data);

    match parse_fixing_seals(data) {
        Ok(snapshot) => {
            let bytes = snapshot.to_bytes();
            let again = Snapshot::parse(&bytes)
                .unwrap_or_else(|e| panic!("a re-encoded snapshot does not parse: {e}"));
            assert_eq!(again, snapshot, "the re-encoded snapshot parses differently");
            assert!(
                is_valid_snapshot("snapshot.1", &bytes),
                "a written snapshot fails Java's quick validity test"
            );
            let _ = snapshot.data.tree_digest();
            if let Some(digest) = &snapshot.digest {
                let _ = digest.digest_value();
            }
            check_sync_body_bytes(&snapshot.data, data.len());
        }
        Err(SnapshotError::Decode { error, .. }) => assert!(
            matches!(error, DecodeError::Invalid { .. }),
            "a complete snapshot failed as {error:?}"
        ),
        Err(_) => {}
    }

    check_sync_body(data, data.len());
    if let Some(after_header) = data.get(16..) {
        check_sync_body(after_header, data.len());
    }
});
