//! Plugin state: one namespace per plugin, behind the small [`StateBackend`] trait.
//!
//! The embedded implementation keeps each namespace in its own tree of a sled database.
//! Each plugin sees only its own namespace, so two plugins writing the same key never see
//! each other's value. Values carry an optional expiry; expired values read as absent and are
//! removed by [`StateStore::sweep_expired`]. Every write is flushed to disk before the plugin
//! is told it succeeded (a write acknowledged survives `kill -9`; see `docs/operations.md`).
//! Keys, values and the bytes of a namespace are limited ([`StateLimits`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;

/// Size limits of plugin state.
#[derive(Debug, Clone, Copy)]
pub struct StateLimits {
    /// Longest key, in bytes.
    pub max_key_bytes: usize,
    /// Largest value, in bytes.
    pub max_value_bytes: usize,
}

impl Default for StateLimits {
    fn default() -> Self {
        StateLimits { max_key_bytes: 1024, max_value_bytes: 1 << 20 }
    }
}

/// Default bytes (keys and values) a plugin's namespace may hold.
pub const DEFAULT_NAMESPACE_BYTES: u64 = 64 << 20;

/// Why a state operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The key is longer than allowed.
    #[error("key longer than {0} bytes")]
    KeyTooLarge(usize),
    /// The value is larger than allowed.
    #[error("value larger than {0} bytes")]
    ValueTooLarge(usize),
    /// The write would take the namespace over its quota (in bytes).
    #[error("namespace over its {0} bytes")]
    QuotaExceeded(u64),
    /// `increment` met a value that is not a decimal counter.
    #[error("value is not a counter")]
    NotACounter,
    /// The database failed.
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
}

/// What plugin state needs from a store: one namespace's operations. The embedded sled
/// store implements it; a shared store (for several gateway nodes) can too.
pub trait StateBackend: Send + Sync {
    /// Reads a key (expired = absent).
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>>;
    /// Writes a key, durable when the future resolves.
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl_seconds: Option<u32>,
    ) -> BoxFuture<'a, Result<(), StateError>>;
    /// Deletes a key; true if a live value existed.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StateError>>;
    /// Atomically adds `delta` to a decimal counter (absent counts as 0).
    fn increment<'a>(
        &'a self,
        key: &'a str,
        delta: i64,
        ttl_seconds: Option<u32>,
    ) -> BoxFuture<'a, Result<i64, StateError>>;
    /// Lists up to `limit` (at most [`MAX_LIST`]) live keys starting with `prefix`.
    fn list_keys<'a>(&'a self, prefix: &'a str, limit: usize) -> BoxFuture<'a, Result<Vec<String>, StateError>>;
}

/// The embedded state database of a gateway.
#[derive(Clone)]
pub struct StateStore {
    db: sled::Db,
    limits: StateLimits,
    /// Bytes held per namespace, counted once when first opened and kept up to date by writes.
    usage: Arc<Mutex<HashMap<String, Arc<AtomicU64>>>>,
}

const TREE_PREFIX: &str = "plugin/";

/// How long [`StateStore::open`] waits for another store's lock on the directory to go.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// sled reports a held lock only as an I/O error with this message (sled 0.34, `config.rs`).
fn is_lock_held(e: &std::io::Error) -> bool {
    e.to_string().contains("could not acquire lock")
}

impl StateStore {
    /// Opens (or creates) the database in `dir`. sled replays its log on open, so a store
    /// killed mid-write opens with every flushed write in place.
    ///
    /// Only one store can hold a directory. sled lets go of its file lock from background
    /// threads shortly after the last handle of a store is dropped, so a store reopened in the
    /// same process (a gateway rebuilt on the same `state_dir`) may find it still held: `open`
    /// waits up to [`LOCK_WAIT`] for it before failing with sled's "could not acquire lock".
    pub fn open(dir: &Path, limits: StateLimits) -> anyhow::Result<StateStore> {
        std::fs::create_dir_all(dir)?;
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        let db = loop {
            match sled::Config::new().path(dir).open() {
                Err(sled::Error::Io(e)) if is_lock_held(&e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                other => break other?,
            }
        };
        Ok(StateStore { db, limits, usage: Arc::default() })
    }

    /// The namespace of one plugin, with its quota in bytes.
    pub fn namespace(&self, plugin: &str, quota_bytes: u64) -> anyhow::Result<Namespace> {
        let tree = self.db.open_tree(format!("{TREE_PREFIX}{plugin}"))?;
        let usage = {
            let mut map = self.usage.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(plugin) {
                Some(u) => u.clone(),
                None => {
                    let mut bytes = 0u64;
                    for item in tree.iter() {
                        let (k, v) = item?;
                        bytes += (k.len() + v.len()) as u64;
                    }
                    let u = Arc::new(AtomicU64::new(bytes));
                    map.insert(plugin.to_string(), u.clone());
                    u
                }
            }
        };
        Ok(Namespace { tree, limits: self.limits, quota: quota_bytes, usage })
    }

    /// Removes expired values from every namespace; returns how many. Blocking.
    pub fn sweep_expired(&self) -> Result<usize, StateError> {
        let now = now_ms();
        let mut removed = 0;
        for name in self.db.tree_names() {
            let Some(plugin) = std::str::from_utf8(&name).ok().and_then(|n| n.strip_prefix(TREE_PREFIX)) else {
                continue;
            };
            let tree = self.db.open_tree(&name)?;
            let usage = self.usage.lock().unwrap_or_else(|p| p.into_inner()).get(plugin).cloned();
            for item in tree.iter() {
                let (k, v) = item?;
                if decode(&v, now).is_none() {
                    // Only if it is still the same expired value (a writer may have replaced it).
                    if tree.compare_and_swap(&k, Some(&v), None as Option<&[u8]>)?.is_ok() {
                        removed += 1;
                        if let Some(u) = &usage {
                            u.fetch_sub((k.len() + v.len()) as u64, Ordering::AcqRel);
                        }
                    }
                }
            }
        }
        if removed > 0 {
            self.db.flush()?;
        }
        Ok(removed)
    }
}

/// One plugin's namespace in the embedded store.
#[derive(Clone)]
pub struct Namespace {
    tree: sled::Tree,
    limits: StateLimits,
    quota: u64,
    usage: Arc<AtomicU64>,
}

const HEADER: usize = 8;

/// Most keys one `list_keys` call returns.
pub const MAX_LIST: usize = 1000;

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn expiry(ttl_seconds: Option<u32>) -> u64 {
    ttl_seconds.map_or(0, |s| now_ms() + u64::from(s) * 1000)
}

/// Encodes a stored value: an 8-byte big-endian expiry in ms since the epoch (0 = never), then the payload.
fn encode(expires_ms: u64, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER + payload.len());
    v.extend_from_slice(&expires_ms.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// Decodes a stored value; `None` when it has expired (or is malformed).
fn decode(raw: &[u8], now: u64) -> Option<(u64, &[u8])> {
    let (head, payload) = raw.split_at_checked(HEADER)?;
    let expires = u64::from_be_bytes(head.try_into().ok()?);
    (expires == 0 || expires > now).then_some((expires, payload))
}

impl Namespace {
    fn check_key(&self, key: &str) -> Result<(), StateError> {
        if key.len() > self.limits.max_key_bytes {
            return Err(StateError::KeyTooLarge(self.limits.max_key_bytes));
        }
        Ok(())
    }

    /// Checks that replacing `old` with `new_len` bytes under `key` stays within the quota.
    /// Concurrent writers may overshoot by one value each (documented).
    fn check_quota(&self, key: &str, old: Option<&[u8]>, new_len: usize) -> Result<(), StateError> {
        let old_len = old.map_or(0, |o| key.len() + o.len()) as u64;
        let new_len = (key.len() + new_len) as u64;
        let used = self.usage.load(Ordering::Acquire);
        if new_len > old_len && used.saturating_sub(old_len) + new_len > self.quota {
            return Err(StateError::QuotaExceeded(self.quota));
        }
        Ok(())
    }

    fn account(&self, key: &str, old: Option<&[u8]>, new_len: Option<usize>) {
        let old_len = old.map_or(0, |o| key.len() + o.len()) as u64;
        let new_len = new_len.map_or(0, |n| key.len() + n) as u64;
        if new_len >= old_len {
            self.usage.fetch_add(new_len - old_len, Ordering::AcqRel);
        } else {
            self.usage.fetch_sub(old_len - new_len, Ordering::AcqRel);
        }
    }

    /// Reads a key.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.check_key(key)?;
        let now = now_ms();
        Ok(self.tree.get(key)?.and_then(|raw| decode(&raw, now).map(|(_, p)| p.to_vec())))
    }

    /// Waits until every write so far is on disk.
    ///
    /// The flush runs on a Tokio blocking thread, not through sled's `flush_async`: that one
    /// waits on sled's own small I/O pool, and when every thread of that pool is waiting for a
    /// flush, the buffer write they wait for is queued behind them and never runs (a deadlock
    /// seen with several gateways flushing at once).
    async fn flush(&self) -> Result<(), StateError> {
        let tree = self.tree.clone();
        tokio::task::spawn_blocking(move || tree.flush())
            .await
            .map_err(|e| StateError::Storage(sled::Error::ReportableBug(format!("flush task: {e}"))))??;
        Ok(())
    }

    /// Writes a key; durable when this returns.
    pub async fn set(&self, key: &str, value: &[u8], ttl_seconds: Option<u32>) -> Result<(), StateError> {
        self.check_key(key)?;
        if value.len() > self.limits.max_value_bytes {
            return Err(StateError::ValueTooLarge(self.limits.max_value_bytes));
        }
        let encoded = encode(expiry(ttl_seconds), value);
        let current = self.tree.get(key)?;
        self.check_quota(key, current.as_deref(), encoded.len())?;
        let old = self.tree.insert(key, encoded.as_slice())?;
        self.account(key, old.as_deref(), Some(encoded.len()));
        self.flush().await?;
        Ok(())
    }

    /// Deletes a key; true if a live value existed. Durable when this returns.
    pub async fn delete(&self, key: &str) -> Result<bool, StateError> {
        self.check_key(key)?;
        let old = self.tree.remove(key)?;
        self.account(key, old.as_deref(), None);
        self.flush().await?;
        Ok(old.is_some_and(|raw| decode(&raw, now_ms()).is_some()))
    }

    /// Atomically adds `delta` to a decimal counter (absent or expired counts as 0).
    pub async fn increment(&self, key: &str, delta: i64, ttl_seconds: Option<u32>) -> Result<i64, StateError> {
        self.check_key(key)?;
        let now = now_ms();
        let new_expiry = ttl_seconds.map(|_| expiry(ttl_seconds));
        let current = self.tree.get(key)?;
        // A counter is at most 20 digits.
        self.check_quota(key, current.as_deref(), HEADER + 20)?;
        let mut outcome: Result<i64, StateError> = Ok(0);
        let mut replaced: Option<usize> = None;
        let new = self.tree.update_and_fetch(key, |old| {
            replaced = old.map(<[u8]>::len);
            let (old_expiry, old_value) = match old.and_then(|raw| decode(raw, now)) {
                None => (0, 0i64),
                Some((e, payload)) => match std::str::from_utf8(payload).ok().and_then(|s| s.parse::<i64>().ok()) {
                    Some(v) => (e, v),
                    None => {
                        outcome = Err(StateError::NotACounter);
                        return old.map(|o| o.to_vec());
                    }
                },
            };
            let value = old_value.wrapping_add(delta);
            outcome = Ok(value);
            Some(encode(new_expiry.unwrap_or(old_expiry), value.to_string().as_bytes()))
        })?;
        let value = outcome?;
        let old_len = replaced.map(|l| key.len() + l).unwrap_or(0);
        let new_len = new.as_ref().map_or(0, |n| key.len() + n.len());
        if new_len >= old_len {
            self.usage.fetch_add((new_len - old_len) as u64, Ordering::AcqRel);
        } else {
            self.usage.fetch_sub((old_len - new_len) as u64, Ordering::AcqRel);
        }
        self.flush().await?;
        Ok(value)
    }

    /// Lists up to `limit` (at most [`MAX_LIST`]) live keys starting with `prefix`.
    pub fn list_keys(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StateError> {
        let limit = limit.min(MAX_LIST);
        let now = now_ms();
        let mut keys = Vec::new();
        for item in self.tree.scan_prefix(prefix) {
            if keys.len() >= limit {
                break;
            }
            let (k, v) = item?;
            if decode(&v, now).is_some() {
                keys.push(String::from_utf8_lossy(&k).into_owned());
            }
        }
        Ok(keys)
    }

    /// Bytes this namespace holds (keys and stored values).
    pub fn usage(&self) -> u64 {
        self.usage.load(Ordering::Acquire)
    }
}

impl StateBackend for Namespace {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>> {
        Box::pin(async move { Namespace::get(self, key) })
    }
    fn set<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Option<u32>) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(Namespace::set(self, key, value, ttl))
    }
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StateError>> {
        Box::pin(Namespace::delete(self, key))
    }
    fn increment<'a>(&'a self, key: &'a str, delta: i64, ttl: Option<u32>) -> BoxFuture<'a, Result<i64, StateError>> {
        Box::pin(Namespace::increment(self, key, delta, ttl))
    }
    fn list_keys<'a>(&'a self, prefix: &'a str, limit: usize) -> BoxFuture<'a, Result<Vec<String>, StateError>> {
        Box::pin(async move { Namespace::list_keys(self, prefix, limit) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn namespaces_are_isolated_and_counters_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path(), StateLimits::default()).unwrap();
        let a = store.namespace("a", DEFAULT_NAMESPACE_BYTES).unwrap();
        let b = store.namespace("b", DEFAULT_NAMESPACE_BYTES).unwrap();
        a.set("k", b"from-a", None).await.unwrap();
        b.set("k", b"from-b", None).await.unwrap();
        assert_eq!(a.get("k").unwrap().as_deref(), Some(&b"from-a"[..]));
        assert_eq!(b.get("k").unwrap().as_deref(), Some(&b"from-b"[..]));
        assert_eq!(a.increment("n", 5, None).await.unwrap(), 5);
        assert_eq!(a.increment("n", -2, None).await.unwrap(), 3);
        assert_eq!(b.get("n").unwrap(), None);
        assert!(matches!(a.increment("k", 1, None).await, Err(StateError::NotACounter)));
        assert_eq!(a.list_keys("", 10).unwrap(), vec!["k".to_string(), "n".to_string()]);
        assert!(a.delete("k").await.unwrap());
        assert!(!a.delete("k").await.unwrap());
    }

    #[tokio::test]
    async fn limits_and_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path(), StateLimits { max_key_bytes: 4, max_value_bytes: 4 }).unwrap();
        let ns = store.namespace("p", DEFAULT_NAMESPACE_BYTES).unwrap();
        assert!(matches!(ns.set("toolong", b"v", None).await, Err(StateError::KeyTooLarge(4))));
        assert!(matches!(ns.set("k", b"12345", None).await, Err(StateError::ValueTooLarge(4))));
        // An expiry in the past reads as absent.
        ns.tree.insert("old", encode(1, b"v")).unwrap();
        assert_eq!(ns.get("old").unwrap(), None);
        assert!(ns.list_keys("", 10).unwrap().is_empty());
        assert_eq!(ns.increment("old", 1, None).await.unwrap(), 1);
    }
}

#[cfg(test)]
mod reopen_tests {
    use super::*;

    #[tokio::test]
    async fn writes_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = StateStore::open(dir.path(), StateLimits::default()).unwrap();
            let ns = store.namespace("p", DEFAULT_NAMESPACE_BYTES).unwrap();
            assert_eq!(ns.increment("n", 1, None).await.unwrap(), 1);
            ns.set("k", b"v", None).await.unwrap();
        }
        let store = StateStore::open(dir.path(), StateLimits::default()).unwrap();
        let ns = store.namespace("p", DEFAULT_NAMESPACE_BYTES).unwrap();
        assert_eq!(ns.get("k").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(ns.increment("n", 1, None).await.unwrap(), 2);
    }
}

#[cfg(test)]
mod quota_and_sweep_tests {
    use super::*;

    #[tokio::test]
    async fn quota_is_enforced_and_freed() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path(), StateLimits::default()).unwrap();
        let ns = store.namespace("q", 100).unwrap();
        ns.set("a", &[0; 40], None).await.unwrap(); // 1 + 8 + 40 = 49 bytes
        assert_eq!(ns.usage(), 49);
        assert!(matches!(ns.set("b", &[0; 50], None).await, Err(StateError::QuotaExceeded(100))));
        // Replacing a value by a smaller one is always allowed; deleting frees its bytes.
        ns.set("a", &[0; 10], None).await.unwrap();
        assert_eq!(ns.usage(), 19);
        ns.set("b", &[0; 50], None).await.unwrap();
        assert!(ns.delete("a").await.unwrap());
        assert_eq!(ns.usage(), 59);
        // The count survives reopening.
        drop(ns);
        drop(store);
        let reopened = StateStore::open(dir.path(), StateLimits::default()).unwrap();
        assert_eq!(reopened.namespace("q", 100).unwrap().usage(), 59);
    }

    #[tokio::test]
    async fn sweeping_removes_only_expired_values() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path(), StateLimits::default()).unwrap();
        let ns = store.namespace("s", DEFAULT_NAMESPACE_BYTES).unwrap();
        ns.set("live", b"v", None).await.unwrap();
        ns.set("later", b"v", Some(3600)).await.unwrap();
        ns.tree.insert("dead", encode(1, b"v")).unwrap();
        ns.account("dead", None, Some(HEADER + 1));
        let before = ns.usage();
        assert_eq!(store.sweep_expired().unwrap(), 1);
        assert_eq!(ns.usage(), before - (4 + HEADER as u64 + 1));
        assert_eq!(ns.tree.len(), 2);
    }
}

#[cfg(test)]
mod concurrent_open_tests {
    use super::*;

    #[tokio::test]
    async fn a_second_open_of_a_live_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _a = StateStore::open(dir.path(), StateLimits::default()).unwrap();
        let started = std::time::Instant::now();
        let err = StateStore::open(dir.path(), StateLimits::default()).err().expect("second open must fail");
        assert!(format!("{err:#}").contains("could not acquire lock"), "{err:#}");
        // It waited for the lock to go, then gave up.
        assert!(started.elapsed() >= LOCK_WAIT, "{:?}", started.elapsed());
    }
}

#[cfg(test)]
mod concurrent_write_tests {
    use super::*;

    /// Many writers on several stores at once, as parallel gateways in one process do. With
    /// sled's `flush_async` this deadlocked once every thread of sled's I/O pool waited for a
    /// flush whose buffer write was queued behind them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_durable_writes_on_several_stores_all_finish() {
        let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
        let stores: Vec<_> = dirs.iter().map(|d| StateStore::open(d.path(), StateLimits::default()).unwrap()).collect();
        let mut tasks = Vec::new();
        for (s, store) in stores.iter().enumerate() {
            for w in 0..16 {
                let ns = store.namespace(&format!("p{w}"), DEFAULT_NAMESPACE_BYTES).unwrap();
                tasks.push(tokio::spawn(async move {
                    for i in 0..25 {
                        ns.set(&format!("k{i}"), format!("{s}/{w}/{i}").as_bytes(), None).await.unwrap();
                        ns.increment("n", 1, None).await.unwrap();
                    }
                    ns
                }));
            }
        }
        let all = async {
            let mut namespaces = Vec::new();
            for t in tasks {
                namespaces.push(t.await.unwrap());
            }
            namespaces
        };
        let namespaces = tokio::time::timeout(std::time::Duration::from_secs(120), all)
            .await
            .expect("durable writes never finished");
        for ns in namespaces {
            assert_eq!(ns.get("n").unwrap().as_deref(), Some(&b"25"[..]));
            assert_eq!(ns.list_keys("k", 100).unwrap().len(), 25);
        }
    }
}
