//! Per-request headers from the HTTP client options: `basic_auth`, `authorization` (and the
//! deprecated bearer token options that validation moves there) and `http_headers`. Files are
//! read at every request, as Prometheus does, so rotated secrets are picked up.

use config::HttpClientConfig;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::{Error, Result};

/// Where a secret comes from.
#[derive(Clone)]
pub(crate) enum Secret {
    Inline(String),
    File { what: &'static str, path: String },
}

impl Secret {
    pub(crate) fn new(inline: &str, what: &'static str, path: &str) -> Secret {
        if path.is_empty() {
            Secret::Inline(inline.to_owned())
        } else {
            Secret::File {
                what,
                path: path.to_owned(),
            }
        }
    }

    /// The secret now (a file is read again at every call).
    pub(crate) fn get(&self) -> Result<String> {
        match self {
            Secret::Inline(s) => Ok(s.clone()),
            Secret::File { what, path } => std::fs::read_to_string(path)
                .map(|s| s.trim().to_owned())
                .map_err(|e| Error::ReadFile {
                    what,
                    path: path.clone(),
                    message: crate::error::go_io_error("open", path, &e),
                }),
        }
    }
}

/// How requests authenticate.
#[derive(Clone)]
enum Auth {
    None,
    Basic { username: Secret, password: Secret },
    Authorization { scheme: String, credentials: Secret },
}

/// The headers every request of one client carries.
#[derive(Clone)]
pub(crate) struct Headers {
    auth: Auth,
    custom: Vec<(HeaderName, Secret)>,
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match self.auth {
            Auth::None => "none",
            Auth::Basic { .. } => "basic",
            Auth::Authorization { .. } => "authorization",
        };
        f.debug_struct("Headers")
            .field("auth", &auth)
            .field(
                "custom",
                &self.custom.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(value).map_err(|e| Error::InvalidHeader {
        name: name.to_owned(),
        message: e.to_string(),
    })
}

impl Headers {
    /// The header sources of `cfg` (`oauth2` is the client's, see `crate::oauth2`); fails
    /// for options this client does not implement.
    pub(crate) fn new(cfg: &HttpClientConfig) -> Result<Headers> {
        let auth = if let Some(b) = &cfg.basic_auth {
            if !b.username_ref.is_empty() && b.username.is_empty() && b.username_file.is_empty() {
                return Err(Error::SecretRef { what: "username" });
            }
            if !b.password_ref.is_empty() && b.password.is_empty() && b.password_file.is_empty() {
                return Err(Error::SecretRef { what: "password" });
            }
            Auth::Basic {
                username: Secret::new(&b.username, "basic auth username", &b.username_file),
                password: Secret::new(b.password.expose(), "basic auth password", &b.password_file),
            }
        } else if let Some(a) = &cfg.authorization {
            if !a.credentials_ref.is_empty()
                && a.credentials.is_empty()
                && a.credentials_file.is_empty()
            {
                return Err(Error::SecretRef {
                    what: "credentials",
                });
            }
            Auth::Authorization {
                scheme: if a.r#type.trim().is_empty() {
                    "Bearer".to_owned()
                } else {
                    a.r#type.trim().to_owned()
                },
                credentials: Secret::new(
                    a.credentials.expose(),
                    "authorization credentials",
                    &a.credentials_file,
                ),
            }
        } else if !cfg.bearer_token.is_empty() || !cfg.bearer_token_file.is_empty() {
            // Validation moves these into `authorization`; a config built in code may not
            // have been validated.
            Auth::Authorization {
                scheme: "Bearer".to_owned(),
                credentials: Secret::new(
                    cfg.bearer_token.expose(),
                    "authorization credentials",
                    &cfg.bearer_token_file,
                ),
            }
        } else {
            Auth::None
        };
        let mut custom = Vec::new();
        for (name, h) in &cfg.http_headers {
            let header =
                HeaderName::from_bytes(name.as_bytes()).map_err(|e| Error::InvalidHeader {
                    name: name.clone(),
                    message: e.to_string(),
                })?;
            for v in &h.values {
                header_value(name, v)?;
                custom.push((header.clone(), Secret::Inline(v.clone())));
            }
            for v in &h.secrets {
                header_value(name, v.expose())?;
                custom.push((header.clone(), Secret::Inline(v.expose().to_owned())));
            }
            for f in &h.files {
                custom.push((
                    header.clone(),
                    Secret::File {
                        what: "http_headers file",
                        path: f.clone(),
                    },
                ));
            }
        }
        Ok(Headers { auth, custom })
    }

    /// Adds the authentication and custom headers to `headers`. A request that already has
    /// an `Authorization` header keeps it, as Prometheus's round trippers do.
    pub(crate) fn apply(&self, headers: &mut HeaderMap) -> Result<()> {
        if !headers.contains_key(http::header::AUTHORIZATION) {
            let value = match &self.auth {
                Auth::None => None,
                Auth::Basic { username, password } => Some(format!(
                    "Basic {}",
                    base64(format!("{}:{}", username.get()?, password.get()?).as_bytes())
                )),
                Auth::Authorization {
                    scheme,
                    credentials,
                } => Some(format!("{scheme} {}", credentials.get()?)),
            };
            if let Some(v) = value {
                let mut v = header_value("Authorization", &v)?;
                v.set_sensitive(true);
                headers.insert(http::header::AUTHORIZATION, v);
            }
        }
        // Values of one name replace what the caller set and are all sent, in order.
        let mut seen: Vec<&HeaderName> = Vec::new();
        for (name, value) in &self.custom {
            if !seen.contains(&name) {
                headers.remove(name);
                seen.push(name);
            }
            headers.append(name.clone(), header_value(name.as_str(), &value.get()?)?);
        }
        Ok(())
    }
}

/// Standard base64 with padding (basic auth is the only user; not worth a dependency).
pub(crate) fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> HttpClientConfig {
        let cfg = config::Config::load_str(&format!("scrape_configs:\n- job_name: j\n{yaml}"), "")
            .unwrap();
        cfg.scrape_configs[0].http_client_config.clone()
    }

    fn applied(yaml: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        Headers::new(&load(yaml)).unwrap().apply(&mut h).unwrap();
        h
    }

    #[test]
    fn base64_pads_like_the_standard_encoding() {
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b""), "");
    }

    #[test]
    fn basic_auth_reads_the_password_file_at_each_request() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "one\n").unwrap();
        let h = Headers::new(&load(&format!(
            "  basic_auth: {{username: u, password_file: '{}'}}\n",
            file.display()
        )))
        .unwrap();
        let mut m = HeaderMap::new();
        h.apply(&mut m).unwrap();
        assert_eq!(m["authorization"], format!("Basic {}", base64(b"u:one")));
        std::fs::write(&file, "two").unwrap();
        let mut m = HeaderMap::new();
        h.apply(&mut m).unwrap();
        assert_eq!(m["authorization"], format!("Basic {}", base64(b"u:two")));
        std::fs::remove_file(&file).unwrap();
        let err = h.apply(&mut HeaderMap::new()).unwrap_err().to_string();
        let f = file.display();
        assert_eq!(
            err,
            format!(
                "unable to read basic auth password: unable to read file {f}: open {f}: no such file or directory"
            )
        );
    }

    #[test]
    fn authorization_bearer_and_custom_headers() {
        assert_eq!(
            applied("  authorization: {credentials: tok}\n")["authorization"],
            "Bearer tok"
        );
        assert_eq!(
            applied("  authorization: {type: Token, credentials: tok}\n")["authorization"],
            "Token tok"
        );
        assert_eq!(applied("  bearer_token: b\n")["authorization"], "Bearer b");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cred");
        std::fs::write(&file, "from-file\n").unwrap();
        assert_eq!(
            applied(&format!(
                "  authorization: {{credentials_file: '{}'}}\n",
                file.display()
            ))["authorization"],
            "Bearer from-file"
        );
        let h = applied(&format!(
            "  http_headers:\n    X-Team: {{values: [a, b], secrets: [s], files: ['{}']}}\n",
            file.display()
        ));
        let values: Vec<_> = h.get_all("x-team").iter().collect();
        assert_eq!(values, ["a", "b", "s", "from-file"]);
        assert!(!h.contains_key("authorization"));
    }
}
