//! Transaction-log files (`log.<zxid>`).
//!
//! The input is a whole txn-log file. It is read with `storage::TxnLogReader` and
//! `storage::scan_txn_log`, and every record's txn bytes are decoded as a `txn::TxnEntry`.
//!
//! Every record carries an Adler-32 of its bytes, so almost any mutation of a record would stop
//! at "CRC check failed". The input is therefore read twice: as it is (the checksum path), and
//! with each record's checksum recomputed (so mutations reach the txn decoders).
//!
//! Properties checked (beyond "no panic"):
//! - the reader and the whole-file scan agree on records, end and error; the reader stays
//!   stopped once stopped; records are contiguous from offset 16, and rewriting the header and
//!   records with `write_log_record` reproduces the file up to `last_good_end` byte for byte;
//! - a record's txn bytes fail only as `Invalid` (they are complete); a decoded entry re-encodes
//!   to bytes that decode to the same entry, and a log rebuilt from the re-encoded entries scans
//!   back to the same entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zk_proto::storage::{
    adler32, scan_txn_log, write_log_record, LogRecord, TxnLogReader, FILE_HEADER_LEN,
    RECORD_OVERHEAD,
};
use zk_proto::txn::{Txn, TxnEntry};
use zk_proto::{DecodeError, Jute};

/// A copy of `file` with the checksum of every well-framed record recomputed.
fn with_fixed_checksums(file: &[u8]) -> Vec<u8> {
    let mut fixed = file.to_vec();
    let mut pos = FILE_HEADER_LEN;
    while fixed.len() >= pos + RECORD_OVERHEAD {
        let len = i32::from_be_bytes(fixed[pos + 8..pos + 12].try_into().unwrap());
        let Ok(len) = usize::try_from(len) else { break };
        if len == 0 || fixed.len() < pos + RECORD_OVERHEAD + len {
            break;
        }
        let sum = adler32(&fixed[pos + 12..pos + 12 + len]);
        fixed[pos..pos + 8].copy_from_slice(&sum.to_be_bytes());
        pos += RECORD_OVERHEAD + len;
    }
    fixed
}

fn check_entry(record: &LogRecord<'_>) -> Option<TxnEntry> {
    match record.entry() {
        Ok(entry) => {
            let bytes = entry.to_bytes();
            let again = TxnEntry::decode(&bytes).unwrap_or_else(|e| {
                panic!("re-encoded txn entry does not decode: {e}\n{entry:?}")
            });
            assert_eq!(again, entry, "re-encoded txn entry decodes differently");
            if let Txn::Multi(multi) = &entry.txn {
                let _ = multi.decode_all();
                let _ = multi.failed();
            }
            Some(entry)
        }
        Err(error) => {
            assert!(
                matches!(error, DecodeError::Invalid { .. }),
                "txn bytes are complete, yet: {error:?}"
            );
            None
        }
    }
}

fn check_log(file: &[u8]) {
    let scan = scan_txn_log(file);
    let mut reader = match TxnLogReader::new(file) {
        Ok(reader) => reader,
        Err(error) => {
            assert_eq!(scan, Err(error), "scan and reader disagree on the header");
            return;
        }
    };
    let mut records = Vec::new();
    let mut error = None;
    loop {
        match reader.next_record() {
            Ok(Some(record)) => records.push(record),
            Ok(None) => break,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    assert_eq!(reader.next_record(), Ok(None), "the reader must stay stopped");
    match (&scan, error) {
        (Ok(scan), None) => {
            assert_eq!(scan.records, records);
            assert_eq!(Some(scan.end), reader.end());
        }
        (Err(a), Some(b)) => {
            assert_eq!(*a, b);
            assert_eq!(reader.end(), None);
        }
        (scan, error) => panic!("scan and reader disagree: {scan:?} vs {error:?}"),
    }

    // Header and records rewritten byte for byte.
    let mut rebuilt = reader.header().to_jute_bytes();
    assert_eq!(rebuilt[..], file[..FILE_HEADER_LEN]);
    for record in &records {
        assert_eq!(record.offset, rebuilt.len(), "records are not contiguous");
        write_log_record(&mut rebuilt, record.txn_bytes);
        assert_eq!(record.end(), rebuilt.len());
    }
    assert_eq!(&rebuilt[..], &file[..rebuilt.len()], "rewritten records differ");
    assert_eq!(reader.position(), rebuilt.len());
    if let Some(end) = reader.end() {
        assert_eq!(end.last_good_end(), rebuilt.len());
    }

    // Entries: decode, re-encode, and write a new log of the re-encoded entries.
    let mut reencoded = reader.header().to_jute_bytes();
    let mut entries = Vec::new();
    for record in &records {
        if let Some(entry) = check_entry(record) {
            write_log_record(&mut reencoded, &entry.to_bytes());
            entries.push(entry);
        }
    }
    let rescan = scan_txn_log(&reencoded).expect("a rebuilt log must scan");
    assert!(rescan.end.is_clean());
    let again: Vec<TxnEntry> = rescan
        .records
        .iter()
        .map(|r| r.entry().expect("a re-encoded entry must decode"))
        .collect();
    assert_eq!(again, entries, "the rebuilt log decodes differently");
}

fuzz_target!(|data: &[u8]| {
    check_log(data);
    let fixed = with_fixed_checksums(data);
    if fixed != data {
        check_log(&fixed);
    }
});
