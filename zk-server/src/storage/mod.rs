//! Durable storage in Java's formats: the transaction log and snapshots.

pub mod snapshot;
pub mod txnlog;
