//! Files in the data dir that mirror a value the node keeps in memory (`node.json`,
//! `peers.json`): changed in memory, written whole by a rename, off the async runtime.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use crate::NodeError;

/// A value and the JSON file that mirrors it.
pub(crate) struct JsonFile<T> {
    path: PathBuf,
    value: Mutex<T>,
    /// A save is queued and has not yet taken its snapshot.
    queued: AtomicBool,
    /// One writer of the file at a time.
    writing: Mutex<()>,
}

impl<T: Serialize> JsonFile<T> {
    /// `value`, to be written to `path` (nothing is written yet).
    pub(crate) fn new(path: PathBuf, value: T) -> Self {
        Self {
            path,
            value: Mutex::new(value),
            queued: AtomicBool::new(false),
            writing: Mutex::new(()),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the value.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        self.value.lock().ok().map(|value| f(&value))
    }

    /// Runs `change` on the value, which says whether it changed it. True when the caller
    /// should run [`JsonFile::save`]: the value changed and no save is queued yet.
    pub(crate) fn update(&self, change: impl FnOnce(&mut T) -> bool) -> bool {
        let Ok(mut value) = self.value.lock() else {
            return false;
        };
        change(&mut value) && !self.queued.swap(true, Ordering::AcqRel)
    }

    /// Writes the value to the file (blocking): a sibling file renamed over it, so readers
    /// never see half a file.
    pub(crate) fn save(&self) -> Result<(), NodeError> {
        let _writing = self
            .writing
            .lock()
            .map_err(|_| NodeError::Internal("a writer of the file panicked".into()))?;
        // Changes from here on queue another save.
        self.queued.store(false, Ordering::Release);
        let text = {
            let value = self
                .value
                .lock()
                .map_err(|_| NodeError::Internal("a writer of the value panicked".into()))?;
            serde_json::to_string_pretty(&*value).map_err(|e| NodeError::Internal(e.to_string()))?
        };
        let tmp = self.path.with_extension("tmp");
        let io = |source| NodeError::Io {
            path: self.path.clone(),
            source,
        };
        std::fs::write(&tmp, text.as_bytes()).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_change_since_a_save_asks_for_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = JsonFile::new(dir.path().join("v.json"), vec![1]);
        assert!(file.update(|v| {
            v.push(2);
            true
        }));
        // A save is queued: the next change rides on it.
        assert!(!file.update(|v| {
            v.push(3);
            true
        }));
        file.save().unwrap();
        let text = std::fs::read_to_string(file.path()).unwrap();
        assert_eq!(serde_json::from_str::<Vec<u32>>(&text).unwrap(), [1, 2, 3]);
        // No change, no save.
        assert!(!file.update(|_| false));
        assert!(file.update(|v| {
            v.clear();
            true
        }));
        assert_eq!(file.read(Vec::len), Some(0));
    }
}
