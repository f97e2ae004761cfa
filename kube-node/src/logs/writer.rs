//! [`LogWriter`]: appends CRI log lines to a file and rotates it by size.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use super::entry::LogEntry;

/// How a log file rotates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogWriterConfig {
    /// Rotate once the current file reaches this many bytes (Kubernetes'
    /// `containerLogMaxSize`, 10 MiB by default).
    pub max_size: u64,
    /// Files kept, the current one included (`containerLogMaxFiles`, 5 by default).
    pub max_files: usize,
}

impl Default for LogWriterConfig {
    fn default() -> Self {
        Self {
            max_size: 10 * 1024 * 1024,
            max_files: 5,
        }
    }
}

/// Appends entries to `path`; when it grows past the limit it becomes `path.1` (the older
/// ones shift to `.2`, ... and the oldest is dropped) and a new `path` starts.
///
/// Writes are blocking: call it from a thread of its own or `spawn_blocking`.
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    config: LogWriterConfig,
}

impl LogWriter {
    /// Opens (or creates) the log file for appending.
    pub fn open(path: &Path, config: LogWriterConfig) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_owned(),
            file,
            size,
            config,
        })
    }

    /// Appends one entry, rotating first when the file is full.
    pub fn write(&mut self, entry: &LogEntry) -> io::Result<()> {
        if self.size >= self.config.max_size {
            self.rotate()?;
        }
        let line = entry.to_cri_line();
        self.file.write_all(&line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.config.max_files.max(1);
        if keep == 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        let _ = std::fs::remove_file(rotated(&self.path, keep - 1));
        for n in (1..keep - 1).rev() {
            let from = rotated(&self.path, n);
            if from.exists() {
                std::fs::rename(&from, rotated(&self.path, n + 1))?;
            }
        }
        std::fs::rename(&self.path, rotated(&self.path, 1))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// The name of the `n`th rotated file of `path` (`0.log.1` is the most recent).
pub(crate) fn rotated(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::logs::{LogStreamKind, read_log_files};

    #[test]
    fn rotation_keeps_the_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c/0.log");
        let config = LogWriterConfig {
            max_size: 100,
            max_files: 3,
        };
        let mut w = LogWriter::open(&path, config).unwrap();
        for i in 0..40 {
            let e = LogEntry::line(SystemTime::now(), LogStreamKind::Stdout, format!("l{i}"));
            w.write(&e).unwrap();
        }
        assert!(rotated(&path, 1).exists() && rotated(&path, 2).exists());
        assert!(!rotated(&path, 3).exists());
        let entries = read_log_files(&path, 3).unwrap();
        // The newest lines survive, in order, and the last one is the last written.
        assert_eq!(entries.last().unwrap().content, "l39");
        let nums: Vec<u32> = entries
            .iter()
            .map(|e| {
                std::str::from_utf8(&e.content[1..])
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{nums:?}");
        assert!(nums.len() < 40);
        // Reopening appends.
        let mut again = LogWriter::open(&path, LogWriterConfig::default()).unwrap();
        again
            .write(&LogEntry::line(
                SystemTime::now(),
                LogStreamKind::Stderr,
                "more",
            ))
            .unwrap();
        assert_eq!(
            read_log_files(&path, 3).unwrap().last().unwrap().content,
            "more"
        );
    }
}
