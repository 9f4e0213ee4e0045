//! Static files from a directory, answered as Go's `http.FileServer` answers them:
//! `--web.user-assets` at `/user/`, and `static/` of `--web.local-assets` at
//! `/classic/static/` (as Debian's Prometheus 3.5.3 serves it).
//!
//! As Go: a directory answers its `index.html` or a listing, `.../index.html` and a
//! directory without its trailing slash redirect, missing files answer 404, files carry
//! `Last-Modified` and honour `If-Modified-Since` and a single byte `Range`, and the
//! content type comes from the extension (Go's table, then the system's
//! `/usr/share/mime/globs2`) or from sniffing the first 512 bytes. Requests never leave the
//! directory: the path is cleaned (`..` cannot climb above the root) before it is joined;
//! symbolic links inside the directory are followed, as Go follows them.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use http_body_util::Full;

use crate::handler::Body;

/// Where a directory is mounted: the route (below the route prefix), the directory and the
/// handler label of Prometheus's instrumentation.
pub(crate) struct Mount {
    pub(crate) root: PathBuf,
    pub(crate) route: &'static str,
    pub(crate) label: &'static str,
}

/// The mount serving `path` (below the route prefix), from the flags' values: the
/// `--web.user-assets` directory at `/user/`, `--web.local-assets`'s `static/` at
/// `/classic/static/`.
pub(crate) fn mount_for(
    flags: &std::collections::BTreeMap<String, String>,
    path: &str,
) -> Option<Mount> {
    let dir = |flag: &str| flags.get(flag).filter(|d| !d.is_empty()).map(PathBuf::from);
    if path == "/user" || path.starts_with("/user/") {
        return dir("web.user-assets").map(|root| Mount {
            root,
            route: "/user",
            label: "/user/*filepath",
        });
    }
    if path == "/classic/static" || path.starts_with("/classic/static/") {
        return dir("web.local-assets").map(|root| Mount {
            root: root.join("static"),
            route: "/classic/static",
            label: "/classic/static/*filepath",
        });
    }
    None
}

/// Answers a request for `path` (below the route prefix, under `mount.route`);
/// `full_path` is the request's whole path, for the redirect of the bare mount point.
pub(crate) fn serve(
    mount: &Mount,
    method: &Method,
    full_path: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response<Body> {
    let rest = &path[mount.route.len()..];
    if rest.is_empty() {
        // The router's redirect of the catch-all's bare route (`/user` to `/user/`).
        return if *method == Method::GET {
            go_redirect(&format!("{full_path}/"), StatusCode::MOVED_PERMANENTLY)
        } else {
            error(StatusCode::NOT_FOUND, "404 page not found")
        };
    }
    if *method == Method::OPTIONS {
        let mut resp = Response::new(Full::new(Bytes::new()));
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, OPTIONS"));
        return resp;
    }
    if *method != Method::GET {
        let mut resp = error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, OPTIONS"));
        return resp;
    }
    serve_file(&mount.root, rest, query, headers)
}

/// The request path percent-decoded, as Go's `url.URL.Path` (`None`: a bad escape, which
/// Go's server answers `400 Bad Request`).
pub(crate) fn percent_decode(raw: &str) -> Option<String> {
    if !raw.contains('%') {
        return Some(raw.to_owned());
    }
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let hi = b.get(i + 1).copied().and_then(hex)?;
            let lo = b.get(i + 2).copied().and_then(hex)?;
            out.push(u8::try_from(hi * 16 + lo).expect("two hex digits"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    // Go keeps the bytes; a name that is not UTF-8 is looked up as its lossy form here.
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `ServeMux` redirect of a path that is not clean (`//`, `.` or `..` elements): the
/// clean path (keeping a trailing slash), `None` when the path is clean already.
pub(crate) fn unclean_redirect(path: &str) -> Option<String> {
    if path.is_empty() || !path.starts_with('/') {
        return None;
    }
    let mut cleaned = model::strutil::clean_rooted_path(path);
    if path.ends_with('/') && cleaned != "/" {
        cleaned.push('/');
    }
    (cleaned != path).then(|| url_path_escape(&cleaned))
}

/// The `301` of [`unclean_redirect`]: Go's `http.Redirect`, whose HTML body only a GET or
/// HEAD gets.
pub(crate) fn clean_redirect(to: &str, query: Option<&str>, method: &Method) -> Response<Body> {
    let to = match query {
        Some(q) if !q.is_empty() => format!("{to}?{q}"),
        _ => to.to_owned(),
    };
    if *method == Method::GET || *method == Method::HEAD {
        return go_redirect(&to, StatusCode::MOVED_PERMANENTLY);
    }
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(v) = HeaderValue::from_str(&to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// Go's `http.FileServer` for the path below the mount point (`upath` starts with `/`).
fn serve_file(
    root: &Path,
    upath: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response<Body> {
    let local_redirect = |to: &str| {
        let to = match query {
            Some(q) if !q.is_empty() => format!("{to}?{q}"),
            _ => to.to_owned(),
        };
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
        if let Ok(v) = HeaderValue::from_str(&to) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        resp
    };
    if upath.ends_with("/index.html") {
        return local_redirect("./");
    }
    let name = model::strutil::clean_rooted_path(upath);
    let full = join(root, &name);
    let meta = match std::fs::metadata(&full) {
        Ok(m) => m,
        Err(e) => return open_error(root, &name, &e),
    };
    let base = upath.rsplit('/').find(|s| !s.is_empty()).unwrap_or("");
    if meta.is_dir() && !upath.ends_with('/') {
        return local_redirect(&format!("{base}/"));
    }
    if !meta.is_dir() && upath.ends_with('/') {
        return local_redirect(&format!("../{base}"));
    }
    let (file_path, meta) = if meta.is_dir() {
        let index = full.join("index.html");
        match std::fs::metadata(&index) {
            Ok(m) => (index, m),
            Err(_) => return list_dir(&full, &meta, headers),
        }
    } else {
        (full, meta)
    };
    if meta.is_dir() {
        return list_dir(&file_path, &meta, headers);
    }
    serve_content(&file_path, &meta, headers)
}

/// The file of a cleaned name under `root`.
fn join(root: &Path, name: &str) -> PathBuf {
    let mut p = root.to_path_buf();
    for seg in name.split('/').filter(|s| !s.is_empty()) {
        p.push(seg);
    }
    p
}

/// Go's `toHTTPError` after `http.Dir`'s `mapOpenError`: missing (also below a file) 404,
/// permission 403, else 500.
fn open_error(root: &Path, name: &str, err: &std::io::Error) -> Response<Body> {
    use std::io::ErrorKind;
    let not_found = || error(StatusCode::NOT_FOUND, "404 page not found");
    match err.kind() {
        ErrorKind::NotFound => not_found(),
        ErrorKind::PermissionDenied => error(StatusCode::FORBIDDEN, "403 Forbidden"),
        _ => {
            // A file in the middle of the path: Go answers "not found".
            let mut p = root.to_path_buf();
            for seg in name.split('/').filter(|s| !s.is_empty()) {
                p.push(seg);
                match std::fs::metadata(&p) {
                    Ok(m) if !m.is_dir() => return not_found(),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500 Internal Server Error",
            )
        }
    }
}

/// Go's `http.Error`: the message and a newline as plain text, not to be sniffed.
pub(crate) fn error(status: StatusCode, msg: &str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(format!("{msg}\n"))));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// Go's `http.Redirect` of a GET: the location and a small HTML body.
pub(crate) fn go_redirect(location: &str, status: StatusCode) -> Response<Body> {
    let text = status.canonical_reason().unwrap_or("");
    let body = format!("<a href=\"{}\">{text}</a>.\n\n", html_escape(location));
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// Go's `htmlReplacer`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Go's `dirList`: the entries sorted by name, directories with a trailing slash.
fn list_dir(dir: &Path, meta: &std::fs::Metadata, headers: &HeaderMap) -> Response<Body> {
    let modified = meta.modified().ok();
    if let Some(m) = modified
        && not_modified(headers, m)
    {
        // Go checks a directory before it sets Last-Modified.
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        return resp;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd.collect::<Result<Vec<_>, _>>(),
        Err(e) => Err(e),
    };
    let Ok(entries) = entries else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "Error reading directory");
    };
    let mut names: Vec<String> = entries
        .iter()
        .map(|e| {
            let mut n = e.file_name().to_string_lossy().into_owned();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                n.push('/');
            }
            n
        })
        .collect();
    names.sort();
    let mut body = String::from(
        "<!doctype html>\n<meta name=\"viewport\" content=\"width=device-width\">\n<pre>\n",
    );
    for n in &names {
        body.push_str(&format!(
            "<a href=\"{}\">{}</a>\n",
            html_escape(&url_path_escape(n)),
            html_escape(n)
        ));
    }
    body.push_str("</pre>\n");
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Some(m) = modified {
        set_last_modified(h, m);
    }
    resp
}

/// Go's `url.URL{Path: name}.String()` for a relative link: escapes what a path may not
/// hold, and puts `./` before a first segment with a colon.
fn url_path_escape(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_'
                    | b'.'
                    | b'~'
                    | b'$'
                    | b'&'
                    | b'+'
                    | b','
                    | b'/'
                    | b':'
                    | b';'
                    | b'='
                    | b'@'
                    | b'!'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
            );
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    let first = out.split('/').next().unwrap_or("");
    if first.contains(':') {
        out.insert_str(0, "./");
    }
    out
}

/// Go's `serveContent` for a regular file.
fn serve_content(path: &Path, meta: &std::fs::Metadata, headers: &HeaderMap) -> Response<Body> {
    let modified = meta.modified().ok();
    let mut range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    match preconditions(headers, modified) {
        Precondition::Proceed => {}
        Precondition::Failed => {
            let mut resp = Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = StatusCode::PRECONDITION_FAILED;
            if let Some(m) = modified {
                set_last_modified(resp.headers_mut(), m);
            }
            return resp;
        }
        Precondition::NotModified => {
            return not_modified_response(modified.unwrap_or(UNIX_EPOCH));
        }
        Precondition::IgnoreRange => range_header = None,
    }
    let Ok(mut file) = std::fs::File::open(path) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500 Internal Server Error",
        );
    };
    let size = meta.len();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let ext = name
        .as_deref()
        .and_then(|n| n.rfind('.').map(|i| &n[i..]))
        .unwrap_or("");
    let ctype = match type_by_extension(ext) {
        Some(t) => t,
        None => {
            let mut head = Vec::with_capacity(512);
            if (&mut file).take(512).read_to_end(&mut head).is_err() {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "500 Internal Server Error",
                );
            }
            sniff(&head).to_owned()
        }
    };
    let mut ranges = match range_header.map(|r| parse_range(r, size)) {
        None => Vec::new(),
        Some(Ok(r)) => r,
        Some(Err(RangeError::NoOverlap)) if size == 0 => Vec::new(),
        Some(Err(e)) => {
            let mut resp = error(StatusCode::RANGE_NOT_SATISFIABLE, e.message());
            if e == RangeError::NoOverlap
                && let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}"))
            {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            if let Some(m) = modified {
                set_last_modified(resp.headers_mut(), m);
            }
            // Go's (older) reason phrase.
            resp.extensions_mut()
                .insert(hyper::ext::ReasonPhrase::from_static(
                    b"Requested Range Not Satisfiable",
                ));
            return resp;
        }
    };
    if ranges.iter().map(|r| r.1).sum::<u64>() > size {
        // Go sends the whole file rather than more bytes than it has.
        ranges.clear();
    }
    let mut read = |start: u64, len: u64| -> std::io::Result<Vec<u8>> {
        let mut data = Vec::new();
        file.seek(SeekFrom::Start(start))?;
        (&mut file).take(len).read_to_end(&mut data)?;
        Ok(data)
    };
    let (status, body, content_range, ctype) = match ranges.as_slice() {
        [] => (StatusCode::OK, read(0, size), None, ctype),
        [(start, len)] => (
            StatusCode::PARTIAL_CONTENT,
            read(*start, *len),
            Some(content_range(*start, *len, size)),
            ctype,
        ),
        many => {
            let boundary = multipart_boundary();
            let mut body = Vec::new();
            let mut failed = None;
            for (i, (start, len)) in many.iter().enumerate() {
                if i > 0 {
                    body.extend_from_slice(b"\r\n");
                }
                body.extend_from_slice(
                    format!(
                        "--{boundary}\r\nContent-Range: {}\r\nContent-Type: {ctype}\r\n\r\n",
                        content_range(*start, *len, size)
                    )
                    .as_bytes(),
                );
                match read(*start, *len) {
                    Ok(d) => body.extend_from_slice(&d),
                    Err(e) => failed = Some(e),
                }
            }
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            let body = match failed {
                Some(e) => Err(e),
                None => Ok(body),
            };
            (
                StatusCode::PARTIAL_CONTENT,
                body,
                None,
                format!("multipart/byteranges; boundary={boundary}"),
            )
        }
    };
    let Ok(body) = body else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500 Internal Server Error",
        );
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&ctype) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Some(m) = modified {
        set_last_modified(h, m);
    }
    if let Some(v) = content_range.and_then(|r| HeaderValue::from_str(&r).ok()) {
        h.insert(header::CONTENT_RANGE, v);
    }
    resp
}

/// Go's `httpRange.contentRange`.
fn content_range(start: u64, len: u64, size: u64) -> String {
    // `bytes=-0` is a range of no bytes, which Go still answers, with this odd end.
    let end = (start + len).cast_signed() - 1;
    format!("bytes {start}-{end}/{size}")
}

/// A boundary as unique as Go's random one (60 hex digits).
fn multipart_boundary() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    for i in 0..4u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_u64(i);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(60);
    out
}

/// What Go's `checkPreconditions` decides.
enum Precondition {
    Proceed,
    /// `412 Precondition Failed`.
    Failed,
    /// `304 Not Modified`.
    NotModified,
    /// Serve the whole file: `If-Range` does not match.
    IgnoreRange,
}

/// Go's `checkPreconditions` for a GET of a file without an `ETag` (the file server sets
/// none).
fn preconditions(headers: &HeaderMap, modified: Option<SystemTime>) -> Precondition {
    let get = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let secs = modified
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .filter(|&s| s > 0)
        .and_then(|s| i64::try_from(s).ok());
    // If-Match: no entity tag matches, `*` does.
    let if_match = match get(header::IF_MATCH) {
        None | Some("") => None,
        Some(v) => Some(v.trim().starts_with('*')),
    };
    let ok = if_match.unwrap_or_else(|| {
        match (
            get(header::IF_UNMODIFIED_SINCE).and_then(parse_http_date),
            secs,
        ) {
            (Some(t), Some(m)) => m <= t,
            _ => true,
        }
    });
    if !ok {
        return Precondition::Failed;
    }
    match get(header::IF_NONE_MATCH) {
        Some(v) if v.trim().starts_with('*') => return Precondition::NotModified,
        Some(v) if !v.is_empty() => {}
        _ => {
            if let (Some(t), Some(m)) = (
                get(header::IF_MODIFIED_SINCE).and_then(parse_http_date),
                secs,
            ) && m <= t
            {
                return Precondition::NotModified;
            }
        }
    }
    if get(header::RANGE).is_some_and(|r| !r.is_empty())
        && let Some(ir) = get(header::IF_RANGE).filter(|v| !v.is_empty())
    {
        // An entity tag never matches (there is none); a date must be the file's.
        let ir = ir.trim_start();
        let matches = !(ir.starts_with('"') || ir.starts_with("W/"))
            && matches!((parse_http_date(ir), secs), (Some(t), Some(m)) if t == m);
        if !matches {
            return Precondition::IgnoreRange;
        }
    }
    Precondition::Proceed
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeError {
    Invalid,
    NoOverlap,
}

impl RangeError {
    fn message(self) -> &'static str {
        match self {
            RangeError::Invalid => "invalid range",
            RangeError::NoOverlap => "invalid range: failed to overlap",
        }
    }
}

/// Go's `parseRange`: the (start, length) of each `bytes=` range that overlaps the file.
fn parse_range(s: &str, size: u64) -> Result<Vec<(u64, u64)>, RangeError> {
    let spec = s.strip_prefix("bytes=").ok_or(RangeError::Invalid)?;
    let int = |v: &str| -> Result<u64, RangeError> {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit() || b == b'+') {
            return Err(RangeError::Invalid);
        }
        v.parse::<u64>().map_err(|_| RangeError::Invalid)
    };
    let mut ranges = Vec::new();
    let mut no_overlap = false;
    for ra in spec.split(',') {
        let ra = ra.trim_matches([' ', '\t']);
        if ra.is_empty() {
            continue;
        }
        let (start, end) = ra.split_once('-').ok_or(RangeError::Invalid)?;
        let (start, end) = (
            start.trim_matches([' ', '\t']),
            end.trim_matches([' ', '\t']),
        );
        if start.is_empty() {
            // The last `end` bytes.
            let n = int(end)?.min(size);
            ranges.push((size - n, n));
            continue;
        }
        let start = int(start)?;
        if start >= size {
            no_overlap = true;
            continue;
        }
        let len = if end.is_empty() {
            size - start
        } else {
            let end = int(end)?;
            if start > end {
                return Err(RangeError::Invalid);
            }
            end.min(size - 1) - start + 1
        };
        ranges.push((start, len));
    }
    if no_overlap && ranges.is_empty() {
        return Err(RangeError::NoOverlap);
    }
    Ok(ranges)
}

/// Go's `checkIfModifiedSince` (all a directory listing checks): a GET with
/// `If-Modified-Since` at or after the time (to the second).
fn not_modified(headers: &HeaderMap, modified: SystemTime) -> bool {
    let Some(since) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
    else {
        return false;
    };
    let Ok(secs) = modified.duration_since(UNIX_EPOCH).map(|d| d.as_secs()) else {
        return false;
    };
    secs > 0 && i64::try_from(secs).is_ok_and(|s| s <= since)
}

fn not_modified_response(modified: SystemTime) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::NOT_MODIFIED;
    set_last_modified(resp.headers_mut(), modified);
    resp
}

/// `Last-Modified` in Go's `http.TimeFormat`, unless the time is the Unix epoch or before.
fn set_last_modified(h: &mut HeaderMap, t: SystemTime) {
    let Ok(secs) = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()) else {
        return;
    };
    if secs == 0 {
        return;
    }
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(t)) {
        h.insert(header::LAST_MODIFIED, v);
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds since the epoch of a date in `http.TimeFormat`, read as leniently as Go's
/// `http.ParseTime` reads it (the weekday is not checked).
fn parse_http_date(s: &str) -> Option<i64> {
    let mut it = s.split_whitespace();
    let _weekday = it.next()?;
    let d: u32 = it.next()?.parse().ok()?;
    let mon = it.next()?;
    let m = u32::try_from(MONTHS.iter().position(|x| *x == mon)? + 1).ok()?;
    let y: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (hms.next()??, hms.next()??, hms.next()??);
    if it.next()? != "GMT" || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(model::civil::days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Go's `mime.TypeByExtension`: its built-in table, then the system's shared MIME
/// database (`globs2`), text types with `charset=utf-8`.
fn type_by_extension(ext: &str) -> Option<String> {
    if ext.is_empty() {
        return None;
    }
    static TABLE: OnceLock<HashMap<String, String>> = OnceLock::new();
    let table = TABLE.get_or_init(load_mime_table);
    table
        .get(ext)
        .or_else(|| table.get(&ext.to_ascii_lowercase()))
        .cloned()
}

fn load_mime_table() -> HashMap<String, String> {
    let mut t: HashMap<String, String> = [
        (".avif", "image/avif"),
        (".css", "text/css; charset=utf-8"),
        (".gif", "image/gif"),
        (".htm", "text/html; charset=utf-8"),
        (".html", "text/html; charset=utf-8"),
        (".jpeg", "image/jpeg"),
        (".jpg", "image/jpeg"),
        (".js", "text/javascript; charset=utf-8"),
        (".json", "application/json"),
        (".mjs", "text/javascript; charset=utf-8"),
        (".pdf", "application/pdf"),
        (".png", "image/png"),
        (".svg", "image/svg+xml"),
        (".wasm", "application/wasm"),
        (".webp", "image/webp"),
        (".xml", "text/xml; charset=utf-8"),
    ]
    .into_iter()
    .map(|(e, t)| (e.to_owned(), t.to_owned()))
    .collect();
    let with_charset = |ty: &str| {
        if ty.starts_with("text/") && !ty.contains("charset=") {
            format!("{ty}; charset=utf-8")
        } else {
            ty.to_owned()
        }
    };
    for globs in ["/usr/local/share/mime/globs2", "/usr/share/mime/globs2"] {
        let Ok(text) = std::fs::read_to_string(globs) else {
            continue;
        };
        // `weight:type:glob[:flags]`; the file is in weight order and the first entry of
        // an extension wins.
        for line in text.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() < 3 || fields[0].is_empty() || fields[0].starts_with('#') {
                continue;
            }
            let Some(ext) = fields[2].strip_prefix('*') else {
                continue;
            };
            if !ext.starts_with('.') || ext.len() < 2 || ext.contains(['?', '*', '[']) {
                continue;
            }
            t.entry(ext.to_owned())
                .or_insert_with(|| with_charset(fields[1]));
        }
        return t;
    }
    // No shared MIME database: the `mime.types` files, as Go reads them then.
    for file in [
        "/etc/mime.types",
        "/etc/apache2/mime.types",
        "/etc/apache/mime.types",
        "/etc/httpd/conf/mime.types",
    ] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let Some(ty) = fields.next().filter(|t| !t.starts_with('#')) else {
                continue;
            };
            for ext in fields.take_while(|e| !e.starts_with('#')) {
                t.insert(format!(".{ext}"), with_charset(ty));
            }
        }
    }
    t
}

/// Go's `http.DetectContentType` (without its MP3 frame check): HTML and XML documents,
/// byte order marks, image, audio, video, font and archive signatures; otherwise plain
/// text when no byte is binary, else `application/octet-stream`.
fn sniff(data: &[u8]) -> &'static str {
    let ws = |b: u8| matches!(b, b'\t' | b'\n' | 0x0c | b'\r' | b' ');
    let text = data
        .iter()
        .position(|&b| !ws(b))
        .map_or(&[][..], |i| &data[i..]);
    const HTML: &[&[u8]] = &[
        b"<!DOCTYPE HTML",
        b"<HTML",
        b"<HEAD",
        b"<SCRIPT",
        b"<IFRAME",
        b"<H1",
        b"<DIV",
        b"<FONT",
        b"<TABLE",
        b"<A",
        b"<STYLE",
        b"<TITLE",
        b"<B",
        b"<BODY",
        b"<BR",
        b"<P",
        b"<!--",
    ];
    for sig in HTML {
        if text.len() > sig.len()
            && text[..sig.len()].eq_ignore_ascii_case(sig)
            && matches!(text[sig.len()], b' ' | b'>')
        {
            return "text/html; charset=utf-8";
        }
    }
    if text.starts_with(b"<?xml") {
        return "text/xml; charset=utf-8";
    }
    let exact: &[(&[u8], &str)] = &[
        (b"%PDF-", "application/pdf"),
        (b"%!PS-Adobe-", "application/postscript"),
        (b"\xFE\xFF", "text/plain; charset=utf-16be"),
        (b"\xFF\xFE", "text/plain; charset=utf-16le"),
        (b"\xEF\xBB\xBF", "text/plain; charset=utf-8"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"\x89PNG\x0D\x0A\x1A\x0A", "image/png"),
        (b"\xFF\xD8\xFF", "image/jpeg"),
        (b"BM", "image/bmp"),
        (b"\x1F\x8B\x08", "application/x-gzip"),
        (b"PK\x03\x04", "application/zip"),
        (b"Rar!\x1A\x07\x00", "application/x-rar-compressed"),
        (b"Rar!\x1A\x07\x01\x00", "application/x-rar-compressed"),
        (b"\x00asm", "application/wasm"),
        (b"\x00\x00\x01\x00", "image/x-icon"),
        (b"\x00\x00\x02\x00", "image/x-icon"),
        (b"OggS\x00", "application/ogg"),
        (b"MThd\x00\x00\x00\x06", "audio/midi"),
        (b"ID3", "audio/mpeg"),
        (b"\x1A\x45\xDF\xA3", "video/webm"),
        (b"\x00\x01\x00\x00", "font/ttf"),
        (b"OTTO", "font/otf"),
        (b"ttcf", "font/collection"),
        (b"wOFF", "font/woff"),
        (b"wOF2", "font/woff2"),
    ];
    for (sig, ty) in exact {
        if data.starts_with(sig) {
            return ty;
        }
    }
    if data.len() >= 12 && data.starts_with(b"RIFF") {
        match &data[8..12] {
            b"WEBP" if data.len() >= 14 && &data[12..14] == b"VP" => return "image/webp",
            b"AVI " => return "video/avi",
            b"WAVE" => return "audio/wave",
            _ => {}
        }
    }
    if data.starts_with(b"FORM") && data.len() >= 12 && &data[8..12] == b"AIFF" {
        return "audio/aiff";
    }
    if data.starts_with(b".snd") {
        return "audio/basic";
    }
    // Embedded OpenType: "LP" at 34, after 34 bytes of anything.
    if data.len() >= 36 && &data[34..36] == b"LP" {
        return "application/vnd.ms-fontobject";
    }
    if is_mp4(data) {
        return "video/mp4";
    }
    let binary = |b: u8| matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F);
    // After Go's exact signatures: text unless a byte is binary.
    if data.iter().any(|&b| binary(b)) {
        "application/octet-stream"
    } else {
        "text/plain; charset=utf-8"
    }
}

/// Go's `mp4Sig`: an `ftyp` box naming an `mp4` brand.
fn is_mp4(data: &[u8]) -> bool {
    if data.len() < 12 {
        return false;
    }
    let size = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
    if data.len() < size || !size.is_multiple_of(4) || &data[4..8] != b"ftyp" {
        return false;
    }
    (8..size)
        .step_by(4)
        .filter(|&st| st != 12)
        .any(|st| data.get(st..st + 3) == Some(b"mp4"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escape_is_gos_html_replacer() {
        assert_eq!(
            html_escape("<a href=\"x\">&'"),
            "&lt;a href=&#34;x&#34;&gt;&amp;&#39;"
        );
    }

    fn flags(user: &Path) -> std::collections::BTreeMap<String, String> {
        [(
            "web.user-assets".to_owned(),
            user.to_string_lossy().into_owned(),
        )]
        .into_iter()
        .collect()
    }

    fn get(root: &Path, path: &str, headers: &[(&str, &str)]) -> Response<Body> {
        let f = flags(root);
        let (p, q) = path
            .split_once('?')
            .map_or((path, None), |(p, q)| (p, Some(q)));
        let mount = mount_for(&f, p).expect("under /user");
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        serve(&mount, &Method::GET, p, p, q, &h)
    }

    fn body(resp: &Response<Body>) -> String {
        use http_body_util::BodyExt as _;
        let Ok(b) = block_on(resp.body().clone().collect());
        String::from_utf8_lossy(&b.to_bytes()).into_owned()
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn hdr(resp: &Response<Body>, name: header::HeaderName) -> &str {
        resp.headers().get(name).map_or("", |v| v.to_str().unwrap())
    }

    fn fixture() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let ua = dir.path().join("ua");
        std::fs::create_dir_all(ua.join("sub")).unwrap();
        std::fs::create_dir_all(ua.join("withindex")).unwrap();
        std::fs::write(ua.join("a.txt"), "hello\n").unwrap();
        std::fs::write(ua.join("b.json"), "{\"a\":1}\n").unwrap();
        std::fs::write(ua.join("s.css"), "body{}").unwrap();
        std::fs::write(ua.join("blob"), b"\x00\x01bin").unwrap();
        std::fs::write(ua.join("page"), "<html><p>x</p></html>").unwrap();
        std::fs::write(ua.join("sub/c.txt"), "inner\n").unwrap();
        std::fs::write(ua.join("withindex/index.html"), "<p>idx</p>\n").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "secret\n").unwrap();
        (dir, ua)
    }

    #[test]
    fn files_directories_and_redirects_as_go_serves_them() {
        let (_dir, ua) = fixture();
        let r = get(&ua, "/user/a.txt", &[]);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(body(&r), "hello\n");
        assert_eq!(hdr(&r, header::CONTENT_TYPE), "text/plain; charset=utf-8");
        assert_eq!(hdr(&r, header::ACCEPT_RANGES), "bytes");
        assert!(hdr(&r, header::LAST_MODIFIED).ends_with(" GMT"));
        for (path, ctype) in [
            ("/user/b.json", "application/json"),
            ("/user/s.css", "text/css; charset=utf-8"),
            ("/user/blob", "application/octet-stream"),
            ("/user/page", "text/html; charset=utf-8"),
            ("/user/withindex/", "text/html; charset=utf-8"),
        ] {
            assert_eq!(
                hdr(&get(&ua, path, &[]), header::CONTENT_TYPE),
                ctype,
                "{path}"
            );
        }
        assert_eq!(body(&get(&ua, "/user/withindex/", &[])), "<p>idx</p>\n");

        let listing = get(&ua, "/user/", &[]);
        assert_eq!(listing.status(), StatusCode::OK);
        assert_eq!(
            body(&listing),
            "<!doctype html>\n<meta name=\"viewport\" content=\"width=device-width\">\n<pre>\n\
             <a href=\"a.txt\">a.txt</a>\n<a href=\"b.json\">b.json</a>\n<a href=\"blob\">blob</a>\n\
             <a href=\"page\">page</a>\n<a href=\"s.css\">s.css</a>\n<a href=\"sub/\">sub/</a>\n\
             <a href=\"withindex/\">withindex/</a>\n</pre>\n"
        );

        for (path, location) in [
            ("/user/sub", "sub/"),
            ("/user/withindex/index.html", "./"),
            ("/user/a.txt/", "../a.txt"),
            ("/user/sub?x=1", "sub/?x=1"),
        ] {
            let r = get(&ua, path, &[]);
            assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY, "{path}");
            assert_eq!(hdr(&r, header::LOCATION), location, "{path}");
            assert_eq!(body(&r), "", "{path}");
        }
        let r = get(&ua, "/user", &[]);
        assert_eq!(hdr(&r, header::LOCATION), "/user/");
        assert_eq!(body(&r), "<a href=\"/user/\">Moved Permanently</a>.\n\n");

        for path in ["/user/missing", "/user/a.txt/x", "/user/Sub/c.txt"] {
            let r = get(&ua, path, &[]);
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(body(&r), "404 page not found\n");
            assert_eq!(hdr(&r, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        }
    }

    #[test]
    fn dot_dot_never_leaves_the_directory() {
        let (_dir, ua) = fixture();
        // Cleaned below the mount point: `..` stops at its root.
        assert_eq!(
            model::strutil::clean_rooted_path("/../secret.txt"),
            "/secret.txt"
        );
        assert_eq!(
            model::strutil::clean_rooted_path("/sub/../../../a.txt"),
            "/a.txt"
        );
        for path in ["/user/../secret.txt", "/user/sub/../../secret.txt"] {
            let f = flags(&ua);
            let mount = mount_for(&f, path).unwrap();
            let r = serve(&mount, &Method::GET, path, path, None, &HeaderMap::new());
            assert_ne!(body(&r), "secret\n", "{path}");
        }
    }

    #[test]
    fn conditional_and_range_requests() {
        let (_dir, ua) = fixture();
        let r = get(&ua, "/user/a.txt", &[]);
        let lm = hdr(&r, header::LAST_MODIFIED).to_owned();
        let r = get(&ua, "/user/a.txt", &[("if-modified-since", &lm)]);
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(hdr(&r, header::LAST_MODIFIED), lm);
        let r = get(
            &ua,
            "/user/a.txt",
            &[("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT")],
        );
        assert_eq!(r.status(), StatusCode::OK);
        let r = get(&ua, "/user/a.txt", &[("range", "bytes=1-2")]);
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(body(&r), "el");
        assert_eq!(hdr(&r, header::CONTENT_RANGE), "bytes 1-2/6");
        let r = get(&ua, "/user/a.txt", &[("range", "bytes=-3")]);
        assert_eq!(body(&r), "lo\n");
        let r = get(&ua, "/user/a.txt", &[("range", "bytes=9-")]);
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(hdr(&r, header::CONTENT_RANGE), "bytes */6");
        assert_eq!(body(&r), "invalid range: failed to overlap\n");
        let r = get(&ua, "/user/a.txt", &[("range", "bytes=x-1")]);
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(body(&r), "invalid range\n");
        assert_eq!(hdr(&r, header::CONTENT_RANGE), "");
        // More bytes than the file: the whole file.
        let r = get(&ua, "/user/a.txt", &[("range", "bytes=0-4,2-5")]);
        assert_eq!((r.status(), body(&r).as_str()), (StatusCode::OK, "hello\n"));

        let r = get(&ua, "/user/a.txt", &[("range", "bytes=0-0,4-")]);
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        let ctype = hdr(&r, header::CONTENT_TYPE).to_owned();
        let boundary = ctype
            .strip_prefix("multipart/byteranges; boundary=")
            .expect("multipart");
        assert_eq!(boundary.len(), 60);
        assert_eq!(
            body(&r),
            format!(
                "--{boundary}\r\nContent-Range: bytes 0-0/6\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nh\r\n\
                 --{boundary}\r\nContent-Range: bytes 4-5/6\r\nContent-Type: text/plain; charset=utf-8\r\n\r\no\n\r\n\
                 --{boundary}--\r\n"
            )
        );

        // If-Range: the file's date keeps the range, anything else sends the whole file.
        let r = get(
            &ua,
            "/user/a.txt",
            &[("range", "bytes=1-2"), ("if-range", &lm)],
        );
        assert_eq!(body(&r), "el");
        for other in ["\"etag\"", "Mon, 01 Jan 2001 00:00:00 GMT"] {
            let r = get(
                &ua,
                "/user/a.txt",
                &[("range", "bytes=1-2"), ("if-range", other)],
            );
            assert_eq!((r.status(), body(&r).as_str()), (StatusCode::OK, "hello\n"));
        }
        // If-Unmodified-Since before the file, If-Match with a tag: 412; If-None-Match: *.
        for (h, v) in [
            ("if-unmodified-since", "Mon, 01 Jan 2001 00:00:00 GMT"),
            ("if-match", "\"x\""),
        ] {
            let r = get(&ua, "/user/a.txt", &[(h, v)]);
            assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED, "{h}");
        }
        assert_eq!(
            get(&ua, "/user/a.txt", &[("if-match", "*")]).status(),
            StatusCode::OK
        );
        let r = get(&ua, "/user/a.txt", &[("if-none-match", "*")]);
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        let r = get(
            &ua,
            "/user/a.txt",
            &[("if-none-match", "\"x\""), ("if-modified-since", &lm)],
        );
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[test]
    fn methods_other_than_get() {
        let (_dir, ua) = fixture();
        let f = flags(&ua);
        let mount = mount_for(&f, "/user/a.txt").unwrap();
        let h = HeaderMap::new();
        let r = serve(
            &mount,
            &Method::HEAD,
            "/user/a.txt",
            "/user/a.txt",
            None,
            &h,
        );
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(hdr(&r, header::ALLOW), "GET, OPTIONS");
        assert_eq!(body(&r), "Method Not Allowed\n");
        let r = serve(
            &mount,
            &Method::OPTIONS,
            "/user/a.txt",
            "/user/a.txt",
            None,
            &h,
        );
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(hdr(&r, header::ALLOW), "GET, OPTIONS");
    }

    #[test]
    fn unclean_paths_and_escapes() {
        assert_eq!(unclean_redirect("/user/a.txt"), None);
        assert_eq!(unclean_redirect("/user/sub/"), None);
        assert_eq!(unclean_redirect("/"), None);
        for (path, to) in [
            ("/user/../secret.txt", "/secret.txt"),
            ("/user//a.txt", "/user/a.txt"),
            ("//metrics", "/metrics"),
            ("/user/sub/../a.txt", "/user/a.txt"),
            ("/user/./sub/", "/user/sub/"),
            ("/a b/../c d", "/c%20d"),
        ] {
            assert_eq!(unclean_redirect(path).as_deref(), Some(to), "{path}");
        }
        assert_eq!(
            percent_decode("/user/%2e%2e/x%20y").as_deref(),
            Some("/user/../x y")
        );
        assert_eq!(percent_decode("/user/%zz"), None);
        assert_eq!(percent_decode("/user/%2"), None);
    }

    #[test]
    fn http_dates_round_trip() {
        let at = |secs| httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(secs));
        assert_eq!(at(1_795_556_337), "Tue, 24 Nov 2026 21:38:57 GMT");
        assert_eq!(
            parse_http_date("Tue, 24 Nov 2026 21:38:57 GMT"),
            Some(1_795_556_337)
        );
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn mounts_need_their_flag() {
        let none = std::collections::BTreeMap::new();
        assert!(mount_for(&none, "/user/a.txt").is_none());
        let f: std::collections::BTreeMap<String, String> =
            [("web.local-assets".to_owned(), "/srv/web".to_owned())].into();
        let m = mount_for(&f, "/classic/static/js/x.js").unwrap();
        assert_eq!(m.root, Path::new("/srv/web/static"));
        assert_eq!(m.label, "/classic/static/*filepath");
        assert!(mount_for(&f, "/classic/graph").is_none());
        assert!(mount_for(&f, "/userx").is_none());
    }
}
