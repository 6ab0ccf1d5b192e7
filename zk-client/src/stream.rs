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
