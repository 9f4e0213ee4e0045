//! The AWS SDK for Go v2's default credential chain, as prometheus/sigv4 loads it: which
//! [`Source`] signs, chosen from the `sigv4` config, the environment (read through a
//! function, so tests inject theirs) and the shared AWS config and credentials files.
//!
//! Order: `access_key`/`secret_key`; the configured `profile`; `AWS_ACCESS_KEY_ID` and
//! `AWS_SECRET_ACCESS_KEY`; `AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN` (EKS IRSA);
//! the `AWS_PROFILE` (else `default`) profile. A profile gives static keys, or
//! `source_profile`/`credential_source` credentials, a `web_identity_token_file`, SSO
//! (`sso_session` or the legacy `sso_start_url`) or a `credential_process`, under its
//! `role_arn` if it has one; a profile giving none falls back to the container endpoint
//! (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`/`_FULL_URI`) and then to the EC2 instance
//! metadata service.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};

use config::remote::SigV4Config;
use http::Uri;

use super::sources::{
    AssumeRole, Cached, Container, ContainerToken, Imds, Process, Source, Sso, WebIdentity,
};
use super::{Credentials, sigv4_err};
use crate::{Error, Result};

/// The environment: a variable's value, `None` when unset or empty.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The ECS task credentials endpoint that `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` is
/// relative to.
const ECS_ENDPOINT: &str = "http://169.254.170.2";

/// The instance metadata service, over IPv4 and (`AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE`
/// `IPv6`) over IPv6.
const IMDS_ENDPOINT: &str = "http://169.254.169.254";
const IMDS_ENDPOINT_V6: &str = "http://[fd00:ec2::254]";

/// An INI file as sections of key/value pairs.
type Ini = Vec<(String, Vec<(String, String)>)>;

/// The shared files and what the rest of the chain needs to build STS sources.
pub(crate) struct Chain<'a> {
    env: Env<'a>,
    credentials_file: String,
    config_file: String,
    credentials: Option<Ini>,
    config: Option<Ini>,
    /// The region STS is called in, when one is known.
    region: Option<String>,
    use_fips: bool,
}

fn collapse_spaces(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `None` when the file does not exist.
fn read_ini(path: &str) -> Result<Option<Ini>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::ReadFile {
                what: "AWS shared credentials or config file",
                path: path.to_owned(),
                message: crate::error::go_io_error("open", path, &e),
            });
        }
    };
    let mut ini: Ini = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            ini.push((collapse_spaces(section), Vec::new()));
        } else if let (Some((k, v)), Some(last)) = (line.split_once('='), ini.last_mut()) {
            last.1.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    Ok(Some(ini))
}

fn ini_section<'i>(ini: Option<&'i Ini>, section: &str) -> Option<&'i [(String, String)]> {
    ini?.iter()
        .find(|(s, _)| s == section)
        .map(|(_, kv)| kv.as_slice())
}

/// One profile: its keys in the credentials file (`[name]`) over those in the config file
/// (`[profile name]`, `[default]`).
struct Profile<'c> {
    credentials: Option<&'c [(String, String)]>,
    config: Option<&'c [(String, String)]>,
}

impl Profile<'_> {
    fn exists(&self) -> bool {
        self.credentials.is_some() || self.config.is_some()
    }

    fn get(&self, key: &str) -> Option<String> {
        [self.credentials, self.config]
            .into_iter()
            .flatten()
            .flat_map(|kv| kv.iter())
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.clone())
    }

    fn has_prefix(&self, prefix: &str) -> bool {
        [self.credentials, self.config]
            .into_iter()
            .flatten()
            .flat_map(|kv| kv.iter())
            .any(|(k, v)| k.starts_with(prefix) && !v.is_empty())
    }

    fn static_credentials(&self) -> Option<Credentials> {
        Some(Credentials {
            access_key: self.get("aws_access_key_id")?,
            secret_key: self.get("aws_secret_access_key")?,
            session_token: self.get("aws_session_token").unwrap_or_default(),
        })
    }
}

impl<'a> Chain<'a> {
    /// Reads the shared files named by `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE`
    /// (else `~/.aws/credentials` and `~/.aws/config`).
    pub(crate) fn new(env: Env<'a>, use_fips: bool) -> Result<Chain<'a>> {
        let home = env("HOME").unwrap_or_default();
        let credentials_file = env("AWS_SHARED_CREDENTIALS_FILE")
            .unwrap_or_else(|| format!("{home}/.aws/credentials"));
        let config_file = env("AWS_CONFIG_FILE").unwrap_or_else(|| format!("{home}/.aws/config"));
        Ok(Chain {
            env,
            credentials: read_ini(&credentials_file)?,
            config: read_ini(&config_file)?,
            credentials_file,
            config_file,
            region: None,
            use_fips,
        })
    }

    fn profile(&self, name: &str) -> Profile<'_> {
        let config_section = if name == "default" {
            "default".to_owned()
        } else {
            format!("profile {name}")
        };
        Profile {
            credentials: ini_section(self.credentials.as_ref(), name),
            config: ini_section(self.config.as_ref(), &config_section),
        }
    }

    /// The region found by [`Chain::resolve`]: `region`, `AWS_REGION`,
    /// `AWS_DEFAULT_REGION` or the profile's.
    pub(crate) fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The region the SDK's config gives when none is configured: `AWS_REGION`, else
    /// `AWS_DEFAULT_REGION`, else profile `profile`'s `region`.
    fn configured_region(&self, profile: &str) -> Option<String> {
        let env = self.env;
        env("AWS_REGION")
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .or_else(|| self.profile(profile).get("region"))
    }

    /// The region of the SDK's default config as `LoadDefaultConfig` without options
    /// loads it (what upstream's AWS discoveries ask when `region` is empty): that of
    /// [`Chain::configured_region`] for the `AWS_PROFILE` (else `default`) profile; `None`
    /// when none has one.
    ///
    /// # Errors
    /// `AWS_PROFILE` names a profile neither shared file has.
    pub(crate) fn default_region(&self) -> Result<Option<String>> {
        let env = self.env;
        let (profile, explicit) = match env("AWS_PROFILE") {
            Some(p) => (p, true),
            None => ("default".to_owned(), false),
        };
        if explicit && !self.profile(&profile).exists() {
            return Err(sigv4_err(format!(
                "failed to load AWS config: failed to get shared config profile, {profile} (not in {} or {})",
                self.credentials_file, self.config_file
            )));
        }
        Ok(self.configured_region(&profile))
    }

    /// The credential source for `cfg` (and its region, see [`Chain::region`]).
    pub(crate) fn resolve(&mut self, cfg: &SigV4Config) -> Result<Source> {
        let env = self.env;
        let env_profile = env("AWS_PROFILE");
        let profile = if cfg.profile.is_empty() {
            env_profile.clone().unwrap_or_else(|| "default".to_owned())
        } else {
            cfg.profile.clone()
        };
        self.region = if cfg.region.is_empty() {
            self.configured_region(&profile)
        } else {
            Some(cfg.region.clone())
        };
        let explicit = !cfg.profile.is_empty() || env_profile.is_some();
        let static_keys = !cfg.access_key.is_empty() && !cfg.secret_key.is_empty();
        // The SDK also fails for a missing profile next to static keys; those keys are
        // used without the profile here.
        if explicit && !static_keys && !self.profile(&profile).exists() {
            return Err(sigv4_err(format!(
                "could not create new AWS session: failed to get shared config profile, {profile} (not in {} or {})",
                self.credentials_file, self.config_file
            )));
        }
        let source = if static_keys {
            Source::Static(Credentials {
                access_key: cfg.access_key.clone(),
                secret_key: cfg.secret_key.expose().to_owned(),
                session_token: String::new(),
            })
        } else if !cfg.profile.is_empty() {
            self.profile_source(&profile, &mut Vec::new())?
        } else if let Some(c) = self.env_credentials() {
            Source::Static(c)
        } else if let Some(token_file) = env("AWS_WEB_IDENTITY_TOKEN_FILE") {
            let role_arn = env("AWS_ROLE_ARN").ok_or_else(|| {
                sigv4_err("could not get SigV4 credentials: AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN (the role ARN) is not")
            })?;
            Source::WebIdentity(WebIdentity {
                token_file,
                role_arn,
                session_name: env("AWS_ROLE_SESSION_NAME").unwrap_or_default(),
                endpoint: self.sts_endpoint()?,
            })
        } else {
            self.profile_source(&profile, &mut Vec::new())?
        };
        Ok(source)
    }

    /// `AWS_ACCESS_KEY_ID` (or `AWS_ACCESS_KEY`), `AWS_SECRET_ACCESS_KEY` (or
    /// `AWS_SECRET_KEY`) and `AWS_SESSION_TOKEN`.
    fn env_credentials(&self) -> Option<Credentials> {
        let env = self.env;
        Some(Credentials {
            access_key: env("AWS_ACCESS_KEY_ID").or_else(|| env("AWS_ACCESS_KEY"))?,
            secret_key: env("AWS_SECRET_ACCESS_KEY").or_else(|| env("AWS_SECRET_KEY"))?,
            session_token: env("AWS_SESSION_TOKEN").unwrap_or_default(),
        })
    }

    /// STS in the region (`sts[-fips].REGION.amazonaws.com[.cn]`), or
    /// `AWS_ENDPOINT_URL_STS`/`AWS_ENDPOINT_URL`.
    pub(crate) fn sts_endpoint(&self) -> Result<Uri> {
        let env = self.env;
        let endpoint = match env("AWS_ENDPOINT_URL_STS").or_else(|| env("AWS_ENDPOINT_URL")) {
            Some(e) => e,
            None => {
                let region = self.region.as_deref().ok_or_else(|| {
                    sigv4_err("region not configured in sigv4 or in default credentials chain")
                })?;
                let fips = if self.use_fips { "-fips" } else { "" };
                let suffix = if region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                format!("https://sts{fips}.{region}.{suffix}/")
            }
        };
        endpoint
            .parse()
            .map_err(|e| sigv4_err(format!("invalid STS endpoint {endpoint:?}: {e}")))
    }

    /// The credentials of profile `name` (`visited`: the profiles on the way here, for
    /// `source_profile` cycles).
    fn profile_source(&self, name: &str, visited: &mut Vec<String>) -> Result<Source> {
        let p = self.profile(name);
        let err = |what: String| {
            sigv4_err(format!(
                "could not get SigV4 credentials: profile {name:?}: {what}"
            ))
        };
        let role_arn = p.get("role_arn");
        if let (Some(token_file), Some(role_arn)) = (p.get("web_identity_token_file"), &role_arn)
            && p.get("source_profile").is_none()
            && p.get("credential_source").is_none()
        {
            return Ok(Source::WebIdentity(WebIdentity {
                token_file,
                role_arn: role_arn.clone(),
                session_name: p.get("role_session_name").unwrap_or_default(),
                endpoint: self.sts_endpoint()?,
            }));
        }
        visited.push(name.to_owned());
        let base = if let (Some(source), Some(_)) = (p.get("source_profile"), &role_arn) {
            if source == name {
                Source::Static(p.static_credentials().ok_or_else(|| {
                    err("source_profile names itself but has no static credentials".into())
                })?)
            } else if visited.contains(&source) {
                return Err(err(format!("source_profile cycle through {source:?}")));
            } else if !self.profile(&source).exists() {
                return Err(err(format!(
                    "source_profile {source:?} not in {} or {}",
                    self.credentials_file, self.config_file
                )));
            } else {
                self.profile_source(&source, visited)?
            }
        } else if let Some(c) = p.static_credentials() {
            Source::Static(c)
        } else if let Some(source) = p.get("credential_source") {
            match source.as_str() {
                "Environment" => Source::Static(
                    self.env_credentials()
                        .ok_or_else(|| err("credential_source Environment, but no AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY".into()))?,
                ),
                "Ec2InstanceMetadata" => Source::Imds(self.imds()),
                "EcsContainer" => Source::Container(self.container()?.ok_or_else(|| {
                    err("credential_source EcsContainer, but no AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI".into())
                })?),
                other => return Err(err(format!("unknown credential_source {other:?}"))),
            }
        } else if p.has_prefix("sso_") {
            Source::Sso(self.sso(&p).map_err(err)?)
        } else if let Some(command) = p.get("credential_process") {
            Source::Process(Process { command })
        } else if let Some(c) = self.container()? {
            Source::Container(c)
        } else {
            Source::Imds(self.imds())
        };
        Ok(match role_arn {
            Some(role_arn) => Source::AssumeRole(Box::new(AssumeRole {
                base: Cached::new(base),
                role_arn,
                external_id: p.get("external_id").unwrap_or_default(),
                session_name: p.get("role_session_name").unwrap_or_default(),
                endpoint: self.sts_endpoint()?,
                region: self.region.clone().unwrap_or_default(),
            })),
            None => base,
        })
    }

    /// The SSO source of a profile with `sso_*` keys: `sso_account_id` and
    /// `sso_role_name`, with `sso_session` (its `[sso-session NAME]` section gives
    /// `sso_region` and `sso_start_url`) or the legacy `sso_start_url` and `sso_region`.
    fn sso(&self, p: &Profile<'_>) -> std::result::Result<Sso, String> {
        let env = self.env;
        let (account_id, role_name) = match (p.get("sso_account_id"), p.get("sso_role_name")) {
            (Some(a), Some(r)) => (a, r),
            _ => return Err("SSO profiles need sso_account_id and sso_role_name".into()),
        };
        let (region, cache_key, refreshable) = if let Some(session) = p.get("sso_session") {
            let section = ini_section(self.config.as_ref(), &format!("sso-session {session}"))
                .ok_or_else(|| {
                    format!(
                        "sso_session {session:?} has no [sso-session {session}] section in {}",
                        self.config_file
                    )
                })?;
            let get = |k: &str| {
                section
                    .iter()
                    .find(|(key, v)| key == k && !v.is_empty())
                    .map(|(_, v)| v.clone())
            };
            let region = get("sso_region")
                .ok_or_else(|| format!("[sso-session {session}] has no sso_region"))?;
            if get("sso_start_url").is_none() {
                return Err(format!("[sso-session {session}] has no sso_start_url"));
            }
            (region, session, true)
        } else {
            match (p.get("sso_start_url"), p.get("sso_region")) {
                (Some(url), Some(region)) => (region, url, false),
                _ => {
                    return Err(
                        "SSO profiles need sso_session, or sso_start_url and sso_region".into(),
                    );
                }
            }
        };
        let digest = ring::digest::digest(
            &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            cache_key.as_bytes(),
        );
        let name: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let home = env("HOME").unwrap_or_default();
        let endpoint = |var: &str, host: &str| {
            env(var).map_or_else(
                || format!("https://{host}.{region}.amazonaws.com"),
                |e| e.trim_end_matches('/').to_owned(),
            )
        };
        Ok(Sso {
            cache_file: format!("{home}/.aws/sso/cache/{name}.json"),
            account_id,
            role_name,
            portal: endpoint("AWS_ENDPOINT_URL_SSO", "portal.sso"),
            oidc: refreshable.then(|| endpoint("AWS_ENDPOINT_URL_SSO_OIDC", "oidc")),
        })
    }

    /// The container endpoint, if the environment names one.
    fn container(&self) -> Result<Option<Container>> {
        let env = self.env;
        let uri = if let Some(relative) = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            format!("{ECS_ENDPOINT}{relative}")
        } else if let Some(full) = env("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            check_container_uri(&full)?;
            full
        } else {
            return Ok(None);
        };
        let uri: Uri = uri.parse().map_err(|e| {
            sigv4_err(format!(
                "could not get SigV4 credentials: invalid container credentials URI {uri:?}: {e}"
            ))
        })?;
        let token = if let Some(file) = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
            ContainerToken::File(file)
        } else if let Some(token) = env("AWS_CONTAINER_AUTHORIZATION_TOKEN") {
            ContainerToken::Inline(token)
        } else {
            ContainerToken::None
        };
        Ok(Some(Container { uri, token }))
    }

    /// The instance metadata service as the environment configures it.
    pub(crate) fn imds(&self) -> Imds {
        let env = self.env;
        let endpoint = env("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|| {
            if env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")
                .is_some_and(|m| m.eq_ignore_ascii_case("ipv6"))
            {
                IMDS_ENDPOINT_V6.to_owned()
            } else {
                IMDS_ENDPOINT.to_owned()
            }
        });
        Imds {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            disabled: env("AWS_EC2_METADATA_DISABLED")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        }
    }
}

/// `AWS_CONTAINER_CREDENTIALS_FULL_URI` must be HTTPS, or HTTP to a loopback address or to
/// the ECS/EKS credential addresses (the SDK's rule: nothing else sees the token).
fn check_container_uri(full: &str) -> Result<()> {
    let err = |what: String| sigv4_err(format!("could not get SigV4 credentials: {what}"));
    let url = url::Url::parse(full).map_err(|e| err(format!("invalid URL, {e}")))?;
    let host = match url.host() {
        Some(h) => h,
        None => {
            return Err(err(
                "unable to parse host from local HTTP cred provider URL".into(),
            ));
        }
    };
    if url.scheme() != "http" {
        return Ok(());
    }
    let allowed = |ip: IpAddr| {
        ip.is_loopback()
            || ip == IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2))
            || ip == IpAddr::V4(Ipv4Addr::new(169, 254, 170, 23))
            || ip == IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23))
    };
    let ok = match host {
        url::Host::Ipv4(ip) => allowed(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => allowed(IpAddr::V6(ip)),
        url::Host::Domain(name) => {
            let addrs: Vec<IpAddr> = (name, 80)
                .to_socket_addrs()
                .map_err(|e| err(format!("failed to resolve host {name:?}, {e}")))?
                .map(|a| a.ip())
                .collect();
            !addrs.is_empty() && addrs.into_iter().all(allowed)
        }
    };
    if ok {
        Ok(())
    } else {
        Err(err(format!(
            "invalid endpoint host, {:?}, only loopback/ecs/eks hosts are allowed",
            host.to_string()
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The source and region the chain picks for `cfg` in environment `env`.
    fn resolve(cfg: &SigV4Config, env: &[(&str, &str)]) -> Result<(Source, Option<String>)> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let env = |n: &str| env.get(n).cloned().filter(|v| !v.is_empty());
        let mut chain = Chain::new(&env, cfg.use_fips_sts_endpoint)?;
        let source = chain.resolve(cfg)?;
        Ok((source, chain.region().map(str::to_owned)))
    }

    fn described(cfg: &SigV4Config, env: &[(&str, &str)]) -> String {
        format!("{:?}", resolve(cfg, env).unwrap().0)
    }

    fn files(credentials: &str, config: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".aws")).unwrap();
        std::fs::write(dir.path().join(".aws/credentials"), credentials).unwrap();
        std::fs::write(dir.path().join(".aws/config"), config).unwrap();
        let home = dir.path().display().to_string();
        (dir, home)
    }

    #[test]
    fn without_keys_the_chain_ends_at_container_then_instance_metadata() {
        let region = SigV4Config {
            region: "eu-west-1".into(),
            ..Default::default()
        };
        let home = [("HOME", "/nonexistent")];
        assert_eq!(
            described(&region, &home),
            "Imds { endpoint: \"http://169.254.169.254\", disabled: false }"
        );
        assert_eq!(
            described(
                &region,
                &[
                    ("HOME", "/nonexistent"),
                    ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9/"),
                    ("AWS_EC2_METADATA_DISABLED", "TRUE"),
                ]
            ),
            "Imds { endpoint: \"http://127.0.0.1:9\", disabled: true }"
        );
        assert_eq!(
            described(
                &region,
                &[
                    ("HOME", "/nonexistent"),
                    ("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6")
                ]
            ),
            "Imds { endpoint: \"http://[fd00:ec2::254]\", disabled: false }"
        );
        // The relative container URI wins over the full one.
        let s = described(
            &region,
            &[
                ("HOME", "/nonexistent"),
                (
                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                    "/v2/credentials/x",
                ),
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/"),
            ],
        );
        assert!(
            s.contains("uri: \"http://169.254.170.2/v2/credentials/x\""),
            "{s}"
        );
        // Environment keys come before all of them, web identity next.
        let s = described(
            &region,
            &[
                ("HOME", "/nonexistent"),
                ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/x"),
                ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
                ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
                ("AWS_ACCESS_KEY_ID", "ENVKEY"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
            ],
        );
        assert!(s.starts_with("Static(\"ENVKEY\""), "{s}");
        let s = described(
            &region,
            &[
                ("HOME", "/nonexistent"),
                ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/x"),
                ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
                ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
            ],
        );
        assert_eq!(
            s,
            "WebIdentity { token_file: \"/var/run/token\", role_arn: \"arn:aws:iam::1:role/r\", endpoint: \"https://sts.eu-west-1.amazonaws.com/\", .. }"
        );
        let err = resolve(
            &region,
            &[
                ("HOME", "/nonexistent"),
                ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("AWS_ROLE_ARN"), "{err}");
    }

    #[test]
    fn full_container_uris_must_stay_on_the_host_or_use_https() {
        for ok in [
            "http://127.0.0.1:8080/creds",
            "http://localhost/creds",
            "http://[::1]/creds",
            "http://169.254.170.23/v1/credentials",
            "https://creds.example/",
        ] {
            check_container_uri(ok).unwrap();
        }
        let err = check_container_uri("http://192.0.2.1/creds")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "could not get SigV4 credentials: invalid endpoint host, \"192.0.2.1\", only loopback/ecs/eks hosts are allowed"
        );
        assert!(check_container_uri("not a url").is_err());
    }

    #[test]
    fn profiles_assume_roles_from_sources_and_web_identity() {
        let (_dir, home) = files(
            "[base]\naws_access_key_id = BASEKEY\naws_secret_access_key = b\n",
            "[default]\nregion = eu-central-1\n\
             [profile chained]\nrole_arn = arn:aws:iam::1:role/chained\nsource_profile = base\nexternal_id = ext\n\
             [profile selfish]\nrole_arn = arn:aws:iam::1:role/self\nsource_profile = selfish\naws_access_key_id = SELF\naws_secret_access_key = s\n\
             [profile instance]\nrole_arn = arn:aws:iam::1:role/i\ncredential_source = Ec2InstanceMetadata\n\
             [profile irsa]\nrole_arn = arn:aws:iam::1:role/w\nweb_identity_token_file = /t\nrole_session_name = sess\n\
             [profile loop1]\nrole_arn = arn:aws:iam::1:role/l\nsource_profile = loop2\n\
             [profile loop2]\nrole_arn = arn:aws:iam::1:role/l\nsource_profile = loop1\n\
             [profile sso]\nsso_start_url = https://x.awsapps.com/start\nsso_role_name = r\n\
             [profile legacy]\nsso_start_url = https://x.awsapps.com/start\nsso_region = us-east-1\nsso_account_id = 111\nsso_role_name = r\n\
             [profile session]\nsso_session = corp\nsso_account_id = 222\nsso_role_name = admin\n\
             [sso-session corp]\nsso_region = eu-west-1\nsso_start_url = https://corp.awsapps.com/start\n\
             [profile process]\ncredential_process = /bin/creds\n\
             [profile regiononly]\nregion = ap-south-1\n",
        );
        let profile = |name: &str| SigV4Config {
            profile: name.into(),
            ..Default::default()
        };
        let env = [("HOME", home.as_str()), ("AWS_REGION", "eu-central-1")];
        let s = described(&profile("chained"), &env);
        assert!(
            s.starts_with("AssumeRole { role_arn: \"arn:aws:iam::1:role/chained\", endpoint: \"https://sts.eu-central-1.amazonaws.com/\", base: Static(\"BASEKEY\""),
            "{s}"
        );
        assert!(described(&profile("selfish"), &env).contains("base: Static(\"SELF\""));
        assert!(
            described(&profile("instance"), &env)
                .contains("base: Imds { endpoint: \"http://169.254.169.254\"")
        );
        assert!(described(&profile("irsa"), &env).starts_with("WebIdentity { token_file: \"/t\""));
        // SSO tokens are cached under the SHA-1 of the start URL (legacy) or the session
        // name; only sessions' tokens are refreshed.
        assert_eq!(
            described(&profile("legacy"), &env),
            format!(
                "Sso {{ cache_file: \"{home}/.aws/sso/cache/{}.json\", account_id: \"111\", role_name: \"r\", portal: \"https://portal.sso.us-east-1.amazonaws.com\", refreshable: false }}",
                "3947de8b16688092197fa616c34e01335f21d256"
            )
        );
        let s = described(&profile("session"), &env);
        assert!(
            s.contains("portal: \"https://portal.sso.eu-west-1.amazonaws.com\""),
            "{s}"
        );
        assert!(s.contains("refreshable: true"), "{s}");
        assert_eq!(
            described(&profile("process"), &env),
            "Process { command: \"/bin/creds\" }"
        );
        // A profile without credentials falls back to the instance, in its own region.
        let (source, region) = resolve(&profile("regiononly"), &env[..1]).unwrap();
        assert_eq!(region.as_deref(), Some("ap-south-1"));
        assert!(format!("{source:?}").starts_with("Imds"));
        for (name, want) in [
            ("loop1", "source_profile cycle"),
            ("sso", "SSO profiles need sso_account_id and sso_role_name"),
            ("missing", "failed to get shared config profile, missing"),
        ] {
            let err = resolve(&profile(name), &env).unwrap_err().to_string();
            assert!(err.contains(want), "{name}: {err}");
        }
        // AWS_PROFILE is the profile when the config names none, after the environment's
        // keys; a missing one fails too.
        let s = described(
            &SigV4Config::default(),
            &[
                ("HOME", home.as_str()),
                ("AWS_PROFILE", "chained"),
                ("AWS_REGION", "r"),
            ],
        );
        assert!(s.starts_with("AssumeRole"), "{s}");
        let s = described(
            &SigV4Config::default(),
            &[
                ("HOME", home.as_str()),
                ("AWS_PROFILE", "chained"),
                ("AWS_ACCESS_KEY_ID", "ENVKEY"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
            ],
        );
        assert!(s.starts_with("Static(\"ENVKEY\""), "{s}");
        let err = resolve(
            &SigV4Config::default(),
            &[("HOME", home.as_str()), ("AWS_PROFILE", "nope")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("failed to get shared config profile, nope"),
            "{err}"
        );
    }
}
