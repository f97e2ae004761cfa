//! Query strings: percent-decoding and the parameters of list, watch, write and delete.

use kube_core::Error;

/// A parsed query string. Keys may repeat; [`Query::get`] returns the first value.
#[derive(Clone, Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `a=b&c=d`, percent-decoding keys and values (`+` is a space).
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        Self { pairs }
    }

    /// The first value of a parameter.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a parameter.
    pub(crate) fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A non-empty value.
    pub(crate) fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// A boolean parameter: `true`/`1` are true, absent or `false`/`0` false.
    pub(crate) fn flag(&self, key: &str) -> Result<bool, Error> {
        match self.get(key) {
            None | Some("" | "false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(other) => Err(Error::BadRequest(format!(
                "invalid value {other:?} for parameter {key}: must be true or false"
            ))),
        }
    }

    /// An integer parameter.
    pub(crate) fn int(&self, key: &str) -> Result<Option<i64>, Error> {
        match self.non_empty(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                Error::BadRequest(format!(
                    "invalid value {v:?} for parameter {key}: not an integer"
                ))
            }),
        }
    }

    /// The parameters as a map (last value wins), for diagnostics.
    #[cfg(test)]
    pub(crate) fn to_map(&self) -> std::collections::HashMap<String, String> {
        self.pairs.iter().cloned().collect()
    }
}

/// Percent-decodes a query component; `+` is a space. Invalid escapes are kept as they are.
pub(crate) fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_selectors() {
        let q = Query::parse(Some(
            "labelSelector=app%3Dweb%2Ctier+in+%28a%2Cb%29&limit=5&x",
        ));
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a,b)"));
        assert_eq!(q.int("limit").unwrap(), Some(5));
        assert_eq!(q.get("x"), Some(""));
        assert!(q.int("labelSelector").is_err());
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert_eq!(decode("a%20b%2Fc%3Dd"), "a b/c=d");
        assert_eq!(q.to_map().len(), 3);
    }
}
