//! Request dispatch: from a parsed route and method to the registry, and from its results
//! to JSON, list, table or watch responses.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes};
use http::{HeaderMap, Method, StatusCode, header};
use kube_core::{Error, Status, StatusDetails, StatusReason};
use serde_json::{Value, json};

use super::ApiInner;
use super::body::{ApiBody, ApiRequest, ApiResponse, BodyError};
use super::crd;
use super::kinds::KindSpec;
use super::list::{ListOptions, ListPage};
use super::negotiate::{Format, negotiate};
use super::object::{meta_str, split_key};
use super::partial;
use super::patch::{self, PatchType};
use super::query::Query;
use super::registry::{DeleteOptions, WriteCtx};
use super::response;
use super::route::ResourcePath;
use super::table::{self, IncludeObject};
use super::user::UserInfo;
use super::watch::{self, WatchParams};

pub(crate) fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
}

pub(crate) async fn read_body(inner: &ApiInner, body: ApiBody) -> Result<Bytes, Error> {
    body.collect_limited(inner.config.max_body_bytes)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge { limit } => Error::RequestEntityTooLarge(format!(
                "the request body is larger than the limit of {limit} bytes"
            )),
            BodyError::Read(err) => {
                Error::BadRequest(format!("reading the request body failed: {err}"))
            }
        })
}

/// The media type of a Content-Type header, without parameters, lowercased.
fn media_type(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Decodes an object body by its content type: JSON, YAML or Kubernetes' protobuf; any
/// other type is 415.
pub(crate) fn parse_object(bytes: &[u8], ct: &str) -> Result<Value, Error> {
    let media = media_type(ct);
    let value: Value = match media.as_str() {
        "application/json" | "" | "*/*" => parse_json(bytes)?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Err(Error::BadRequest("the request body is empty".into()));
            }
            serde_yaml_ng::from_slice(bytes)
                .map_err(|e| Error::BadRequest(format!("the body is not valid YAML: {e}")))?
        }
        super::protobuf::MEDIA_TYPE => super::protobuf::decode(bytes)?,
        _ => {
            return Err(Error::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format ({ct}) - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
            )));
        }
    };
    Ok(value)
}

fn parse_json(bytes: &[u8]) -> Result<Value, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::BadRequest("the request body is empty".into()));
    }
    kube_core::wire::from_json(bytes)
        .map_err(|e| Error::BadRequest(format!("the body is not valid JSON: {e}")))
}

fn dry_run(q: &Query) -> Result<bool, Error> {
    let values = q.all("dryRun");
    for v in &values {
        if *v != "All" {
            return Err(Error::BadRequest(format!(
                "unsupported dryRun value {v:?}: only \"All\" is supported"
            )));
        }
    }
    Ok(!values.is_empty())
}

/// The objects of a list as one JSON document, from their cached encodings.
fn list_json(kind: &KindSpec, page: &ListPage) -> Bytes {
    page.document(
        &format!("{}List", kind.resource.kind),
        &kind.resource.api_version(),
        |o| o.json.len(),
        |b, o| b.put_slice(&o.json),
    )
}

/// An object of `kind` in the format asked: JSON, metadata only, or a Table.
fn object_response(
    code: StatusCode,
    kind: &KindSpec,
    obj: &Value,
    format: Format,
    q: &Query,
) -> ApiResponse {
    match format {
        Format::Table => {
            let meta = json!({"resourceVersion": meta_str(obj, "resourceVersion").unwrap_or("")});
            table_response(code, kind, [obj], meta, q)
        }
        other => untabled_response(code, obj, other),
    }
}

/// The answer of a write that returns a list (a delete-collection), in the format asked.
fn list_response(kind: &KindSpec, list: &Value, format: Format, q: &Query) -> ApiResponse {
    match format {
        Format::Json => response::json(StatusCode::OK, list),
        Format::Metadata(v) => {
            response::json_bytes(StatusCode::OK, partial::list_from_value(v, list))
        }
        Format::Table => {
            let items = list["items"].as_array().map_or(&[][..], Vec::as_slice);
            table_response(StatusCode::OK, kind, items, list["metadata"].clone(), q)
        }
    }
}

/// Objects of `kind` as a Table, with the list metadata `meta`.
fn table_response<'a>(
    code: StatusCode,
    kind: &KindSpec,
    objects: impl IntoIterator<Item = &'a Value>,
    meta: Value,
    q: &Query,
) -> ApiResponse {
    let include = IncludeObject::parse(q.get("includeObject"));
    response::json(code, &table::table(kind, objects, meta, include, true))
}

/// An object in the format asked, but never as a Table: metadata only when asked for,
/// JSON otherwise. For objects with no columns (a Scale), and the other formats of
/// those that have some.
fn untabled_response(code: StatusCode, obj: &Value, format: Format) -> ApiResponse {
    match format {
        Format::Metadata(v) => response::json_bytes(code, partial::object_from_value(v, obj)),
        Format::Json | Format::Table => response::json(code, obj),
    }
}

fn success_status(kind: &KindSpec, obj: &Value) -> Value {
    json!(Status {
        details: Some(StatusDetails {
            name: meta_str(obj, "name").unwrap_or("").to_owned(),
            group: kind.resource.group.to_string(),
            kind: kind.resource.plural.to_string(),
            uid: meta_str(obj, "uid").unwrap_or("").to_owned(),
            ..StatusDetails::default()
        }),
        ..Status::success()
    })
}

/// Serves a request on a resource path.
pub(crate) async fn resource(
    inner: &Arc<ApiInner>,
    req: ApiRequest,
    path: ResourcePath,
    q: &Query,
) -> Result<ApiResponse, Error> {
    let not_found = || {
        Error::Status(Box::new(Status::failure(
            StatusReason::NotFound,
            "the server could not find the requested resource",
        )))
    };
    let kind = inner
        .registry
        .kinds
        .get(&path.group, &path.version, &path.plural)
        .ok_or_else(not_found)?;
    if !kind.resource.namespaced && path.namespace.is_some() {
        return Err(not_found());
    }
    let ns = path
        .namespace
        .as_deref()
        .filter(|_| kind.resource.namespaced);
    let (parts, body) = req.into_parts();
    let format = negotiate(&parts.headers)?;
    let user = parts
        .extensions
        .get::<UserInfo>()
        .cloned()
        .unwrap_or_else(UserInfo::admin);
    let ctx = WriteCtx {
        user,
        dry_run: dry_run(q)?,
    };
    let name = path.name.as_deref();
    let sub = path.subresource.as_deref();
    if let Some(s) = sub {
        let known = (s == "status" && kind.status)
            || (s == "scale" && kind.scale.is_some())
            || kind.extra_subresources.iter().any(|e| e == s);
        if !known {
            return Err(not_found());
        }
    }
    let watch_param = q.flag("watch")?;
    let validation = FieldValidation::from_query(q)?;
    match (&parts.method, name, sub) {
        (&Method::GET, _, None) if path.legacy_watch || watch_param => {
            let mut opts = ListOptions::from_query(q, &kind)?;
            if let Some(n) = name {
                let fs = format!("metadata.name={n}");
                let merged = match q.get("fieldSelector").filter(|s| !s.is_empty()) {
                    Some(existing) => format!("{existing},{fs}"),
                    None => fs,
                };
                opts.fields =
                    super::selector::FieldSelector::parse(&merged, &kind.field_selectors)?;
            }
            watch_response(inner, kind, ns, opts, q, format).await
        }
        (&Method::GET, None, None) => {
            let opts = ListOptions::from_query(q, &kind)?;
            let page = inner.registry.list(&kind, ns, &opts).await?;
            Ok(match format {
                Format::Json => response::json_bytes(StatusCode::OK, list_json(&kind, &page)),
                Format::Metadata(v) => {
                    response::json_bytes(StatusCode::OK, partial::list(v, &page))
                }
                Format::Table => {
                    let t = table::table(
                        &kind,
                        page.items.iter().filter_map(|o| o.value()),
                        page.meta(),
                        IncludeObject::parse(q.get("includeObject")),
                        !q.flag("noHeaders").unwrap_or(false),
                    );
                    response::json(StatusCode::OK, &t)
                }
            })
        }
        (&Method::GET, Some(n), None | Some("status")) => match format {
            // The stored bytes with the revision spliced in, as a list and a watch
            // serve them: no tree is built (a decode costs several times the copy).
            Format::Json => Ok(response::json_bytes(
                StatusCode::OK,
                inner.registry.get_json(&kind, ns, n).await?,
            )),
            Format::Metadata(v) => Ok(response::json_bytes(
                StatusCode::OK,
                partial::object_from_json(v, &inner.registry.get_json(&kind, ns, n).await?),
            )),
            Format::Table => {
                let (obj, _) = inner.registry.get(&kind, ns, n).await?;
                Ok(object_response(StatusCode::OK, &kind, &obj, format, q))
            }
        },
        (&Method::GET, Some(n), Some("log")) => super::logs::proxy(inner, &kind, ns, n, q).await,
        (&Method::GET, Some(n), Some("scale")) => {
            let (obj, _) = inner.registry.get(&kind, ns, n).await?;
            Ok(untabled_response(
                StatusCode::OK,
                &super::subresource::scale_view(&kind, &obj),
                format,
            ))
        }
        (&Method::POST, None, None) => {
            let bytes = read_body(inner, body).await?;
            let mut obj = parse_object(&bytes, content_type(&parts.headers))?;
            let mut warnings = Vec::new();
            check_fields(&kind, &mut obj, validation, &mut warnings)?;
            let created = inner.registry.create(&ctx, &kind, ns, obj).await?;
            if crd::is_crd(&kind) && !ctx.dry_run {
                let established =
                    super::subresource::establish_crd(inner, &ctx, &kind, &created).await?;
                return Ok(object_response(
                    StatusCode::CREATED,
                    &kind,
                    &established,
                    format,
                    q,
                ));
            }
            Ok(with_warnings(
                object_response(StatusCode::CREATED, &kind, &created, format, q),
                &warnings,
            ))
        }
        (&Method::POST, Some(n), Some(s @ ("binding" | "eviction"))) => {
            let bytes = read_body(inner, body).await?;
            let obj = parse_object(&bytes, content_type(&parts.headers))?;
            let status = if s == "binding" {
                super::subresource::bind(inner, &ctx, &kind, ns, n, &obj).await?
            } else {
                super::subresource::evict(inner, &ctx, &kind, ns, n, &obj).await?
            };
            Ok(response::json(StatusCode::CREATED, &status))
        }
        (&Method::PUT, Some(n), None | Some("status")) => {
            let bytes = read_body(inner, body).await?;
            let mut body = parse_object(&bytes, content_type(&parts.headers))?;
            let mut warnings = Vec::new();
            check_fields(&kind, &mut body, validation, &mut warnings)?;
            let updated = inner
                .registry
                .update(
                    &ctx,
                    &kind,
                    ns,
                    n,
                    sub,
                    &mut |_old: &Value| Ok(body.clone()),
                )
                .await?;
            after_crd_write(inner, &kind, &updated, false);
            Ok(with_warnings(
                object_response(StatusCode::OK, &kind, &updated, format, q),
                &warnings,
            ))
        }
        (&Method::PUT, Some(n), Some("finalize")) => {
            let bytes = read_body(inner, body).await?;
            let body = parse_object(&bytes, content_type(&parts.headers))?;
            let finalizers = body
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or(json!([]));
            let updated = inner
                .registry
                .update(&ctx, &kind, ns, n, Some("finalize"), &mut |old: &Value| {
                    let mut new = old.clone();
                    super::object::set_path(&mut new, ".spec.finalizers", finalizers.clone());
                    Ok(new)
                })
                .await?;
            let done = super::namespace::remove_if_finalized(inner, &ctx, &kind, &updated).await?;
            Ok(object_response(StatusCode::OK, &kind, &done, format, q))
        }
        (&Method::PUT | &Method::PATCH, Some(n), Some("scale")) => {
            let bytes = read_body(inner, body).await?;
            let patch_type = if parts.method == Method::PATCH {
                Some(
                    PatchType::from_content_type(content_type(&parts.headers))
                        .ok_or_else(|| unsupported_patch(content_type(&parts.headers)))?,
                )
            } else {
                None
            };
            let body = if patch_type.is_some() {
                parse_json(&bytes)?
            } else {
                parse_object(&bytes, content_type(&parts.headers))?
            };
            let scale =
                super::subresource::scale_write(inner, &ctx, &kind, ns, n, patch_type, &body)
                    .await?;
            Ok(untabled_response(StatusCode::OK, &scale, format))
        }
        (&Method::PATCH, Some(n), None | Some("status")) => {
            let ct = content_type(&parts.headers).to_owned();
            let patch_type =
                PatchType::from_content_type(&ct).ok_or_else(|| unsupported_patch(&ct))?;
            let bytes = read_body(inner, body).await?;
            if patch_type == PatchType::Apply {
                return Err(Error::UnsupportedMediaType("server-side apply (application/apply-patch+yaml) is not supported; use client-side apply".into()));
            }
            let patch_value: Value = kube_core::wire::from_json(&bytes)
                .map_err(|e| Error::BadRequest(format!("the patch is not valid JSON: {e}")))?;
            // Stored objects hold no unknown fields, so a merge patch that names none
            // leaves none, and the patched object need not be walked for them (a JSON
            // patch can move fields, a strategic one carries directives: those are).
            let may_add_unknown = patch_type != PatchType::Merge
                || kind.schema.as_ref().is_some_and(|schema| {
                    !super::schema::unknown_fields_of_merge_patch(&patch_value, schema).is_empty()
                });
            let k2 = kind.clone();
            let mut warnings = Vec::new();
            let updated = inner
                .registry
                .update(&ctx, &kind, ns, n, sub, &mut |old: &Value| {
                    let mut patched = patch::apply(&k2, patch_type, old, &patch_value)?;
                    warnings.clear();
                    if may_add_unknown {
                        check_fields(&k2, &mut patched, validation, &mut warnings)?;
                    }
                    Ok(patched)
                })
                .await?;
            after_crd_write(inner, &kind, &updated, false);
            Ok(with_warnings(
                object_response(StatusCode::OK, &kind, &updated, format, q),
                &warnings,
            ))
        }
        (&Method::DELETE, Some(n), None) => {
            let bytes = read_body(inner, body).await?;
            let opts = delete_options(&bytes, content_type(&parts.headers), q)?;
            let deleted = inner.registry.delete(&ctx, &kind, ns, n, &opts).await?;
            if deleted.gone {
                after_crd_write(inner, &kind, &deleted.object, true);
            } else if super::namespace::is_namespaces(&kind) && !ctx.dry_run {
                super::namespace::spawn_cleanup(inner.clone(), n.to_owned());
            }
            let code = if deleted.gone {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            if deleted.gone && !graceful_kind_returns_object(&kind) {
                return Ok(response::json(
                    code,
                    &success_status(&kind, &deleted.object),
                ));
            }
            Ok(object_response(code, &kind, &deleted.object, format, q))
        }
        (&Method::DELETE, None, None) => {
            let bytes = read_body(inner, body).await?;
            let opts = delete_options(&bytes, content_type(&parts.headers), q)?;
            let list_opts = ListOptions::from_query(q, &kind)?;
            let page = inner.registry.list(&kind, ns, &list_opts).await?;
            let mut items = Vec::new();
            for o in &page.items {
                let Some((ons, n)) = split_key(&kind, &o.key) else {
                    continue;
                };
                match inner.registry.delete(&ctx, &kind, ons, n, &opts).await {
                    Ok(d) => items.push(d.object),
                    Err(Error::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            let list = json!({
                "kind": format!("{}List", kind.resource.kind),
                "apiVersion": kind.resource.api_version(),
                "metadata": {"resourceVersion": page.revision.to_string()},
                "items": items,
            });
            Ok(list_response(&kind, &list, format, q))
        }
        _ => Err(Error::MethodNotAllowed(format!(
            "{} is not supported on {}",
            parts.method,
            kind.qualified()
        ))),
    }
}

/// What to do with fields the kind's schema does not declare (`fieldValidation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them and warn (the default).
    Warn,
    /// Refuse the request with 400.
    Strict,
}

impl FieldValidation {
    fn from_query(q: &Query) -> Result<Self, Error> {
        match q.get("fieldValidation").unwrap_or("") {
            "" | "Warn" => Ok(Self::Warn),
            "Ignore" => Ok(Self::Ignore),
            "Strict" => Ok(Self::Strict),
            other => Err(Error::BadRequest(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\" or \"Strict\", not {other:?}"
            ))),
        }
    }
}

/// Checks an object against its kind's schema, as Kubernetes' decoding does: unknown
/// fields fail the request under `Strict`; otherwise they are dropped from the object,
/// each with a warning under `Warn`, so that no unknown field is stored.
fn check_fields(
    kind: &KindSpec,
    obj: &mut Value,
    mode: FieldValidation,
    warnings: &mut Vec<String>,
) -> Result<(), Error> {
    let Some(schema) = kind.schema.as_ref() else {
        return Ok(());
    };
    let unknown = super::schema::unknown_fields(obj, schema);
    if unknown.is_empty() {
        return Ok(());
    }
    let described = || {
        unknown
            .iter()
            .map(|u| format!("unknown field \"{}\"", u.path()))
    };
    match mode {
        FieldValidation::Strict => {
            return Err(Error::BadRequest(format!(
                "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                kind.resource.kind,
                kind.resource.api_version(),
                kind.resource.kind,
                described().collect::<Vec<_>>().join(", ")
            )));
        }
        FieldValidation::Warn => warnings.extend(described()),
        FieldValidation::Ignore => {}
    }
    for u in &unknown {
        u.remove_from(obj);
    }
    Ok(())
}

/// Adds `Warning` headers (code 299), as Kubernetes sends them.
fn with_warnings(mut res: ApiResponse, warnings: &[String]) -> ApiResponse {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('"', "\\\""));
        if let Ok(v) = http::HeaderValue::from_str(&text) {
            res.headers_mut().append(header::WARNING, v);
        }
    }
    res
}

fn graceful_kind_returns_object(kind: &KindSpec) -> bool {
    kind.resource.group.is_empty()
        && matches!(
            kind.resource.plural.as_ref(),
            "pods" | "services" | "namespaces"
        )
}

fn unsupported_patch(ct: &str) -> Error {
    Error::UnsupportedMediaType(format!(
        "the body of the request was in an unknown format ({ct}) - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json"
    ))
}

fn after_crd_write(inner: &ApiInner, kind: &KindSpec, obj: &Value, deleted: bool) {
    if !crd::is_crd(kind) {
        return;
    }
    let group = obj
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("");
    let plural = obj
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or("");
    for v in obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(version) = v.get("name").and_then(Value::as_str) {
            inner.registry.kinds.unregister(group, version, plural);
        }
    }
    if !deleted && meta_str(obj, "deletionTimestamp").is_none() {
        for k in crd::kinds_of(obj) {
            inner.registry.kinds.register(k);
        }
    }
}

fn delete_options(bytes: &[u8], ct: &str, q: &Query) -> Result<DeleteOptions, Error> {
    let body: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        parse_object(bytes, ct)?
    };
    let mut opts = DeleteOptions {
        grace_period_seconds: body.get("gracePeriodSeconds").and_then(Value::as_i64),
        propagation_policy: body
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_owned),
        precondition_uid: body
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_owned),
        precondition_rv: body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    if body.get("orphanDependents").and_then(Value::as_bool) == Some(true)
        && opts.propagation_policy.is_none()
    {
        opts.propagation_policy = Some("Orphan".into());
    }
    if let Some(g) = q.int("gracePeriodSeconds")? {
        opts.grace_period_seconds = Some(g);
    }
    if let Some(p) = q.non_empty("propagationPolicy") {
        opts.propagation_policy = Some(p.to_owned());
    }
    if q.get("orphanDependents") == Some("true") && opts.propagation_policy.is_none() {
        opts.propagation_policy = Some("Orphan".into());
    }
    if let Some(p) = &opts.propagation_policy {
        if !matches!(p.as_str(), "Orphan" | "Background" | "Foreground") {
            return Err(Error::BadRequest(format!(
                "invalid propagationPolicy {p:?}: must be Orphan, Background or Foreground"
            )));
        }
    }
    Ok(opts)
}

async fn watch_response(
    inner: &Arc<ApiInner>,
    kind: Arc<KindSpec>,
    ns: Option<&str>,
    opts: ListOptions,
    q: &Query,
    format: Format,
) -> Result<ApiResponse, Error> {
    let timeout = q
        .int("timeoutSeconds")?
        .filter(|t| *t > 0)
        .map_or(inner.config.default_watch_timeout, |t| {
            Duration::from_secs(t as u64)
        });
    let mut bookmark_type = None;
    let encoder = match format {
        Format::Json => watch::json_encoder(),
        Format::Metadata(v) => {
            bookmark_type = Some(partial::bookmark_type(v));
            partial::watch_encoder(v)
        }
        Format::Table => {
            let k = kind.clone();
            let include = IncludeObject::parse(q.get("includeObject"));
            watch::value_encoder(move |obj| {
                let meta =
                    json!({"resourceVersion": meta_str(obj, "resourceVersion").unwrap_or("")});
                table::table(&k, [obj], meta, include, true)
            })
        }
    };
    let params = WatchParams {
        opts,
        timeout,
        bookmarks: q.flag("allowWatchBookmarks")?,
        bookmark_interval: inner.config.bookmark_interval,
        send_initial_events: q.flag("sendInitialEvents")?,
        encoder,
        bookmark_type,
    };
    let body = inner.registry.watch(kind, ns, params).await?;
    let mut res = http::Response::new(body);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache, private"),
    );
    Ok(res)
}
