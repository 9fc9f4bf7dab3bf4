//! Published live events leave the outbox in batches, off the request path. A mutation writes
//! its events to the outbox in its own transaction and publishes them after the commit; the
//! rows only guard against the node dying in between (the relay publishes rows older than a
//! few seconds). Deleting them used to cost every mutation a second transaction before it
//! answered; now the ids go to one task per node, which deletes whatever has queued up in one
//! statement per production.
//!
//! Ids still queued when a node stops stay in the outbox; the relay publishes them again,
//! which subscribers ignore (they skip versions they have sent).

use std::collections::HashMap;
use std::sync::OnceLock;

use crewtime_persistence::Store;
use tokio::sync::mpsc;
use uuid::Uuid;

pub(crate) struct OutboxSweeper {
    store: Store,
    /// Started on first use, inside the runtime that serves requests.
    queue: OnceLock<mpsc::UnboundedSender<(Uuid, Vec<i64>)>>,
}

impl OutboxSweeper {
    pub(crate) fn new(store: Store) -> Self {
        Self {
            store,
            queue: OnceLock::new(),
        }
    }

    /// Queues published events of `production` for deletion.
    pub(crate) fn sweep(&self, production: Uuid, ids: Vec<i64>) {
        if ids.is_empty() {
            return;
        }
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run(self.store.clone(), rx));
            tx
        });
        // The task only ends with the sender; a failed send leaves the rows to the relay.
        let _ = queue.send((production, ids));
    }
}

async fn run(store: Store, mut queue: mpsc::UnboundedReceiver<(Uuid, Vec<i64>)>) {
    while let Some((production, ids)) = queue.recv().await {
        let mut batch: HashMap<Uuid, Vec<i64>> = HashMap::new();
        batch.entry(production).or_default().extend(ids);
        // Everything queued while the last batch ran goes in this one.
        while let Ok((production, ids)) = queue.try_recv() {
            batch.entry(production).or_default().extend(ids);
        }
        for (production, ids) in batch {
            metrics::counter!("crewtime_live_outbox_swept_total").increment(ids.len() as u64);
            if let Err(e) = store.delete_live_events(production, &ids).await {
                tracing::warn!(error = %e, "could not delete published live events; the relay will resend them");
            }
        }
    }
}
