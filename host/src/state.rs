//! Plugin state: one namespace per plugin in an embedded sled database.
//!
//! Each plugin sees only its own namespace (a sled tree named after the plugin), so two
//! plugins writing the same key never see each other's value. Values carry an optional
//! expiry; expired values read as absent. Every write is flushed to disk before the plugin
//! is told it succeeded.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

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

/// Why a state operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The key is longer than allowed.
    #[error("key longer than {0} bytes")]
    KeyTooLarge(usize),
    /// The value is larger than allowed.
    #[error("value larger than {0} bytes")]
    ValueTooLarge(usize),
    /// `increment` met a value that is not a decimal counter.
    #[error("value is not a counter")]
    NotACounter,
    /// The database failed.
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
}

/// The state database of a gateway.
#[derive(Clone)]
pub struct StateStore {
    db: sled::Db,
    limits: StateLimits,
}

impl StateStore {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path, limits: StateLimits) -> anyhow::Result<StateStore> {
        std::fs::create_dir_all(dir)?;
        let db = sled::Config::new().path(dir).open()?;
        Ok(StateStore { db, limits })
    }

    /// The namespace of one plugin.
    pub fn namespace(&self, plugin: &str) -> anyhow::Result<Namespace> {
        let tree = self.db.open_tree(format!("plugin/{plugin}"))?;
        Ok(Namespace { tree, limits: self.limits })
    }
}

/// One plugin's namespace.
#[derive(Clone)]
pub struct Namespace {
    tree: sled::Tree,
    limits: StateLimits,
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

    /// Reads a key.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.check_key(key)?;
        let now = now_ms();
        Ok(self.tree.get(key)?.and_then(|raw| decode(&raw, now).map(|(_, p)| p.to_vec())))
    }

    /// Writes a key; durable when this returns.
    pub async fn set(&self, key: &str, value: &[u8], ttl_seconds: Option<u32>) -> Result<(), StateError> {
        self.check_key(key)?;
        if value.len() > self.limits.max_value_bytes {
            return Err(StateError::ValueTooLarge(self.limits.max_value_bytes));
        }
        self.tree.insert(key, encode(expiry(ttl_seconds), value))?;
        self.tree.flush_async().await?;
        Ok(())
    }

    /// Deletes a key; true if a live value existed. Durable when this returns.
    pub async fn delete(&self, key: &str) -> Result<bool, StateError> {
        self.check_key(key)?;
        let old = self.tree.remove(key)?;
        self.tree.flush_async().await?;
        Ok(old.is_some_and(|raw| decode(&raw, now_ms()).is_some()))
    }

    /// Atomically adds `delta` to a decimal counter (absent or expired counts as 0).
    pub async fn increment(&self, key: &str, delta: i64, ttl_seconds: Option<u32>) -> Result<i64, StateError> {
        self.check_key(key)?;
        let now = now_ms();
        let new_expiry = ttl_seconds.map(|_| expiry(ttl_seconds));
        let mut outcome: Result<i64, StateError> = Ok(0);
        self.tree.update_and_fetch(key, |old| {
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
        self.tree.flush_async().await?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn namespaces_are_isolated_and_counters_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path(), StateLimits::default()).unwrap();
        let a = store.namespace("a").unwrap();
        let b = store.namespace("b").unwrap();
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
        let ns = store.namespace("p").unwrap();
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
            let ns = store.namespace("p").unwrap();
            assert_eq!(ns.increment("n", 1, None).await.unwrap(), 1);
            ns.set("k", b"v", None).await.unwrap();
        }
        let store = StateStore::open(dir.path(), StateLimits::default()).unwrap();
        let ns = store.namespace("p").unwrap();
        assert_eq!(ns.get("k").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(ns.increment("n", 1, None).await.unwrap(), 2);
    }
}

#[cfg(test)]
mod concurrent_open_tests {
    use super::*;

    #[tokio::test]
    async fn a_second_open_of_a_live_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _a = StateStore::open(dir.path(), StateLimits::default()).unwrap();
        let err = StateStore::open(dir.path(), StateLimits::default()).err().expect("second open must fail");
        assert!(format!("{err:#}").contains("could not acquire lock"), "{err:#}");
    }
}
