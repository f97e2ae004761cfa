//! Reading CRI log files: all of them at once (rotated files first), or following the
//! current one as it grows and rotates.

use std::fs::File;
use std::future::Future;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use kube_core::RuntimeError;
use kube_core::runtime::{LogOptions, LogStream};

use super::entry::{LogEntry, format_entry, limit, select_entries};
use super::writer::rotated;

/// Every entry of a log: the rotated files (oldest first), then the current file. Lines
/// that are not CRI log lines are skipped. A missing file is an empty log.
pub fn read_log_files(path: &Path, max_files: usize) -> io::Result<Vec<LogEntry>> {
    let mut entries = Vec::new();
    for n in (1..max_files.max(1)).rev() {
        read_into(&rotated(path, n), &mut entries)?;
    }
    read_into(path, &mut entries)?;
    Ok(entries)
}

fn read_into(path: &Path, entries: &mut Vec<LogEntry>) -> io::Result<()> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    entries.extend(
        data.split(|b| *b == b'\n')
            .filter_map(LogEntry::parse_cri_line),
    );
    Ok(())
}

/// Follows one log file from a byte offset: returns complete lines as they are appended,
/// and moves on to the new file when the old one was rotated away.
#[derive(Debug)]
pub struct LogFileReader {
    path: PathBuf,
    file: Option<File>,
    pending: Vec<u8>,
}

impl LogFileReader {
    /// A reader of `path` starting at its current end (what is there now is not returned).
    pub fn at_end(path: &Path) -> io::Result<Self> {
        let file = match File::open(path) {
            Ok(mut f) => {
                f.seek(SeekFrom::End(0))?;
                Some(f)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        Ok(Self {
            path: path.to_owned(),
            file,
            pending: Vec::new(),
        })
    }

    /// The complete entries appended since the last call.
    pub fn read_new(&mut self) -> io::Result<Vec<LogEntry>> {
        let mut out = Vec::new();
        loop {
            if let Some(file) = &mut self.file {
                let mut buf = Vec::new();
                file.read_to_end(&mut buf)?;
                self.pending.extend_from_slice(&buf);
                while let Some(pos) = self.pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = self.pending.drain(..=pos).collect();
                    if let Some(e) = LogEntry::parse_cri_line(&line) {
                        out.push(e);
                    }
                }
            }
            // Rotated (or created) since we opened it: read the new file from its start.
            let current = match std::fs::metadata(&self.path) {
                Ok(m) => Some(m.ino()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            let open = match &self.file {
                Some(f) => Some(f.metadata()?.ino()),
                None => None,
            };
            match current {
                Some(ino) if Some(ino) != open => {
                    self.file = Some(File::open(&self.path)?);
                    self.pending.clear();
                }
                _ => return Ok(out),
            }
        }
    }
}

/// A future telling whether the container still runs (while it does, a followed log keeps
/// waiting for output).
pub(crate) type AliveFn = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// The log of a container kept in CRI files at `path`, as [`LogOptions`] ask: the selected
/// past entries, then (with `follow`) new ones as they come, until `alive` says the
/// container is gone and the file has nothing more.
pub(crate) fn file_log_stream(
    path: &Path,
    max_files: usize,
    options: &LogOptions,
    alive: AliveFn,
    poll: Duration,
) -> Result<LogStream, RuntimeError> {
    // Open the follower first, so that nothing written between the read and it is lost.
    let follower = if options.follow {
        Some(LogFileReader::at_end(path).map_err(|e| RuntimeError::other("opening the log", e))?)
    } else {
        None
    };
    let past =
        read_log_files(path, max_files).map_err(|e| RuntimeError::other("reading the log", e))?;
    let selected = select_entries(past, options);
    entries_then_follow(&selected, follower, options, alive, poll)
}

/// A stream of `first`, then what `follower` reads until the container is gone.
pub(crate) fn entries_then_follow(
    first: &[LogEntry],
    follower: Option<LogFileReader>,
    options: &LogOptions,
    alive: AliveFn,
    poll: Duration,
) -> Result<LogStream, RuntimeError> {
    let timestamps = options.timestamps;
    let mut remaining = options.limit_bytes;
    let mut buf = BytesMut::new();
    for e in first {
        format_entry(&mut buf, e, timestamps);
    }
    let head = limit(buf.freeze(), &mut remaining);
    let head_stream = futures::stream::iter((!head.is_empty()).then_some(Ok(head)));
    let Some(follower) = follower else {
        return Ok(Box::pin(head_stream));
    };
    if remaining == Some(0) {
        return Ok(Box::pin(head_stream));
    }
    struct State {
        reader: Option<LogFileReader>,
        remaining: Option<u64>,
        done: bool,
    }
    let state = State {
        reader: Some(follower),
        remaining,
        done: false,
    };
    let tail = futures::stream::unfold(state, move |mut st| {
        let alive = alive.clone();
        async move {
            loop {
                if st.done || st.remaining == Some(0) {
                    return None;
                }
                let running = alive().await;
                let mut reader = st.reader.take()?;
                let read = tokio::task::spawn_blocking(move || {
                    let r = reader.read_new();
                    (reader, r)
                })
                .await;
                let (reader, result) = match read {
                    Ok(v) => v,
                    Err(e) => {
                        st.done = true;
                        return Some((Err(RuntimeError::other("reading the log", e)), st));
                    }
                };
                st.reader = Some(reader);
                let entries = match result {
                    Ok(es) => es,
                    Err(e) => {
                        st.done = true;
                        return Some((Err(RuntimeError::other("reading the log", e)), st));
                    }
                };
                if !entries.is_empty() {
                    let mut buf = BytesMut::new();
                    for e in &entries {
                        format_entry(&mut buf, e, timestamps);
                    }
                    let chunk: Bytes = limit(buf.freeze(), &mut st.remaining);
                    return Some((Ok(chunk), st));
                }
                if !running {
                    // Gone before this read began, and the read found nothing more.
                    return None;
                }
                tokio::time::sleep(poll).await;
            }
        }
    });
    Ok(Box::pin(head_stream.chain(tail)))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::SystemTime;

    use super::*;
    use crate::logs::{LogStreamKind, LogWriter, LogWriterConfig};

    fn entry(s: &str) -> LogEntry {
        LogEntry::line(SystemTime::now(), LogStreamKind::Stdout, s.to_owned())
    }

    #[test]
    fn the_follower_crosses_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let config = LogWriterConfig {
            max_size: 60,
            max_files: 2,
        };
        let mut w = LogWriter::open(&path, config).unwrap();
        w.write(&entry("before")).unwrap();
        let mut r = LogFileReader::at_end(&path).unwrap();
        w.write(&entry("one")).unwrap();
        w.write(&entry("two")).unwrap(); // rotates before writing
        w.write(&entry("three")).unwrap();
        let got: Vec<Bytes> = r
            .read_new()
            .unwrap()
            .into_iter()
            .map(|e| e.content)
            .collect();
        assert_eq!(got, ["one", "two", "three"]);
        assert!(r.read_new().unwrap().is_empty());
    }

    #[tokio::test]
    async fn follow_streams_until_the_container_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut w = LogWriter::open(&path, LogWriterConfig::default()).unwrap();
        w.write(&entry("a")).unwrap();
        let running = Arc::new(AtomicBool::new(true));
        let flag = running.clone();
        let alive: AliveFn = Arc::new(move || {
            let flag = flag.clone();
            Box::pin(async move { flag.load(Ordering::SeqCst) })
        });
        let opts = LogOptions {
            follow: true,
            ..Default::default()
        };
        let mut stream =
            file_log_stream(&path, 5, &opts, alive, Duration::from_millis(10)).unwrap();
        assert_eq!(stream.next().await.unwrap().unwrap(), "a\n");
        w.write(&entry("b")).unwrap();
        assert_eq!(stream.next().await.unwrap().unwrap(), "b\n");
        w.write(&entry("c")).unwrap();
        running.store(false, Ordering::SeqCst);
        let mut rest = Vec::new();
        while let Some(chunk) = stream.next().await {
            rest.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(rest, b"c\n");
    }

    #[tokio::test]
    async fn limit_bytes_cuts_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut w = LogWriter::open(&path, LogWriterConfig::default()).unwrap();
        w.write(&entry("hello")).unwrap();
        let alive: AliveFn = Arc::new(|| Box::pin(async { false }));
        let opts = LogOptions {
            limit_bytes: Some(3),
            ..Default::default()
        };
        let mut s = file_log_stream(&path, 5, &opts, alive, Duration::from_millis(10)).unwrap();
        assert_eq!(s.next().await.unwrap().unwrap(), "hel");
        assert!(s.next().await.is_none());
    }
}
