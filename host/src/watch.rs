//! Hot reload: watches the manifest and every plugin file and rebuilds the gateway's snapshot
//! when one changes.
//!
//! The parent directories are watched, not the files, so that a file replaced by rename
//! (write a temporary file, then `mv` it into place — the safe way to deploy) is seen. Bursts
//! of events are debounced into one reload. A reload that fails leaves the running snapshot in
//! place; the error is logged and shown by `GET /admin/status`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};

use crate::gateway::Gateway;
use crate::manifest::PluginSource;

/// How long to wait for a burst of file events to settle before reloading.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(150);

/// A running watcher; dropping it stops watching.
pub struct Watcher {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The files a snapshot depends on: the manifest and every plugin file, as
/// `canonical parent directory / file name` (how the watcher reports them).
fn watched_files(gateway: &Gateway, manifest: &Path) -> BTreeSet<PathBuf> {
    let snapshot = gateway.snapshot();
    let plugin_files = snapshot.config.plugins.values().filter_map(|p| match &p.source {
        PluginSource::File(path) => Some(path.as_path()),
        PluginSource::Builtin(_) => None,
    });
    std::iter::once(manifest).chain(plugin_files).filter_map(normalize).collect()
}

fn normalize(path: &Path) -> Option<PathBuf> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Some(parent.canonicalize().ok()?.join(path.file_name()?))
}

/// Starts watching. Must be called on a Tokio runtime.
pub fn watch(gateway: Arc<Gateway>, manifest: PathBuf, debounce: Duration) -> anyhow::Result<Watcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<notify::Result<notify::Event>>();
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = tx.send(event);
    })?;
    let mut files = watched_files(&gateway, &manifest);
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    sync_dirs(&mut watcher, &files, &mut dirs);
    let task = tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            if !relevant(&event, &files) {
                continue;
            }
            // Let the burst settle, then take everything that arrived meanwhile.
            tokio::time::sleep(debounce).await;
            while rx.try_recv().is_ok() {}
            let (g, m) = (gateway.clone(), manifest.clone());
            let _ = tokio::task::spawn_blocking(move || g.reload_from(&m, "watch")).await;
            // Plugins may have been added or removed: follow the new set of files.
            files = watched_files(&gateway, &manifest);
            sync_dirs(&mut watcher, &files, &mut dirs);
        }
    });
    Ok(Watcher { task })
}

fn relevant(event: &notify::Result<notify::Event>, files: &BTreeSet<PathBuf>) -> bool {
    match event {
        Ok(e) => !e.kind.is_access() && e.paths.iter().any(|p| files.contains(p)),
        Err(e) => {
            tracing::warn!(error = %e, "file watcher error");
            false
        }
    }
}

fn sync_dirs(watcher: &mut notify::RecommendedWatcher, files: &BTreeSet<PathBuf>, dirs: &mut BTreeSet<PathBuf>) {
    let wanted: BTreeSet<PathBuf> = files.iter().filter_map(|f| f.parent().map(Path::to_path_buf)).collect();
    for gone in dirs.difference(&wanted) {
        let _ = watcher.unwatch(gone);
    }
    for new in wanted.difference(dirs) {
        if let Err(e) = watcher.watch(new, RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %new.display(), error = %e, "cannot watch directory");
        }
    }
    *dirs = wanted;
}
