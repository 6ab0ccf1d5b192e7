//! [`EventStream`]: the one shape of every stream the client hands out (session states,
//! leader latch states, config and tree events): a [`futures_core::Stream`] with an async
//! `next()`, so a caller never has to know which channel is behind it.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

/// A stream of events in order, each delivered once; it ends (`None`) after its source's
/// final event. Events queue up until read (nothing is skipped); drop the stream when no
/// longer interested.
///
/// ```
/// # async fn demo(client: zk_client::Client) {
/// use zk_client::SessionState;
/// let mut states = client.state_changes();
/// while let Some(state) = states.next().await {
///     if state == SessionState::Expired {
///         break;
///     }
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct EventStream<Ev> {
    rx: mpsc::UnboundedReceiver<Ev>,
}

impl<Ev> EventStream<Ev> {
    pub(crate) fn new(rx: mpsc::UnboundedReceiver<Ev>) -> Self {
        EventStream { rx }
    }

    /// The next event; `None` once the source has ended and every event was read.
    pub async fn next(&mut self) -> Option<Ev> {
        self.rx.recv().await
    }

    /// The next event if one is already waiting.
    pub fn try_next(&mut self) -> Option<Ev> {
        self.rx.try_recv().ok()
    }
}

impl<Ev> futures_core::Stream for EventStream<Ev> {
    type Item = Ev;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Ev>> {
        self.rx.poll_recv(cx)
    }
}

/// A state that ends its history: once reached, it never changes again.
pub(crate) trait FinalState: Copy + PartialEq + Send + Sync + 'static {
    fn is_final(self) -> bool;
}

/// A recipe's state as both a `watch` (the latest) and [`EventStream`]s of every change, kept in
/// step under one lock: a change is published only if it differs, and a final state sticks and
/// ends every stream.
#[derive(Debug)]
pub(crate) struct StateCast<S> {
    state: tokio::sync::watch::Sender<S>,
    listeners: std::sync::Mutex<Vec<mpsc::UnboundedSender<S>>>,
}

impl<S: FinalState> StateCast<S> {
    pub(crate) fn new(initial: S) -> StateCast<S> {
        StateCast {
            state: tokio::sync::watch::channel(initial).0,
            listeners: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn get(&self) -> S {
        *self.state.borrow()
    }

    /// Publishes `state` if it differs. Final states stick.
    pub(crate) fn set(&self, state: S) {
        self.set_if(|_| true, state);
    }

    /// Moves to `state` if the current state passes `from`; says whether it did (also when
    /// it was `state` already).
    pub(crate) fn set_if(&self, from: impl Fn(S) -> bool, state: S) -> bool {
        let mut listeners = self.listeners.lock().expect("state listeners");
        let old = self.get();
        if old.is_final() || !from(old) {
            return false;
        }
        if old != state {
            self.state.send_replace(state);
            listeners.retain(|tx| tx.send(state).is_ok());
            if state.is_final() {
                listeners.clear();
            }
        }
        true
    }

    /// Every change from now on, starting with the current state; ends after a final one.
    pub(crate) fn changes(&self) -> EventStream<S> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut listeners = self.listeners.lock().expect("state listeners");
        let now = self.get();
        let _ = tx.send(now);
        if !now.is_final() {
            listeners.push(tx);
        }
        EventStream::new(rx)
    }

    /// The latest state as a `watch` channel (intermediate states may be skipped).
    pub(crate) fn watch(&self) -> tokio::sync::watch::Receiver<S> {
        self.state.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Light {
        Red,
        Green,
        Off,
    }

    impl FinalState for Light {
        fn is_final(self) -> bool {
            self == Light::Off
        }
    }

    #[test]
    fn final_states_stick_and_repeats_are_not_reported() {
        let cast = StateCast::new(Light::Red);
        let mut changes = cast.changes();
        cast.set(Light::Green);
        cast.set(Light::Green);
        assert!(!cast.set_if(|s| s == Light::Red, Light::Red));
        cast.set(Light::Red);
        cast.set(Light::Off);
        cast.set(Light::Green);
        let mut seen = Vec::new();
        while let Some(s) = changes.try_next() {
            seen.push(s);
        }
        assert_eq!(seen, [Light::Red, Light::Green, Light::Red, Light::Off]);
        assert_eq!(cast.get(), Light::Off);
        assert_eq!(cast.changes().try_next(), Some(Light::Off));
    }
}
