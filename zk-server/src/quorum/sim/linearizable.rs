//! A linearizability checker for one register (one key): Wing & Gong's search with Lowe's
//! memoization, as Porcupine runs it. The history is a list of operations with their
//! invocation and response instants; the checker looks for a total order of them that
//! respects real time (an op whose response came before another's invocation goes first)
//! and in which every read returns the value of the last write before it.
//!
//! An op without a response (its client lost its server first) may have taken effect at any
//! point after its invocation, or never: it gets a response at infinity, so it can always go
//! last, where it changes nothing anyone saw. A read without a response constrains nothing
//! and is left out; so is a write without a response whose value no read returned (placing
//! it anywhere could only make reads harder to explain, so it is never needed).
//!
//! Histories are checked per key (linearizability is compositional), which keeps each search
//! small: a few hundred ops of a few concurrent clients.

use std::collections::HashSet;

/// A value written to the register: writes use unique values.
pub(super) type Value = u64;

/// What an op does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    /// Writes a value.
    Write(Value),
    /// Reads: `Some(None)` read the register never written, `None` got no answer.
    Read(Option<Option<Value>>),
}

/// One op of a history. Instants are any totally ordered stamps (the sim's step counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Call {
    pub op: Op,
    pub invoked: u64,
    /// `None`: no response (indeterminate).
    pub returned: Option<u64>,
}

/// Why a history is not linearizable: the furthest the search got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NotLinearizable {
    /// Most ops any explored order linearized.
    pub linearized: usize,
    /// The op (index into the history) whose response came before any order could place it.
    pub stuck_at: usize,
}

/// The verdict, or `Err` when the search exceeded `budget` steps (no verdict).
pub(super) type Verdict = Result<Result<(), NotLinearizable>, String>;

/// Checks one register's history, starting from "never written".
pub(super) fn check(history: &[Call], budget: u64) -> Verdict {
    let read_values: HashSet<Value> = history
        .iter()
        .filter_map(|c| match c.op {
            Op::Read(Some(Some(v))) => Some(v),
            _ => None,
        })
        .collect();
    // The ops that matter, with their index in `history`.
    let ops: Vec<(usize, Call)> = history
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, c)| match c.op {
            Op::Read(None) => false,
            Op::Read(Some(_)) => c.returned.is_some(),
            Op::Write(v) => c.returned.is_some() || read_values.contains(&v),
        })
        .collect();
    Search::new(&ops).run(budget)
}

/// One call or return event in the doubly linked list of Lowe's algorithm.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The op (index into `ops`).
    op: usize,
    is_call: bool,
    /// The other event of the op.
    partner: usize,
    prev: usize,
    next: usize,
}

struct Search<'a> {
    ops: &'a [(usize, Call)],
    /// Index 0 is the list head (a sentinel); events follow in time order.
    entries: Vec<Entry>,
}

impl<'a> Search<'a> {
    fn new(ops: &'a [(usize, Call)]) -> Self {
        // Events in time order; at one instant, calls before returns (concurrent, the
        // lenient reading), and indeterminate returns at the very end.
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, (_, c)) in ops.iter().enumerate() {
            events.push((c.invoked, true, i));
            events.push((c.returned.unwrap_or(u64::MAX), false, i));
        }
        events.sort_by_key(|&(t, is_call, i)| (t, !is_call, i));
        let n = events.len();
        let mut entries = vec![Entry {
            op: usize::MAX,
            is_call: false,
            partner: 0,
            prev: 0,
            next: if n == 0 { usize::MAX } else { 1 },
        }];
        let mut call_at = vec![0; ops.len()];
        for (k, &(_, is_call, op)) in events.iter().enumerate() {
            let at = k + 1;
            let mut partner = 0;
            if is_call {
                call_at[op] = at;
            } else {
                partner = call_at[op];
            }
            entries.push(Entry {
                op,
                is_call,
                partner,
                prev: k,
                next: if at == n { usize::MAX } else { at + 1 },
            });
        }
        for at in 1..=n {
            if !entries[at].is_call {
                let call = entries[at].partner;
                entries[call].partner = at;
            }
        }
        Search { ops, entries }
    }

    /// Takes an op's call and return out of the list.
    fn lift(&mut self, call: usize) {
        let ret = self.entries[call].partner;
        for at in [call, ret] {
            let Entry { prev, next, .. } = self.entries[at];
            self.entries[prev].next = next;
            if next != usize::MAX {
                self.entries[next].prev = prev;
            }
        }
    }

    /// Puts them back (the reverse order of `lift`).
    fn unlift(&mut self, call: usize) {
        let ret = self.entries[call].partner;
        for at in [ret, call] {
            let Entry { prev, next, .. } = self.entries[at];
            self.entries[prev].next = at;
            if next != usize::MAX {
                self.entries[next].prev = at;
            }
        }
    }

    fn run(mut self, budget: u64) -> Verdict {
        let words = self.ops.len().div_ceil(64);
        let mut linearized = vec![0u64; words];
        let mut state: Option<Value> = None;
        let mut cache: HashSet<(Vec<u64>, Option<Value>)> = HashSet::new();
        let mut calls: Vec<(usize, Option<Value>)> = Vec::new();
        let mut best = NotLinearizable {
            linearized: 0,
            stuck_at: 0,
        };
        let mut steps = 0u64;
        let mut at = self.entries[0].next;
        while self.entries[0].next != usize::MAX {
            steps += 1;
            if steps > budget {
                return Err(format!(
                    "linearizability search gave up after {budget} steps ({} ops)",
                    self.ops.len()
                ));
            }
            let e = self.entries[at];
            if e.is_call {
                let (ok, next_state) = match self.ops[e.op].1.op {
                    Op::Write(v) => (true, Some(v)),
                    Op::Read(r) => (r == Some(state), state),
                };
                if ok {
                    let mut next_set = linearized.clone();
                    next_set[e.op / 64] |= 1u64 << (e.op % 64);
                    if cache.insert((next_set.clone(), next_state)) {
                        calls.push((at, state));
                        state = next_state;
                        linearized = next_set;
                        self.lift(at);
                        at = self.entries[0].next;
                        continue;
                    }
                }
                at = e.next;
            } else {
                // A return: its op had to be placed before here, and no order placed it.
                if calls.len() >= best.linearized {
                    best = NotLinearizable {
                        linearized: calls.len(),
                        stuck_at: self.ops[e.op].0,
                    };
                }
                let Some((call, prev_state)) = calls.pop() else {
                    return Ok(Err(best));
                };
                state = prev_state;
                let op = self.entries[call].op;
                linearized[op / 64] &= !(1u64 << (op % 64));
                self.unlift(call);
                at = self.entries[call].next;
            }
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: Value, invoked: u64, returned: u64) -> Call {
        Call {
            op: Op::Write(v),
            invoked,
            returned: Some(returned),
        }
    }

    fn w_unknown(v: Value, invoked: u64) -> Call {
        Call {
            op: Op::Write(v),
            invoked,
            returned: None,
        }
    }

    fn r(read: Option<Value>, invoked: u64, returned: u64) -> Call {
        Call {
            op: Op::Read(Some(read)),
            invoked,
            returned: Some(returned),
        }
    }

    fn verdict(h: &[Call]) -> Result<(), NotLinearizable> {
        check(h, 1_000_000).expect("within budget")
    }

    #[test]
    fn sequential_and_concurrent_histories_pass() {
        assert_eq!(verdict(&[]), Ok(()));
        assert_eq!(
            verdict(&[r(None, 1, 2), w(1, 3, 4), r(Some(1), 5, 6)]),
            Ok(())
        );
        // A read overlapping a write may see either value.
        assert_eq!(verdict(&[w(1, 1, 2), w(2, 3, 8), r(Some(1), 4, 5)]), Ok(()));
        assert_eq!(verdict(&[w(1, 1, 2), w(2, 3, 8), r(Some(2), 4, 5)]), Ok(()));
        // Two overlapping writes, read in the order that needs them swapped.
        assert_eq!(
            verdict(&[
                w(1, 1, 10),
                w(2, 2, 9),
                r(Some(2), 11, 12),
                r(Some(2), 13, 14)
            ]),
            Ok(())
        );
        assert_eq!(
            verdict(&[w(1, 1, 10), w(2, 2, 9), r(Some(1), 11, 12)]),
            Ok(())
        );
    }

    #[test]
    fn indeterminate_writes_may_or_may_not_happen() {
        // Never seen: fine.
        assert_eq!(verdict(&[w_unknown(1, 1), r(None, 5, 6)]), Ok(()));
        // Seen long after its client gave up: fine too.
        assert_eq!(
            verdict(&[
                w(1, 1, 2),
                w_unknown(2, 3),
                r(Some(1), 10, 11),
                r(Some(2), 20, 21)
            ]),
            Ok(())
        );
        // But not before it was invoked.
        assert!(verdict(&[r(Some(2), 1, 2), w_unknown(2, 3)]).is_err());
        // And once seen, it stays (a later read of the older value goes back in time).
        assert!(verdict(&[
            w(1, 1, 2),
            w_unknown(2, 3),
            r(Some(2), 10, 11),
            r(Some(1), 20, 21)
        ])
        .is_err());
    }

    #[test]
    fn a_stale_read_fails() {
        let h = [w(1, 1, 2), w(2, 3, 4), r(Some(1), 5, 6)];
        assert_eq!(
            verdict(&h),
            Err(NotLinearizable {
                linearized: 2,
                stuck_at: 2
            })
        );
    }

    #[test]
    fn a_lost_acknowledged_write_fails() {
        assert!(verdict(&[w(1, 1, 2), r(None, 3, 4)]).is_err());
        assert!(verdict(&[w(1, 1, 2), w(2, 3, 4), r(Some(1), 5, 6), r(Some(1), 7, 8)]).is_err());
    }

    #[test]
    fn a_read_of_a_value_never_written_fails() {
        assert!(verdict(&[w(1, 1, 2), r(Some(7), 3, 4)]).is_err());
        assert!(verdict(&[r(Some(7), 3, 4)]).is_err());
    }

    #[test]
    fn a_read_going_back_in_time_fails() {
        // Two reads during one long write: once the new value is seen, the old one is gone.
        let h = [w(1, 1, 2), w(2, 3, 20), r(Some(2), 4, 5), r(Some(1), 6, 7)];
        assert!(verdict(&h).is_err());
        // Fine the other way round.
        let h = [w(1, 1, 2), w(2, 3, 20), r(Some(1), 4, 5), r(Some(2), 6, 7)];
        assert_eq!(verdict(&h), Ok(()));
    }

    #[test]
    fn unanswered_reads_constrain_nothing() {
        let h = [
            w(1, 1, 2),
            Call {
                op: Op::Read(None),
                invoked: 3,
                returned: None,
            },
            r(Some(1), 5, 6),
        ];
        assert_eq!(verdict(&h), Ok(()));
    }

    /// Hundreds of ops of three clients with indeterminate writes among them: quick.
    #[test]
    fn long_histories_stay_cheap() {
        let mut h = Vec::new();
        let mut last = None;
        let mut t = 0;
        for i in 0..600u64 {
            t += 3;
            if i % 7 == 3 {
                // Invoked and never answered: half of them took effect (and are read).
                h.push(w_unknown(10_000 + i, t));
                if i % 14 == 10 {
                    last = Some(10_000 + i);
                }
                continue;
            }
            if i % 2 == 0 {
                h.push(w(i, t, t + 4));
                last = Some(i);
            } else {
                h.push(r(last, t + 5, t + 6));
            }
        }
        assert_eq!(check(&h, 200_000).expect("within budget"), Ok(()));
        // The same with one read made stale fails.
        let stale = h
            .iter()
            .rposition(|c| matches!(c.op, Op::Read(Some(Some(_)))))
            .expect("a read");
        h[stale].op = Op::Read(Some(Some(0)));
        assert!(check(&h, 200_000).expect("within budget").is_err());
    }
}
