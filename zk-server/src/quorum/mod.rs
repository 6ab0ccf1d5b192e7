//! Ensembles: the quorum configuration, fast leader election and ZAB, in Java's wire formats
//! (QUORUM.md). Each part is a sans-IO state machine (messages and ticks in, actions out); the
//! runtime owns the election and quorum sockets and the timers.

pub mod cnx;
pub mod config;
pub mod election;
pub mod epoch;
mod java_order;
pub mod leader;
pub mod learner;
#[cfg(test)]
mod sim;
pub mod sync;
pub mod verifier;
