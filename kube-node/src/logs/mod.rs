//! Container logs: the CRI log file format every runtime here writes or reads, a rotating
//! writer, and a reader that applies `tailLines`, `sinceSeconds`, `limitBytes` and
//! `timestamps` and follows a growing (and rotating) file.
//!
//! A log line on disk is what the CRI specifies and containerd writes:
//! `2024-05-01T12:00:00.123456789Z stdout F hello world` (`F` for a full line, `P` for a
//! partial one that the next entry continues).

mod entry;
mod reader;
mod writer;

pub(crate) use entry::limit as entry_limit;
pub use entry::{LogEntry, LogStreamKind, format_entries, select_entries};
pub(crate) use reader::{AliveFn, file_log_stream};
pub use reader::{LogFileReader, read_log_files};
pub use writer::{LogWriter, LogWriterConfig};
