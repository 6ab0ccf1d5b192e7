//! The clients' history: how an op reads in a report, and the check at the end of a run.

use super::super::check::Violation;
use super::super::linearizable::{self, Call, Op};
use super::super::Sim;
use super::{key_path, Clients, KEYS, SEARCH_BUDGET};

impl Clients {
    pub(super) fn describe(&self, i: usize) -> String {
        let r = &self.history[i];
        let what = match r.call.op {
            Op::Write(v) => format!("write {} = {v}", key_path(r.key)),
            Op::Read(None) => format!("read {}", key_path(r.key)),
            Op::Read(Some(v)) => format!("read {} -> {v:?}", key_path(r.key)),
        };
        let answer = match r.returned_ms {
            Some(ms) => format!("answered at {ms} ms"),
            None => "no answer".to_owned(),
        };
        format!(
            "client {} via {}: {what}, invoked at {} ms, {answer}",
            r.client, r.member, r.invoked_ms
        )
    }
}

impl Sim {
    /// Every key's history must be linearizable (ops still pending count as indeterminate).
    pub(in crate::quorum::sim) fn check_histories(&mut self) -> Result<(), Violation> {
        let Some(c) = self.clients.as_mut() else {
            return Ok(());
        };
        c.unknown += c.clients.iter().filter(|cl| cl.pending.is_some()).count() as u64;
        let mut gave_up = Vec::new();
        for key in 0..KEYS {
            let indices: Vec<usize> = (0..c.history.len())
                .filter(|&i| c.history[i].key == key)
                .collect();
            let calls: Vec<Call> = indices.iter().map(|&i| c.history[i].call).collect();
            match linearizable::check(&calls, SEARCH_BUDGET) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    let mut text = format!(
                        "the history of {} ({} ops) is not linearizable: no order places more \
                         than {} ops; stuck at: {}\nits last ops up to there:\n",
                        key_path(key),
                        calls.len(),
                        e.linearized,
                        c.describe(indices[e.stuck_at])
                    );
                    let upto = e.stuck_at + 1;
                    for &i in &indices[upto.saturating_sub(30)..upto] {
                        text.push_str(&format!("  {}\n", c.describe(i)));
                    }
                    return Err(text);
                }
                Err(why) => {
                    c.inconclusive += 1;
                    gave_up.push(format!("{}: {why}", key_path(key)));
                }
            }
        }
        for line in gave_up {
            self.trace(line);
        }
        Ok(())
    }
}
