//! The bytes of archived objects: log segments in Java's txn log format, LZ4 frames around
//! them and around snapshots, and the SHA-256 each manifest records.

use std::io::{Read, Write};

use sha2::{Digest, Sha256};
use zk_proto::storage::{write_log_record, FileHeader, TxnLogReader};
use zk_proto::txn::TxnEntry;
use zk_proto::Jute;

use super::manifest::follows;

/// What a segment holds, for its manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSummary {
    /// The first txn's zxid.
    pub first_zxid: i64,
    /// The last txn's zxid.
    pub last_zxid: i64,
    /// How many txns.
    pub txns: u64,
    /// The first txn's time.
    pub first_time_ms: i64,
    /// The last txn's time.
    pub last_time_ms: i64,
    /// The latest txn time.
    pub max_time_ms: i64,
}

/// A Java txn log file of `entries` (zxid order, at least one): the `ZKLG` header with dbid 0,
/// then one record per txn, without Java's preallocated zero padding (Java's reader ends at the
/// end of the file as at a zero record).
pub fn encode_log<'a>(
    entries: impl IntoIterator<Item = &'a TxnEntry>,
) -> (Vec<u8>, Option<SegmentSummary>) {
    let mut out = Vec::new();
    FileHeader::txn_log(0).write(&mut out);
    let mut summary: Option<SegmentSummary> = None;
    let mut txn_bytes = Vec::new();
    for entry in entries {
        txn_bytes.clear();
        entry.write(&mut txn_bytes);
        write_log_record(&mut out, &txn_bytes);
        let (zxid, time) = (entry.header.zxid, entry.header.time);
        summary = Some(match summary {
            None => SegmentSummary {
                first_zxid: zxid,
                last_zxid: zxid,
                txns: 1,
                first_time_ms: time,
                last_time_ms: time,
                max_time_ms: time,
            },
            Some(s) => SegmentSummary {
                last_zxid: zxid,
                txns: s.txns + 1,
                last_time_ms: time,
                max_time_ms: s.max_time_ms.max(time),
                ..s
            },
        });
    }
    (out, summary)
}

/// The txns of a log file, every record checked (Adler-32, length, end marker, decoding) and
/// their zxids following each other; anything else is an error naming the record. Unlike
/// recovery, nothing is forgiven: an archived segment was written whole.
pub fn decode_log(file: &[u8]) -> Result<Vec<TxnEntry>, String> {
    let mut reader = TxnLogReader::new(file)
        .map_err(|e| format!("bad txn log header: {e}"))?
        .with_max_txn_len(usize::MAX >> 1);
    let mut entries: Vec<TxnEntry> = Vec::new();
    loop {
        let at = reader.position();
        let record = match reader.next_record() {
            Ok(Some(record)) => record,
            Ok(None) => break,
            Err(e) => return Err(format!("record {} (offset {at}): {e}", entries.len())),
        };
        let entry = record
            .entry()
            .map_err(|e| format!("record {} (offset {at}): {e}", entries.len()))?;
        if let Some(prev) = entries.last() {
            if !follows(prev.header.zxid, entry.header.zxid) {
                return Err(format!(
                    "record {} (offset {at}): zxid {:#x} does not follow {:#x}",
                    entries.len(),
                    entry.header.zxid,
                    prev.header.zxid
                ));
            }
        }
        entries.push(entry);
    }
    match reader.end() {
        Some(zk_proto::storage::LogEnd::EndOfFile { .. }) => {}
        other => {
            return Err(format!(
                "the log does not end after record {}: {other:?}",
                entries.len()
            ))
        }
    }
    Ok(entries)
}

/// `raw` in an LZ4 frame (with the frame's content checksum).
pub fn compress(raw: &[u8]) -> Vec<u8> {
    let info = lz4_flex::frame::FrameInfo::new().content_checksum(true);
    let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(
        info,
        Vec::with_capacity(raw.len() / 2 + 64),
    );
    encoder.write_all(raw).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

/// The bytes inside an LZ4 frame.
pub fn decompress(stored: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(stored.len() * 2);
    lz4_flex::frame::FrameDecoder::new(stored)
        .read_to_end(&mut out)
        .map_err(|e| format!("bad LZ4 frame: {e}"))?;
    Ok(out)
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::txn::{CreateTxn, Txn, TxnHeader};

    pub(crate) fn create(zxid: i64, time: i64, path: &str) -> TxnEntry {
        TxnEntry {
            header: TxnHeader {
                client_id: 1,
                cxid: 1,
                zxid,
                time,
                r#type: zk_proto::OpCode::Create,
            },
            txn: Txn::Create(CreateTxn {
                path: path.to_owned(),
                data: Some(bytes::Bytes::from_static(b"d")),
                acl: Vec::new(),
                ephemeral: false,
                parent_c_version: 1,
            }),
            digest: None,
        }
    }

    #[test]
    fn a_segment_round_trips_and_every_damage_is_named() {
        let entries = [
            create(5, 100, "/a"),
            create(6, 90, "/b"),
            create(7, 120, "/c"),
        ];
        let (raw, summary) = encode_log(&entries);
        let summary = summary.unwrap();
        assert_eq!(
            (summary.first_zxid, summary.last_zxid, summary.txns),
            (5, 7, 3)
        );
        assert_eq!(
            (
                summary.first_time_ms,
                summary.last_time_ms,
                summary.max_time_ms
            ),
            (100, 120, 120)
        );
        assert_eq!(decode_log(&raw).unwrap(), entries);
        assert_eq!(
            decode_log(&decompress(&compress(&raw)).unwrap()).unwrap(),
            entries
        );
        // Java's reader reads the same file (scan_txn_log is what recovery uses).
        assert_eq!(
            zk_proto::storage::scan_txn_log(&raw).unwrap().records.len(),
            3
        );
        let mut flipped = raw.clone();
        flipped[30] ^= 1;
        assert!(decode_log(&flipped).unwrap_err().contains("record 0"));
        let cut = &raw[..raw.len() - 3];
        assert!(
            decode_log(cut).is_err(),
            "a torn last record is damage here"
        );
        let (gap, _) = encode_log(&[create(5, 1, "/a"), create(7, 1, "/c")]);
        assert!(decode_log(&gap).unwrap_err().contains("does not follow"));
        assert!(decompress(&raw).is_err());
        assert_eq!(sha256_hex(b"abc").len(), 64);
    }
}
