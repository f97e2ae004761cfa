//! Content negotiation: which representation of objects the `Accept` header asks for
//! (JSON, a Table for `kubectl get`, or metadata only).

use http::{HeaderMap, header};
use kube_core::Error;

use super::partial::MetaVersion;

/// How the client wants objects written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// The objects as stored.
    Json,
    /// A `meta.k8s.io` Table of columns and rows.
    Table,
    /// Metadata only: `PartialObjectMetadata` objects and lists.
    Metadata(MetaVersion),
}

/// Reads the Accept header: a Table or metadata only when asked for (the first such
/// media type wins), JSON otherwise; 406 when only something else is acceptable.
pub(crate) fn negotiate(headers: &HeaderMap) -> Result<Format, Error> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.is_empty() {
        return Ok(Format::Json);
    }
    let mut json_ok = false;
    for part in accept.split(',') {
        let mut params = part.split(';').map(str::trim);
        let media = params.next().unwrap_or("");
        let (mut as_, mut group, mut version) = (None, None, None);
        for param in params {
            match param.split_once('=') {
                Some(("as", v)) => as_ = Some(v),
                Some(("g", v)) => group = Some(v),
                Some(("v", v)) => version = Some(v),
                _ => {}
            }
        }
        let Some(as_) = as_ else {
            if matches!(media, "application/json" | "*/*" | "application/*" | "")
                || media.ends_with("+json")
            {
                json_ok = true;
            }
            continue;
        };
        if media != "application/json" {
            continue;
        }
        match as_ {
            "Table" => return Ok(Format::Table),
            "PartialObjectMetadata" | "PartialObjectMetadataList"
                if group == Some("meta.k8s.io") =>
            {
                if let Some(v) = version.and_then(MetaVersion::parse) {
                    return Ok(Format::Metadata(v));
                }
            }
            _ => {}
        }
    }
    if json_ok {
        Ok(Format::Json)
    } else {
        Err(Error::NotAcceptable(format!(
            "only the following media types are accepted: application/json, application/json;as=Table;g=meta.k8s.io;v=v1, application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1 (asked for {accept})"
        )))
    }
}
