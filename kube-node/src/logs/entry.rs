//! [`LogEntry`]: one record of a container's output, its CRI encoding, and the selection
//! rules of a log request.

use std::time::SystemTime;

use bytes::{BufMut as _, Bytes, BytesMut};
use chrono::{DateTime, SecondsFormat, Utc};
use kube_core::runtime::LogOptions;

/// Which output stream an entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogStreamKind {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl LogStreamKind {
    /// The name in the CRI format.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// One record of output: a whole line (without its newline) or, when `partial`, a piece of
/// a line that the next record continues.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// When the runtime read it.
    pub time: SystemTime,
    /// stdout or stderr.
    pub stream: LogStreamKind,
    /// True when the line goes on in the next entry.
    pub partial: bool,
    /// The bytes, without the trailing newline.
    pub content: Bytes,
}

impl LogEntry {
    /// A full line.
    pub fn line(time: SystemTime, stream: LogStreamKind, content: impl Into<Bytes>) -> Self {
        Self {
            time,
            stream,
            partial: false,
            content: content.into(),
        }
    }

    /// Encodes the entry as one CRI log line, newline included.
    pub fn to_cri_line(&self) -> Vec<u8> {
        let ts = rfc3339_nanos(self.time);
        let mut out = Vec::with_capacity(ts.len() + self.content.len() + 12);
        out.extend_from_slice(ts.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.stream.as_str().as_bytes());
        out.extend_from_slice(if self.partial { b" P " } else { b" F " });
        out.extend_from_slice(&self.content);
        out.push(b'\n');
        out
    }

    /// Decodes one CRI log line (with or without its newline); `None` when it is not one.
    pub fn parse_cri_line(line: &[u8]) -> Option<Self> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let mut parts = line.splitn(4, |b| *b == b' ');
        let ts = std::str::from_utf8(parts.next()?).ok()?;
        let time: SystemTime = DateTime::parse_from_rfc3339(ts)
            .ok()?
            .with_timezone(&Utc)
            .into();
        let stream = match parts.next()? {
            b"stdout" => LogStreamKind::Stdout,
            b"stderr" => LogStreamKind::Stderr,
            _ => return None,
        };
        let partial = match parts.next()? {
            b"P" => true,
            b"F" => false,
            _ => return None,
        };
        let content = Bytes::copy_from_slice(parts.next().unwrap_or_default());
        Some(Self {
            time,
            stream,
            partial,
            content,
        })
    }
}

/// A time as Kubernetes prints log timestamps: RFC 3339 with nanoseconds, in UTC.
pub(crate) fn rfc3339_nanos(time: SystemTime) -> String {
    DateTime::<Utc>::from(time).to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Applies `since` and `tailLines` to a whole log: entries written at or after `since`,
/// then the last `tailLines` lines of those (a partial entry belongs to the line it
/// starts).
pub fn select_entries(entries: Vec<LogEntry>, options: &LogOptions) -> Vec<LogEntry> {
    let mut entries: Vec<LogEntry> = match options.since {
        Some(since) => entries.into_iter().filter(|e| e.time >= since).collect(),
        None => entries,
    };
    if let Some(tail) = options.tail_lines {
        let tail = usize::try_from(tail).unwrap_or(usize::MAX);
        // Walk back over full lines: each non-partial entry ends one.
        let mut lines = 0usize;
        let mut start = entries.len();
        for (i, e) in entries.iter().enumerate().rev() {
            if !e.partial {
                if lines == tail {
                    break;
                }
                lines += 1;
            }
            start = i;
        }
        if tail == 0 {
            start = entries.len();
        }
        entries.drain(..start);
    }
    entries
}

/// Encodes entries as a log response body: each entry's bytes (timestamp first when asked
/// for), a newline after full lines.
pub fn format_entries(entries: &[LogEntry], timestamps: bool) -> Bytes {
    let mut out = BytesMut::new();
    for e in entries {
        format_entry(&mut out, e, timestamps);
    }
    out.freeze()
}

pub(crate) fn format_entry(out: &mut BytesMut, e: &LogEntry, timestamps: bool) {
    if timestamps {
        out.put_slice(rfc3339_nanos(e.time).as_bytes());
        out.put_u8(b' ');
    }
    out.put_slice(&e.content);
    if !e.partial {
        out.put_u8(b'\n');
    }
}

/// Cuts a body so that no more than `remaining` bytes go out; returns what is left.
pub(crate) fn limit(chunk: Bytes, remaining: &mut Option<u64>) -> Bytes {
    match remaining {
        None => chunk,
        Some(left) => {
            let take = usize::try_from(*left)
                .unwrap_or(usize::MAX)
                .min(chunk.len());
            *left -= take as u64;
            chunk.slice(..take)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn lines(n: u64) -> Vec<LogEntry> {
        (0..n)
            .map(|i| LogEntry::line(at(i), LogStreamKind::Stdout, format!("line {i}")))
            .collect()
    }

    #[test]
    fn cri_lines_round_trip() {
        let e = LogEntry {
            time: SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789),
            stream: LogStreamKind::Stderr,
            partial: true,
            content: Bytes::from_static(b"a b  c"),
        };
        let line = e.to_cri_line();
        assert_eq!(line, b"2023-11-14T22:13:20.123456789Z stderr P a b  c\n");
        assert_eq!(LogEntry::parse_cri_line(&line), Some(e));
        let empty = LogEntry::parse_cri_line(b"2023-11-14T22:13:20Z stdout F").unwrap();
        assert!(empty.content.is_empty());
        assert!(LogEntry::parse_cri_line(b"garbage").is_none());
        assert!(LogEntry::parse_cri_line(b"2023-11-14T22:13:20Z stdin F x").is_none());
    }

    #[test]
    fn tail_and_since_select_lines() {
        let opts = |tail, since| LogOptions {
            tail_lines: tail,
            since,
            ..Default::default()
        };
        assert_eq!(select_entries(lines(10), &opts(Some(3), None)).len(), 3);
        assert_eq!(
            select_entries(lines(10), &opts(Some(3), None))[0].content,
            "line 7"
        );
        assert_eq!(select_entries(lines(10), &opts(Some(0), None)).len(), 0);
        assert_eq!(select_entries(lines(2), &opts(Some(5), None)).len(), 2);
        let since = select_entries(lines(10), &opts(None, Some(at(6))));
        assert_eq!(since.len(), 4);
        let both = select_entries(lines(10), &opts(Some(2), Some(at(6))));
        assert_eq!(both[0].content, "line 8");
    }

    #[test]
    fn a_partial_entry_belongs_to_the_line_it_starts() {
        let mut es = lines(3);
        es.insert(
            2,
            LogEntry {
                partial: true,
                ..LogEntry::line(at(1), LogStreamKind::Stdout, "start of ")
            },
        );
        let out = select_entries(
            es,
            &LogOptions {
                tail_lines: Some(1),
                ..Default::default()
            },
        );
        assert_eq!(format_entries(&out, false), "start of line 2\n");
    }

    #[test]
    fn formatting_adds_timestamps_and_newlines() {
        let es = lines(2);
        assert_eq!(format_entries(&es, false), "line 0\nline 1\n");
        let with_ts = format_entries(&es[..1], true);
        assert_eq!(with_ts, "2023-11-14T22:13:20.000000000Z line 0\n");
        let mut left = Some(4);
        assert_eq!(limit(Bytes::from_static(b"abcdef"), &mut left), "abcd");
        assert_eq!(left, Some(0));
        assert_eq!(limit(Bytes::from_static(b"x"), &mut None), "x");
    }
}
