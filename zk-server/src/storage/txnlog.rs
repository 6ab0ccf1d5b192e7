//! The transaction log (being written).
