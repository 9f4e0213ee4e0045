//! Where the Azure discovery's access tokens come from: client credentials, a managed
//! identity, workload identity federation, the Azure CLI, and for the `SDK` method the
//! chain of them azidentity's `DefaultAzureCredential` tries.
//!
//! The `SDK` chain is, in order: the environment's client secret (`AZURE_CLIENT_ID`,
//! `AZURE_CLIENT_SECRET`, with `tenant_id` or `AZURE_TENANT_ID`); workload identity
//! (`AZURE_FEDERATED_TOKEN_FILE`, `AZURE_CLIENT_ID`, `tenant_id` or `AZURE_TENANT_ID`: the
//! file's token, read at every request, sent as a client assertion); the managed identity
//! (`AZURE_CLIENT_ID` as its client id; the instance metadata service is first probed with
//! a one-second request); the Azure CLI (`az account get-access-token`). A member that is
//! not configured or not there (no IMDS, no `az`, not logged in) hands over to the next;
//! one that fails to authenticate ends the chain with its error; the first to give a token
//! is the only one asked afterwards. `AZURE_TOKEN_CREDENTIALS` narrows the chain as in
//! azidentity: `prod` (the first three), `dev` (the CLI) or one member's name.
//! `AZURE_POD_IDENTITY_AUTHORITY_HOST` replaces the metadata service's host, as in
//! azidentity.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use config::discovery::AzureSdConfig;

use crate::api;
use crate::util::{Answer, encode_query};

/// The instance metadata service's token path.
const IMDS_PATH: &str = "/metadata/identity/oauth2/token";
/// The instance metadata service.
const IMDS_HOST: &str = "http://169.254.169.254";
/// How long the chain's probe of the metadata service may take.
const IMDS_PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long `az account get-access-token` may run (azidentity's limit).
const CLI_TIMEOUT: Duration = Duration::from_secs(10);
/// A CLI token's lifetime when the CLI does not say (old versions print only a local
/// time): it is asked again this often.
const CLI_FALLBACK_LIFETIME: u64 = 300;

/// How tokens are obtained.
#[derive(Debug, Clone)]
pub(super) enum Credential {
    /// Client credentials at the authority.
    Secret {
        tenant: String,
        client_id: String,
        secret: String,
    },
    /// A managed identity (with a user-assigned client id when not empty).
    Managed {
        client_id: String,
        /// `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` (App Service, Arc), else the IMDS.
        endpoint: Option<(String, String)>,
        /// The IMDS token URL.
        imds: String,
    },
    /// Workload identity federation: the token in `token_file` as a client assertion.
    Workload {
        tenant: String,
        client_id: String,
        token_file: String,
    },
    /// `az account get-access-token`, found through `path` (the process's `PATH` when
    /// `None`).
    Cli {
        tenant: String,
        path: Option<String>,
    },
    /// `DefaultAzureCredential`: the members tried in order.
    Default(Vec<Member>),
}

/// One member of the `SDK` chain: its name in errors and the credential, or why it is
/// not configured.
#[derive(Debug, Clone)]
pub(super) struct Member {
    name: &'static str,
    credential: Result<Credential, String>,
}

/// What one credential's try gave.
enum Attempt {
    /// A token and its lifetime in seconds.
    Token(String, u64),
    /// Not configured or not there: the chain goes on.
    Unavailable(String),
    /// Authentication failed: the chain stops.
    Failed(String),
}

/// What a token request needs of the provider.
pub(super) struct Ctx<'a> {
    pub(super) client: &'a httpclient::HttpClient,
    pub(super) timeout: Duration,
    /// The login host, with a trailing slash.
    pub(super) authority: &'a str,
    /// The Resource Manager audience (`<audience>/.default` is the scope asked).
    pub(super) audience: &'a str,
}

/// A token answer; `expires_in` is a number from the authority and a string from IMDS.
#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: serde_json::Value,
}

/// The credential `cfg` asks for, with `var` giving the (non-empty) environment variables.
///
/// # Errors
/// `AZURE_TOKEN_CREDENTIALS` names no member of the `SDK` chain.
pub(super) fn from_config(
    cfg: &AzureSdConfig,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Credential, String> {
    let imds = var("AZURE_POD_IDENTITY_AUTHORITY_HOST").map_or_else(
        || format!("{IMDS_HOST}{IMDS_PATH}"),
        |host| format!("{}{IMDS_PATH}", host.trim_end_matches('/')),
    );
    let managed = |client_id: String| Credential::Managed {
        client_id,
        endpoint: var("IDENTITY_ENDPOINT").zip(var("IDENTITY_HEADER")),
        imds: imds.clone(),
    };
    let tenant = || {
        if cfg.tenant_id.is_empty() {
            var("AZURE_TENANT_ID")
        } else {
            Some(cfg.tenant_id.clone())
        }
    };
    Ok(match cfg.authentication_method.as_str() {
        "ManagedIdentity" => managed(cfg.client_id.clone()),
        "SDK" => {
            let client_id = var("AZURE_CLIENT_ID");
            let environment = match (&client_id, var("AZURE_CLIENT_SECRET")) {
                (Some(client_id), Some(secret)) => Ok(Credential::Secret {
                    tenant: tenant().unwrap_or_default(),
                    client_id: client_id.clone(),
                    secret,
                }),
                (None, _) => Err("missing environment variable AZURE_CLIENT_ID".to_owned()),
                (Some(_), None) => Err(
                    "incomplete environment variable configuration: AZURE_CLIENT_SECRET is not set"
                        .to_owned(),
                ),
            };
            let workload = match (var("AZURE_FEDERATED_TOKEN_FILE"), &client_id, tenant()) {
                (None, _, _) => Err("no token file specified. Check pod configuration or set TokenFilePath in the options".to_owned()),
                (_, None, _) => Err("no client ID specified. Check pod configuration or set ClientID in the options".to_owned()),
                (_, _, None) => Err("no tenant ID specified. Check pod configuration or set TenantID in the options".to_owned()),
                (Some(token_file), Some(client_id), Some(tenant)) => Ok(Credential::Workload {
                    tenant,
                    client_id: client_id.clone(),
                    token_file,
                }),
            };
            let members = vec![
                Member {
                    name: "EnvironmentCredential",
                    credential: environment,
                },
                Member {
                    name: "WorkloadIdentityCredential",
                    credential: workload,
                },
                Member {
                    name: "ManagedIdentityCredential",
                    credential: Ok(managed(client_id.clone().unwrap_or_default())),
                },
                Member {
                    name: "AzureCLICredential",
                    credential: Ok(Credential::Cli {
                        tenant: tenant().unwrap_or_default(),
                        path: var("PATH"),
                    }),
                },
            ];
            Credential::Default(narrowed(members, var("AZURE_TOKEN_CREDENTIALS"))?)
        }
        _ => Credential::Secret {
            tenant: cfg.tenant_id.clone(),
            client_id: cfg.client_id.clone(),
            secret: cfg.client_secret.expose().to_owned(),
        },
    })
}

/// The members `AZURE_TOKEN_CREDENTIALS` keeps: all when unset, the deployed ones for
/// `prod`, the developer's for `dev`, else the one it names (in any case).
fn narrowed(members: Vec<Member>, choice: Option<String>) -> Result<Vec<Member>, String> {
    let Some(choice) = choice else {
        return Ok(members);
    };
    let keep: Vec<Member> = match choice.to_lowercase().as_str() {
        "prod" => members
            .into_iter()
            .filter(|m| m.name != "AzureCLICredential")
            .collect(),
        "dev" => members
            .into_iter()
            .filter(|m| m.name == "AzureCLICredential")
            .collect(),
        name => members
            .into_iter()
            .filter(|m| m.name.eq_ignore_ascii_case(name))
            .collect(),
    };
    if keep.is_empty() {
        return Err(format!(
            "invalid AZURE_TOKEN_CREDENTIALS value {choice:?}. Valid values are \"dev\", \"prod\", or the name of any credential type in the default chain"
        ));
    }
    Ok(keep)
}

/// The token of a token endpoint's answer, `what` naming the credential in errors.
fn token_of(what: &str, a: &Answer) -> Result<(String, u64), String> {
    if !a.status.is_success() {
        return Err(format!(
            "{what} authentication failed: {} {}: {}",
            a.status.as_u16(),
            a.status.canonical_reason().unwrap_or_default(),
            String::from_utf8_lossy(&a.body).trim()
        ));
    }
    let t: TokenAnswer = serde_json::from_slice(&a.body)
        .map_err(|e| format!("{what}: decoding the token answer: {e}"))?;
    let secs = match &t.expires_in {
        serde_json::Value::Number(n) => n.as_u64().unwrap_or_default(),
        serde_json::Value::String(s) => s.parse().unwrap_or_default(),
        _ => 0,
    };
    Ok((t.access_token, secs))
}

impl Attempt {
    fn from_result(r: Result<(String, u64), String>) -> Attempt {
        match r {
            Ok((t, secs)) => Attempt::Token(t, secs),
            Err(e) => Attempt::Failed(e),
        }
    }
}

impl Credential {
    /// A token and its lifetime in seconds. For the `SDK` chain, `chosen` remembers the
    /// member that gave one.
    ///
    /// # Errors
    /// Authentication failed, or (the chain) no member is available, worded as azidentity.
    pub(super) async fn token(
        &self,
        ctx: &Ctx<'_>,
        chosen: &Mutex<Option<usize>>,
    ) -> Result<(String, u64), String> {
        let Credential::Default(members) = self else {
            return match self.attempt(ctx, false).await {
                Attempt::Token(t, secs) => Ok((t, secs)),
                Attempt::Unavailable(e) | Attempt::Failed(e) => Err(e),
            };
        };
        let remembered = *chosen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = remembered
            && let Some(Member {
                credential: Ok(c), ..
            }) = members.get(i)
        {
            return match c.attempt(ctx, false).await {
                Attempt::Token(t, secs) => Ok((t, secs)),
                Attempt::Unavailable(e) | Attempt::Failed(e) => Err(e),
            };
        }
        let mut tried = Vec::new();
        for (i, m) in members.iter().enumerate() {
            let attempt = match &m.credential {
                Ok(c) => c.attempt(ctx, true).await,
                Err(why) => Attempt::Unavailable(why.clone()),
            };
            match attempt {
                Attempt::Token(t, secs) => {
                    *chosen.lock().unwrap_or_else(|e| e.into_inner()) = Some(i);
                    return Ok((t, secs));
                }
                Attempt::Unavailable(why) => tried.push(format!("\t{}: {why}", m.name)),
                Attempt::Failed(e) => return Err(e),
            }
        }
        Err(format!(
            "DefaultAzureCredential: failed to acquire a token.\nAttempted credentials:\n{}",
            tried.join("\n")
        ))
    }

    /// One try of this (non-chain) credential; `in_chain` makes an absent metadata
    /// service or CLI unavailable rather than failed.
    async fn attempt(&self, ctx: &Ctx<'_>, in_chain: bool) -> Attempt {
        let scope = format!("{}/.default", ctx.audience);
        match self {
            Credential::Secret {
                tenant,
                client_id,
                secret,
            } => {
                let form = encode_query(&[
                    ("client_id".to_owned(), client_id.clone()),
                    ("client_secret".to_owned(), secret.clone()),
                    ("grant_type".to_owned(), "client_credentials".to_owned()),
                    ("scope".to_owned(), scope),
                ]);
                Attempt::from_result(
                    post_form(ctx, tenant, form)
                        .await
                        .and_then(|a| token_of("ClientSecretCredential", &a)),
                )
            }
            Credential::Workload {
                tenant,
                client_id,
                token_file,
            } => {
                let assertion = match std::fs::read_to_string(token_file) {
                    Ok(t) => t.trim().to_owned(),
                    Err(e) => {
                        return Attempt::Failed(format!(
                            "WorkloadIdentityCredential: failed to read the federated token file {token_file}: {e}"
                        ));
                    }
                };
                let form = encode_query(&[
                    ("client_assertion".to_owned(), assertion),
                    (
                        "client_assertion_type".to_owned(),
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
                    ),
                    ("client_id".to_owned(), client_id.clone()),
                    ("grant_type".to_owned(), "client_credentials".to_owned()),
                    ("scope".to_owned(), scope),
                ]);
                Attempt::from_result(
                    post_form(ctx, tenant, form)
                        .await
                        .and_then(|a| token_of("WorkloadIdentityCredential", &a)),
                )
            }
            Credential::Managed {
                client_id,
                endpoint,
                imds,
            } => managed(ctx, client_id, endpoint.as_ref(), imds, in_chain).await,
            Credential::Cli { tenant, path } => cli(ctx.audience, tenant, path.clone()).await,
            Credential::Default(_) => Attempt::Failed(
                "DefaultAzureCredential: a chain cannot be a member of a chain".to_owned(),
            ),
        }
    }
}

/// POSTs a form to the tenant's token endpoint.
async fn post_form(ctx: &Ctx<'_>, tenant: &str, form: String) -> Result<Answer, String> {
    api::send(
        ctx.client,
        http::Method::POST,
        &format!("{}{tenant}/oauth2/v2.0/token", ctx.authority),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Bytes::from(form),
        ctx.timeout,
    )
    .await
}

/// A managed identity's token: from `IDENTITY_ENDPOINT` when set, else the metadata
/// service (probed first in the chain, where an absent service or one without an identity
/// is unavailable).
async fn managed(
    ctx: &Ctx<'_>,
    client_id: &str,
    endpoint: Option<&(String, String)>,
    imds: &str,
    in_chain: bool,
) -> Attempt {
    const WHAT: &str = "ManagedIdentityCredential";
    let mut params = vec![("resource".to_owned(), ctx.audience.to_owned())];
    if !client_id.is_empty() {
        params.push(("client_id".to_owned(), client_id.to_owned()));
    }
    let (url, headers) = match endpoint {
        Some((url, header)) => {
            params.push(("api-version".to_owned(), "2019-08-01".to_owned()));
            (url.clone(), vec![("X-IDENTITY-HEADER", header.as_str())])
        }
        None => {
            if in_chain
                && let Err(e) = api::send(
                    ctx.client,
                    http::Method::GET,
                    imds,
                    &[],
                    Bytes::new(),
                    IMDS_PROBE_TIMEOUT,
                )
                .await
            {
                return Attempt::Unavailable(format!("no response from the IMDS endpoint: {e}"));
            }
            params.push(("api-version".to_owned(), "2018-02-01".to_owned()));
            (imds.to_owned(), vec![("Metadata", "true")])
        }
    };
    let url = format!("{url}?{}", encode_query(&params));
    let a = match api::send(
        ctx.client,
        http::Method::GET,
        &url,
        &headers,
        Bytes::new(),
        ctx.timeout,
    )
    .await
    {
        Ok(a) => a,
        Err(e) => return Attempt::Failed(e),
    };
    if in_chain && endpoint.is_none() && a.status == http::StatusCode::BAD_REQUEST {
        return Attempt::Unavailable(format!(
            "the IMDS endpoint answered 400 Bad Request (no identity is assigned to this resource): {}",
            String::from_utf8_lossy(&a.body).trim()
        ));
    }
    Attempt::from_result(token_of(WHAT, &a))
}

/// `az account get-access-token` for `audience` (and `tenant` when set), run without a
/// shell; its JSON's `accessToken` and `expires_on`.
async fn cli(audience: &str, tenant: &str, path: Option<String>) -> Attempt {
    const WHAT: &str = "AzureCLICredential";
    let mut args = vec![
        "account".to_owned(),
        "get-access-token".to_owned(),
        "-o".to_owned(),
        "json".to_owned(),
        "--resource".to_owned(),
        audience.to_owned(),
    ];
    if !tenant.is_empty() {
        args.push("--tenant".to_owned());
        args.push(tenant.to_owned());
    }
    let mut cmd = std::process::Command::new("az");
    cmd.args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(path) = path {
        cmd.env("PATH", path);
    }
    let output = match cmd.spawn() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Attempt::Unavailable("Azure CLI not found on path".to_owned());
        }
        Err(e) => return Attempt::Failed(format!("{WHAT}: cannot run az: {e}")),
        Ok(child) => match wait_killing_late(child, CLI_TIMEOUT).await {
            Ok(o) => o,
            Err(e) => return Attempt::Failed(format!("{WHAT}: {e}")),
        },
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        if stderr.contains("az login") || stderr.contains("az account set") {
            return Attempt::Unavailable("Please run 'az login' to set up account".to_owned());
        }
        return Attempt::Failed(format!("{WHAT}: {stderr}"));
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct CliToken {
        access_token: String,
        #[serde(rename = "expires_on")]
        expires_on: Option<u64>,
    }
    let t: CliToken = match serde_json::from_slice(&output.stdout) {
        Ok(t) => t,
        Err(e) => return Attempt::Failed(format!("{WHAT}: decoding the output of az: {e}")),
    };
    if t.access_token.is_empty() {
        return Attempt::Failed(format!("{WHAT}: az printed no accessToken"));
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let secs = t
        .expires_on
        .map_or(CLI_FALLBACK_LIFETIME, |at| at.saturating_sub(now));
    Attempt::Token(t.access_token, secs)
}

/// The output of `child` (whose output is small: it is read once it has exited), killed
/// when it runs longer than `limit`.
async fn wait_killing_late(
    mut child: std::process::Child,
    limit: Duration,
) -> Result<std::process::Output, String> {
    use std::io::Read as _;
    let deadline = tokio::time::Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {limit:?}"));
            }
            Err(e) => return Err(format!("waiting for az: {e}")),
        }
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    if let Some(mut out) = child.stdout.take() {
        out.read_to_end(&mut stdout)
            .map_err(|e| format!("reading the output of az: {e}"))?;
    }
    if let Some(mut err) = child.stderr.take() {
        err.read_to_end(&mut stderr)
            .map_err(|e| format!("reading the errors of az: {e}"))?;
    }
    Ok(std::process::Output {
        status,
        stdout,
        stderr,
    })
}
