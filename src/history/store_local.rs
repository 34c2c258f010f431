//! Segments as files in a directory (`DIR/segments/<first seq>.jsonl`), for development and
//! for an auditor who copied the bucket. A segment is written to a temporary file and then
//! hard-linked to its name: the link fails if the name exists, so a second writer never
//! overwrites a segment, and a reader never sees half a segment.

use super::error::HistoryError;
use super::store::Written;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct LocalStore {
    dir: PathBuf,
}

impl LocalStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalStore { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keys (`segments/<name>`) of every file in `DIR/segments` but temporary ones.
    pub async fn segment_keys(&self) -> Result<Vec<String>, HistoryError> {
        let segments = self.dir.join("segments");
        blocking(move || {
            let entries = match std::fs::read_dir(&segments) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(io_error("listing", &segments, e)),
            };
            let mut keys = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| io_error("listing", &segments, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.starts_with('.') {
                    keys.push(format!("segments/{name}"));
                }
            }
            Ok(keys)
        })
        .await
    }

    pub async fn read(&self, key: &str) -> Result<String, HistoryError> {
        let path = self.dir.join(key);
        blocking(move || std::fs::read_to_string(&path).map_err(|e| io_error("reading", &path, e)))
            .await
    }

    pub async fn create(&self, key: &str, text: &str) -> Result<Written, HistoryError> {
        let path = self.dir.join(key);
        let text = text.to_string();
        blocking(move || create_new(&path, &text)).await
    }
}

fn create_new(path: &Path, text: &str) -> Result<Written, HistoryError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io_error("creating", dir, e))?;
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| HistoryError::Io(format!("random: {e}")))?;
    let temporary = dir.join(format!(".tmp-{}", hex::encode(nonce)));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(io_error("writing", &temporary, e));
    }
    let linked = std::fs::hard_link(&temporary, path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok(Written::Written),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Written::Taken),
        Err(e) => Err(io_error("creating", path, e)),
    }
}

fn io_error(operation: &'static str, path: &Path, source: std::io::Error) -> HistoryError {
    HistoryError::Local {
        operation,
        path: path.display().to_string(),
        source,
    }
}

async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, HistoryError> + Send + 'static,
) -> Result<T, HistoryError> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| HistoryError::Io(format!("file task: {e}")))?
}
