//! [`TokenFileError`]: why a token file could not be loaded.

use std::path::PathBuf;

/// Why a token file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file could not be read.
    #[error("cannot read the token file {}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not valid CSV (an unterminated or misplaced quote).
    #[error("token file line {line}: invalid CSV")]
    Syntax {
        /// The line number, from 1.
        line: usize,
    },
    /// A line has fewer than the three required columns (token, user, uid).
    #[error("token file line {line}: at least 3 columns are required")]
    TooFewColumns {
        /// The line number, from 1.
        line: usize,
    },
    /// A required column is empty.
    #[error("token file line {line}: the {column} column is empty")]
    Empty {
        /// The line number, from 1.
        line: usize,
        /// `token` or `user`.
        column: &'static str,
    },
}
