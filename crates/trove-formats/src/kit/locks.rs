//! One writer at a time per key on this node: what read-modify-write updates of a format's
//! documents hold (an npm package's versions and tags, a crate's index lines and owners), so
//! no concurrent update is lost. Entries go when nobody holds them.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

type Locks = Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>;

/// Waits for, then holds, the lock of `key` (name it by format and repository or package).
pub async fn lock(key: &str) -> tokio::sync::OwnedMutexGuard<()> {
    static LOCKS: LazyLock<Locks> = LazyLock::new(Default::default);
    let m = {
        let mut locks = LOCKS.lock().expect("write locks");
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

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn one_holder_per_key() {
        let a = super::lock("k").await;
        let other = super::lock("other").await;
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), super::lock("k"));
        assert!(waiting.await.is_err(), "a second holder of k");
        drop((a, other));
        let _again = super::lock("k").await;
    }
}
