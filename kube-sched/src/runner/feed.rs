//! Forwards an informer's events to the scheduling thread, and tells it when the first
//! complete list has been delivered, so that no pod is scheduled against a partial view
//! of the cluster.

use std::sync::mpsc::Sender;

use futures::StreamExt as _;
use futures::channel::mpsc::UnboundedReceiver;
use kube_api::informer::{Cache, InformerEvent};
use kube_core::Resource;

use super::thread::Msg;

/// Forwards `events` as `wrap` messages until the thread is gone. Once `cache` has synced
/// (its list is then already in `events`), the queued events are forwarded and `synced`
/// is sent after them.
pub(crate) async fn forward<K>(
    mut events: UnboundedReceiver<InformerEvent<K>>,
    cache: Cache<K>,
    tx: Sender<Msg>,
    wrap: fn(InformerEvent<K>) -> Msg,
    synced: Msg,
) where
    K: Resource + Send + Sync + 'static,
{
    cache.wait_until_synced().await;
    while let Ok(event) = events.try_recv() {
        if tx.send(wrap(event)).is_err() {
            return;
        }
    }
    if tx.send(synced).is_err() {
        return;
    }
    while let Some(event) = events.next().await {
        if tx.send(wrap(event)).is_err() {
            return;
        }
    }
}
