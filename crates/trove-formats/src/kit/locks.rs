//! One writer at a time per key on this node: what read-modify-write updates of a format's
//! documents hold (an npm package's versions and tags, a crate's index lines and owners, a
//! PyPI project's files), so a check-then-write (a version not yet published, a file not yet
//! uploaded) is not raced by a second request for the same name. Entries go when nobody holds
//! them.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

/// Async mutexes by name, made on first use and forgotten when unused.
#[derive(Default)]
pub struct KeyedLocks {
    locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl KeyedLocks {
    /// Waits for the writer of `key`, if any, and holds the lock until the guard drops.
    pub async fn lock(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut locks = self.locks.lock().expect("keyed locks");
            if locks.len() > 1024 {
                locks.retain(|_, w| w.strong_count() > 0);
            }
            match locks.get(key).and_then(Weak::upgrade) {
                Some(m) => m,
                None => {
                    let m = Arc::new(tokio::sync::Mutex::new(()));
                    locks.insert(key.to_owned(), Arc::downgrade(&m));
                    m
                }
            }
        };
        m.lock_owned().await
    }
}

/// The node's shared locks: waits for, then holds, the lock of `key` (name it by format and
/// repository or package).
pub async fn lock(key: &str) -> tokio::sync::OwnedMutexGuard<()> {
    static LOCKS: LazyLock<KeyedLocks> = LazyLock::new(Default::default);
    LOCKS.lock(key).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_writer_per_key() {
        let l = KeyedLocks::default();
        let a = l.lock("a").await;
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), l.lock("a"))
                .await
                .is_err(),
            "a second writer of the same key waits"
        );
        let _b = l.lock("b").await;
        drop(a);
        let _a2 = l.lock("a").await;
    }

    #[tokio::test]
    async fn the_shared_locks_hold_one_writer_per_key_too() {
        let a = lock("k").await;
        let other = lock("other").await;
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), lock("k"));
        assert!(waiting.await.is_err(), "a second holder of k");
        drop((a, other));
        let _again = lock("k").await;
    }
}
