//! A small blocking HTTP client over the server's own `httpclient` (so
//! `--http.config.file` takes Prometheus's HTTP client options: `basic_auth`,
//! `authorization`, `oauth2`, `tls_config`, `http_headers`, proxies), and the Prometheus
//! API v1 envelope (`{"status":"success","data":...}`) with client_golang's error texts.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use httpclient::{HttpClient, HttpClientConfig};
use serde_json::Value as Json;

/// How long one request may take (Go's promtool uses 2 minutes for queries).
const TIMEOUT: Duration = Duration::from_secs(120);

/// The `User-Agent` of promtool's requests (Go's `version.ComponentUserAgent`).
const USER_AGENT: &str = concat!("promtool/", env!("CARGO_PKG_VERSION"));

/// The help of `--http.config.file`.
pub(crate) const CONFIG_FILE_HELP: &str = "HTTP client configuration file, see details at https://prometheus.io/docs/prometheus/latest/configuration/promtool";

/// The options `--http.config.file` loaded, for every client of this process.
static HTTP_CONFIG: OnceLock<HttpClientConfig> = OnceLock::new();

/// Loads `--http.config.file` (when given) for every [`ApiClient`] built afterwards, as
/// Go's promtool loads it before running a command. Failures print kingpin's fatal message
/// and give the exit code.
pub(crate) fn use_config_file(path: Option<&Path>) -> Result<(), u8> {
    let Some(path) = path else { return Ok(()) };
    let fatal = |msg: String| {
        eprintln!("promtool: error: {msg}");
        1
    };
    if let Some(error) = crate::existing_file_error(path) {
        return Err(fatal(format!("{error}, try --help")));
    }
    let cfg = load_config_file(path)
        .map_err(|e| fatal(format!("Failed to load HTTP config file: {e}")))?;
    HttpClient::new(&cfg)
        .map_err(|e| fatal(format!("Failed to create a new HTTP round tripper: {e}")))?;
    // Set once, from `main`'s one command.
    let _ = HTTP_CONFIG.set(cfg);
    Ok(())
}

/// prometheus/common's `LoadHTTPConfigFile`: strict YAML, validated, relative file names
/// resolved against the file's directory.
fn load_config_file(path: &Path) -> Result<HttpClientConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut cfg: HttpClientConfig = if text.trim().is_empty() {
        HttpClientConfig::default()
    } else {
        config::yaml::from_str(&text).map_err(|e| e.to_string())?
    };
    cfg.check()?;
    cfg.set_directory(path.parent().unwrap_or(Path::new(".")));
    Ok(cfg)
}

/// A blocking client for one Prometheus server.
pub(crate) struct ApiClient {
    base: url::Url,
    headers: Vec<(String, String)>,
    rt: tokio::runtime::Runtime,
    client: HttpClient,
}

/// A reply: status code and body.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
}

/// An API-level failure, printed as client_golang prints `v1.Error`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) kind: String,
    pub(crate) msg: String,
    pub(crate) detail: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.msg)
    }
}

impl std::error::Error for ApiError {}

impl ApiClient {
    /// A client for `server` (`http[s]://[user:password@]host:port[/prefix]`; a missing
    /// scheme means http), with the options of `--http.config.file` if one was loaded. A
    /// user in the URL is sent as basic authentication, as Go's client does; with an HTTP
    /// config file too, promtool exits as Go's does.
    pub(crate) fn new(server: &str, headers: Vec<(String, String)>) -> anyhow::Result<ApiClient> {
        let with_scheme = if server.contains("://") {
            server.to_owned()
        } else {
            format!("http://{server}")
        };
        let mut base = url::Url::parse(&with_scheme)
            .with_context(|| format!("parsing server URL {server:?}"))?;
        if base.scheme() != "http" && base.scheme() != "https" {
            anyhow::bail!(
                "unsupported URL scheme {:?} (only http and https)",
                base.scheme()
            );
        }
        let mut cfg = match HTTP_CONFIG.get() {
            Some(_) if !base.username().is_empty() => {
                eprintln!(
                    "promtool: error: Cannot set base auth in the server URL and use a http.config.file at the same time"
                );
                std::process::exit(1);
            }
            Some(cfg) => cfg.clone(),
            None => HttpClientConfig::default(),
        };
        if !base.username().is_empty() {
            let decode = |s: &str| {
                url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            cfg.basic_auth = Some(config::http_config::BasicAuth {
                username: decode(base.username()),
                password: config::Secret::new(decode(base.password().unwrap_or(""))),
                ..Default::default()
            });
            let _ = base.set_username("");
            let _ = base.set_password(None);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the I/O runtime")?;
        let client = {
            let _guard = rt.enter();
            HttpClient::new(&cfg).context("creating the HTTP client")?
        };
        Ok(ApiClient {
            base,
            headers,
            rt,
            client,
        })
    }

    /// The URL of `path` below the server's URL (its own path kept as a prefix).
    pub(crate) fn url(&self, path: &str) -> String {
        let mut u = self.base.clone();
        let prefix = u.path().trim_end_matches('/').to_owned();
        u.set_path(&format!("{prefix}{path}"));
        u.set_query(None);
        u.to_string()
    }

    /// Sends a request; `form` is sent as an `application/x-www-form-urlencoded` body.
    pub(crate) fn request(
        &self,
        method: hyper::Method,
        url: &str,
        form: Option<String>,
    ) -> anyhow::Result<Reply> {
        match form {
            Some(f) => self.send(
                method,
                url,
                Bytes::from(f),
                &[("content-type", "application/x-www-form-urlencoded")],
                TIMEOUT,
            ),
            None => self.send(method, url, Bytes::new(), &[], TIMEOUT),
        }
    }

    /// Sends `body` with the client's headers and `extra` ones, waiting at most `timeout`.
    pub(crate) fn send(
        &self,
        method: hyper::Method,
        url: &str,
        body: Bytes,
        extra: &[(&str, &str)],
        timeout: std::time::Duration,
    ) -> anyhow::Result<Reply> {
        let mut req = hyper::Request::builder().method(method).uri(url);
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if !extra
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
            && !self
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
        {
            req = req.header("user-agent", USER_AGENT);
        }
        let req = req
            .body(Full::new(body))
            .with_context(|| format!("building the request for {url}"))?;
        let verb = if req.method() == hyper::Method::POST {
            "Post"
        } else {
            "Get"
        };
        let client = self.client.clone();
        let fut = async move {
            let resp = client.send(req).await?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| httpclient::Error::Request {
                    method: verb.to_owned(),
                    url: url.to_owned(),
                    message: e.to_string(),
                })?
                .to_bytes();
            Ok::<_, httpclient::Error>(Reply { status, body })
        };
        match self
            .rt
            .block_on(async { tokio::time::timeout(timeout, fut).await })
        {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(anyhow::anyhow!("{}", go_request_error(&e))),
            Err(_) => Err(anyhow::anyhow!("{verb} {url:?}: context deadline exceeded")),
        }
    }

    /// Calls an API v1 endpoint and returns its `data` and `warnings`. A POST that is
    /// answered 405 is retried as a GET, as client_golang's `DoGetFallback` does.
    pub(crate) fn api(
        &self,
        endpoint: &str,
        params: &[(&str, String)],
        post: bool,
    ) -> anyhow::Result<(Json, Vec<String>)> {
        let url = self.url(&format!("/api/v1{endpoint}"));
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            form.append_pair(k, v);
        }
        let form = form.finish();
        let mut reply = None;
        if post {
            let r = self.request(hyper::Method::POST, &url, Some(form.clone()))?;
            if r.status != 405 {
                reply = Some(r);
            }
        }
        let reply = match reply {
            Some(r) => r,
            None => {
                let u = if form.is_empty() {
                    url.clone()
                } else {
                    format!("{url}?{form}")
                };
                self.request(hyper::Method::GET, &u, None)?
            }
        };
        decode_api_reply(reply.status, &reply.body).map_err(anyhow::Error::new)
    }
}

/// Interprets an API v1 reply as client_golang does: non-2xx codes other than 400, 422
/// and 503 are `client_error`/`server_error`; an error envelope gives its type and text.
pub(crate) fn decode_api_reply(status: u16, body: &[u8]) -> Result<(Json, Vec<String>), ApiError> {
    let text = String::from_utf8_lossy(body).into_owned();
    let api_code = matches!(status, 400 | 422 | 503);
    if status / 100 != 2 && !api_code {
        let (kind, msg) = match status / 100 {
            4 => ("client_error", format!("client error: {status}")),
            5 => ("server_error", format!("server error: {status}")),
            _ => ("bad_response", format!("bad response code {status}")),
        };
        return Err(ApiError {
            kind: kind.to_owned(),
            msg,
            detail: text,
        });
    }
    let env: Json = serde_json::from_slice(body).map_err(|e| ApiError {
        kind: "bad_response".to_owned(),
        msg: e.to_string(),
        detail: text.clone(),
    })?;
    let warnings = env
        .get("warnings")
        .and_then(Json::as_array)
        .map(|w| {
            w.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if env.get("status").and_then(Json::as_str) == Some("error") {
        return Err(ApiError {
            kind: env
                .get("errorType")
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_owned(),
            msg: env
                .get("error")
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_owned(),
            detail: String::new(),
        });
    }
    if api_code {
        return Err(ApiError {
            kind: "bad_response".to_owned(),
            msg: "inconsistent body for response code".to_owned(),
            detail: String::new(),
        });
    }
    Ok((env.get("data").cloned().unwrap_or(Json::Null), warnings))
}

/// A request error in Go's `net/http` words where they are known: a refused connection
/// reads `Post "URL": dial tcp HOST:PORT: connect: connection refused`.
fn go_request_error(e: &httpclient::Error) -> String {
    if let httpclient::Error::Request {
        method,
        url,
        message,
    } = e
        && message.contains("Connection refused")
        && let Ok(u) = url::Url::parse(url)
        && let Some(host) = u.host_str()
        && let Some(port) = u.port_or_known_default()
    {
        return format!("{method} {url:?}: dial tcp {host}:{port}: connect: connection refused");
    }
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_read_like_client_golang() {
        let body = br#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:6: parse error: unclosed left parenthesis"}"#;
        let e = decode_api_reply(400, body).expect_err("an error");
        assert_eq!(
            e.to_string(),
            "bad_data: invalid parameter \"query\": 1:6: parse error: unclosed left parenthesis"
        );
        let e = decode_api_reply(502, b"bad gateway").expect_err("an error");
        assert_eq!(e.to_string(), "server_error: server error: 502");
        assert_eq!(e.detail, "bad gateway");
        let (data, warnings) = decode_api_reply(
            200,
            br#"{"status":"success","data":["a"],"warnings":["w"]}"#,
        )
        .expect("success");
        assert_eq!(data, serde_json::json!(["a"]));
        assert_eq!(warnings, vec!["w".to_owned()]);
    }

    #[test]
    fn urls_keep_the_server_prefix() {
        let c = ApiClient::new("127.0.0.1:9090/prom/", Vec::new()).expect("client");
        assert_eq!(
            c.url("/api/v1/query"),
            "http://127.0.0.1:9090/prom/api/v1/query"
        );
        assert!(ApiClient::new("ftp://x", Vec::new()).is_err());
    }
}
