//! What the AWS discoveries (EC2, ECS, MSK, RDS, ElastiCache, MQ, Lightsail) share: their
//! signing clients made at the first refresh ([`LazyClients`]), the AWS query protocol
//! (form POST, XML answer, errors worded as the AWS SDK for Go words them), XML helpers,
//! Go's RFC 3339 rendering of AWS timestamps, and `request_concurrency`'s bounded fan-out
//! of requests.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use roxmltree::Node;

use config::discovery::AwsSdConfig;

use crate::api;
use crate::ec2::{default_endpoint, region, sigv4_config};
use crate::util::encode_query;

/// The region, API endpoint and signing clients of one AWS discovery.
#[derive(Debug)]
pub(crate) struct Clients {
    /// `region`, else the default config's or the instance's ([`region`]).
    pub(crate) region: String,
    /// `endpoint`, else the region's public endpoint of the first service.
    pub(crate) endpoint: String,
    /// One client per service [`LazyClients`] was made for, in that order, all sharing one
    /// credentials cache (one fetch, one `role_arn` assumption).
    pub(crate) signing: Vec<httpclient::HttpClient>,
}

/// [`Clients`] made at the first refresh, as upstream's `init*Client` makes them: creating
/// a provider never waits for credentials (the instance metadata service can take seconds
/// to time out off AWS), and a failure (no region, no credentials, unusable HTTP options)
/// fails that refresh, counted in `prometheus_sd_refresh_failures_total`, and is tried
/// again at the next one.
#[derive(Debug)]
pub(crate) struct LazyClients {
    cfg: AwsSdConfig,
    /// The SD's name in errors (`EC2`).
    what: &'static str,
    /// The services signed for; the first one's endpoint is the API endpoint.
    services: &'static [&'static str],
    cell: tokio::sync::OnceCell<Clients>,
}

impl LazyClients {
    /// Clients for `services` (at least one) with the options of `cfg`, made when first
    /// asked for.
    pub(crate) fn new(
        cfg: &AwsSdConfig,
        what: &'static str,
        services: &'static [&'static str],
    ) -> LazyClients {
        LazyClients {
            cfg: cfg.clone(),
            what,
            services,
            cell: tokio::sync::OnceCell::new(),
        }
    }

    /// The clients, made now when no earlier call succeeded. Fetching the first
    /// credentials may block (files, a credential process, metadata endpoints), so that
    /// happens on a blocking thread.
    ///
    /// # Errors
    /// No region, no usable credentials, or unusable HTTP client options.
    pub(crate) async fn get(&self) -> Result<&Clients, String> {
        self.cell
            .get_or_try_init(|| async {
                let (cfg, what, services) = (self.cfg.clone(), self.what, self.services);
                tokio::task::spawn_blocking(move || Clients::build(&cfg, what, services))
                    .await
                    .map_err(|e| format!("could not create the {what} client: {e}"))?
            })
            .await
    }
}

/// The credential test an AWS discovery makes once, on its first refresh, as upstream
/// does: one cheap call that must succeed before the real listing (retried at later
/// refreshes until it does).
#[derive(Debug, Default)]
pub(crate) struct CredentialCheck(tokio::sync::OnceCell<()>);

impl CredentialCheck {
    /// Runs `probe` unless an earlier one succeeded.
    ///
    /// # Errors
    /// The probe's error as `<what> credential test failed: <error>`.
    pub(crate) async fn once<T, Fut>(
        &self,
        what: &str,
        probe: impl FnOnce() -> Fut,
    ) -> Result<(), String>
    where
        Fut: Future<Output = Result<T, String>>,
    {
        self.0
            .get_or_try_init(|| async {
                probe()
                    .await
                    .map(drop)
                    .map_err(|e| format!("{what} credential test failed: {e}"))
            })
            .await
            .map(drop)
    }
}

impl Clients {
    /// `what` names the clients' dialer, as Go names its AWS SDs' (`ec2_sd`).
    fn build(cfg: &AwsSdConfig, what: &str, services: &[&'static str]) -> Result<Clients, String> {
        let service = services.first().copied().unwrap_or_default();
        let region = region(cfg, &|name| std::env::var(name).ok())?;
        let signing = httpclient::HttpClient::with_sigv4_services(
            &cfg.http_client_config,
            &sigv4_config(cfg, &region, service),
            services,
        )
        .map_err(|e| format!("could not create aws config: {e}"))?;
        let dialer = format!("{}_sd", what.to_lowercase());
        let signing = signing.into_iter().map(|c| c.named(&dialer)).collect();
        Ok(Clients {
            endpoint: if cfg.endpoint.is_empty() {
                default_endpoint(service, &region)
            } else {
                cfg.endpoint.clone()
            },
            region,
            signing,
        })
    }

    /// The client signing for the `i`th service (0-based) [`LazyClients`] was made for.
    pub(crate) fn nth(&self, i: usize) -> &httpclient::HttpClient {
        self.signing
            .get(i)
            .expect("callers ask only for the services their LazyClients were made for")
    }

    /// The client signing for the first service.
    pub(crate) fn client(&self) -> &httpclient::HttpClient {
        self.signing
            .first()
            .expect("LazyClients are made for at least one service")
    }
}

/// Runs `f` on every item with at most `limit` futures in flight (Go's `errgroup` with
/// `SetLimit`), returning the outputs in the items' order.
pub(crate) async fn bounded<T, F, Fut>(
    limit: usize,
    items: impl IntoIterator<Item = T>,
    f: F,
) -> Vec<Fut::Output>
where
    F: FnMut(T) -> Fut,
    Fut: Future,
{
    futures::stream::iter(items)
        .map(f)
        .buffered(limit.max(1))
        .collect()
        .await
}

/// The element child `name` of `n`.
pub(crate) fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

/// The text of the element child `name` of `n` (empty for an empty element), if present.
pub(crate) fn text(n: Node<'_, '_>, name: &str) -> Option<String> {
    child(n, name).map(|c| c.text().unwrap_or_default().to_owned())
}

/// The element children of the child `name` of `n` (a list, whatever its members' tag).
pub(crate) fn members<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Vec<Node<'a, 'i>> {
    child(n, name)
        .map(|s| s.children().filter(Node::is_element).collect())
        .unwrap_or_default()
}

/// An AWS timestamp (ISO 8601, as the query and REST-JSON protocols send them) as Go's
/// `time.Format(time.RFC3339)` prints it: whole seconds, the zone kept (`Z` or an offset).
pub(crate) fn rfc3339(s: &str) -> String {
    let s = s.trim();
    if s.len() < 19 || !s.is_char_boundary(19) {
        return s.to_owned();
    }
    let (base, rest) = s.split_at(19);
    let rest = match rest.strip_prefix('.') {
        Some(r) => r.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => rest,
    };
    let zone = if rest.is_empty() || rest.eq_ignore_ascii_case("z") || rest == "+00:00" {
        "Z"
    } else {
        rest
    };
    format!("{base}{zone}")
}

/// GETs `path` with `query` of a REST-JSON API (MSK, MQ) from `clients`' endpoint and
/// decodes the JSON answer. `service` is the SDK's service id in errors (`Kafka`, `mq`).
///
/// # Errors
/// A failed exchange, an unsuccessful answer or an undecodable one, worded as the AWS SDK
/// words them.
pub(crate) async fn rest_json_get<T: serde::de::DeserializeOwned>(
    clients: &Clients,
    service: &str,
    op: &str,
    path: &str,
    query: &[(String, String)],
    timeout: Duration,
) -> Result<T, String> {
    let mut url = format!("{}{path}", clients.endpoint.trim_end_matches('/'));
    if !query.is_empty() {
        url = format!("{url}?{}", encode_query(query));
    }
    let a = api::send(
        clients.client(),
        http::Method::GET,
        &url,
        &[
            ("Accept", "application/json"),
            ("User-Agent", httpclient::USER_AGENT),
        ],
        Bytes::new(),
        timeout,
    )
    .await
    .map_err(|e| format!("operation error {service}: {op}, {e}"))?;
    if !a.status.is_success() {
        let err: serde_json::Value = serde_json::from_slice(&a.body).unwrap_or_default();
        let message = err
            .get("message")
            .or_else(|| err.get("Message"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let code = a.header("x-amzn-errortype");
        return Err(format!(
            "operation error {service}: {op}, https response error StatusCode: {}, RequestID: {}, api error {}: {message}",
            a.status.as_u16(),
            a.header("x-amzn-requestid"),
            code.split(':').next().unwrap_or_default(),
        ));
    }
    serde_json::from_slice(&a.body)
        .map_err(|e| format!("operation error {service}: {op}, decoding the answer: {e}"))
}

/// POSTs one query-protocol `action` of API `version` (form-encoded) to `endpoint` and
/// returns its XML answer. `service` is the SDK's service id in errors (`EC2`, `RDS`,
/// `ElastiCache`).
///
/// # Errors
/// A failed exchange or an unsuccessful answer, worded as the AWS SDK words them.
pub(crate) async fn query(
    client: &httpclient::HttpClient,
    endpoint: &str,
    service: &str,
    action: &str,
    version: &str,
    params: Vec<(String, String)>,
    timeout: Duration,
) -> Result<String, String> {
    let mut form = vec![
        ("Action".to_owned(), action.to_owned()),
        ("Version".to_owned(), version.to_owned()),
    ];
    form.extend(params);
    let url = format!("{}/", endpoint.trim_end_matches('/'));
    let a = api::send(
        client,
        http::Method::POST,
        &url,
        &[
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("User-Agent", httpclient::USER_AGENT),
        ],
        Bytes::from(encode_query(&form)),
        timeout,
    )
    .await
    .map_err(|e| format!("operation error {service}: {action}, {e}"))?;
    if !a.status.is_success() {
        return Err(query_error(service, action, a.status, &a.body));
    }
    String::from_utf8(a.body.to_vec())
        .map_err(|e| format!("operation error {service}: {action}, answer is not UTF-8: {e}"))
}

/// The error of an unsuccessful query answer, as the AWS SDK words it.
fn query_error(service: &str, action: &str, status: http::StatusCode, body: &[u8]) -> String {
    let body = String::from_utf8_lossy(body);
    let (mut code, mut message, mut request_id) = (String::new(), String::new(), String::new());
    if let Ok(doc) = roxmltree::Document::parse(&body) {
        for n in doc.descendants().filter(Node::is_element) {
            match n.tag_name().name() {
                "Code" if code.is_empty() => code = n.text().unwrap_or_default().to_owned(),
                "Message" if message.is_empty() => {
                    message = n.text().unwrap_or_default().to_owned();
                }
                "RequestID" | "RequestId" | "requestId" => {
                    request_id = n.text().unwrap_or_default().to_owned();
                }
                _ => {}
            }
        }
    }
    format!(
        "operation error {service}: {action}, https response error StatusCode: {}, RequestID: {request_id}, api error {code}: {message}",
        status.as_u16()
    )
}

/// How one XML field becomes a label value, as upstream's `set*Label` helpers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    /// A string: set when present, even empty.
    Str,
    /// An enumeration: set when present and not empty.
    Enum,
    /// A boolean or a number: set when present, trimmed.
    Scalar,
    /// A timestamp: set when present, in Go's RFC 3339 form.
    Time,
}

/// Sets `prefix + label` in `out` from the child `element` of `n` as `kind` says.
pub(crate) fn put_field(
    out: &mut std::collections::BTreeMap<String, String>,
    n: Node<'_, '_>,
    prefix: &str,
    label: &str,
    element: &str,
    kind: Field,
) {
    let Some(v) = text(n, element) else {
        return;
    };
    let v = match kind {
        Field::Str => v,
        Field::Enum if v.is_empty() => return,
        Field::Enum => v,
        Field::Scalar => v.trim().to_owned(),
        Field::Time => rfc3339(&v),
    };
    out.insert(format!("{prefix}{label}"), v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A profile no shared AWS file has: the credentials lookup fails at once, without
    /// asking any endpoint.
    const NO_PROFILE: &str = "prometheus-rs-test-no-such-profile";

    fn no_credentials(block: &str) -> config::Config {
        config::Config::load_str(
            &format!(
                "scrape_configs:\n- job_name: j\n  {block}:\n  - region: eu-west-1\n    profile: {NO_PROFILE}\n    endpoint: http://127.0.0.1:1\n    refresh_interval: 50ms\n"
            ),
            "",
        )
        .unwrap()
    }

    #[tokio::test]
    async fn providers_are_created_without_credentials_and_fail_at_refresh() {
        use config::ServiceDiscoveryConfig as S;
        for block in [
            "ec2_sd_configs",
            "ecs_sd_configs",
            "msk_sd_configs",
            "rds_sd_configs",
            "elasticache_sd_configs",
            "lightsail_sd_configs",
            "mq_sd_configs",
        ] {
            let cfg = no_credentials(block);
            let sd = &cfg.scrape_configs[0].service_discovery_configs.0[0];
            // Creating needs nothing; the first refresh looks the credentials up, and
            // every refresh after a failure does again.
            for _ in 0..2 {
                let err = match sd {
                    S::Ec2(c) => crate::ec2::Discovery::new(c).unwrap().refresh().await,
                    S::Ecs(c) => crate::ecs::Discovery::new(c).unwrap().refresh().await,
                    S::Msk(c) => crate::msk::Discovery::new(c).unwrap().refresh().await,
                    S::Rds(c) => crate::rds::Discovery::new(c).unwrap().refresh().await,
                    S::Elasticache(c) => {
                        crate::elasticache::Discovery::new(c)
                            .unwrap()
                            .refresh()
                            .await
                    }
                    S::Lightsail(c) => crate::lightsail::Discovery::new(c).unwrap().refresh().await,
                    S::Mq(c) => crate::mq::Discovery::new(c).unwrap().refresh().await,
                    other => panic!("{other:?}"),
                }
                .unwrap_err();
                assert!(
                    err.starts_with(&format!(
                        "could not create aws config: could not create new AWS session: failed to get shared config profile, {NO_PROFILE}"
                    )),
                    "{block}: {err}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_failed_credentials_lookup_is_a_refresh_failure_tried_again() {
        let cfg = no_credentials("ec2_sd_configs");
        let m = crate::Manager::new(crate::Options {
            update_interval: std::time::Duration::from_millis(10),
            ..Default::default()
        });
        // The configuration is taken: nothing is looked up yet.
        m.apply_config(&cfg).unwrap();
        let runner = m.clone();
        let task = tokio::spawn(async move { runner.run().await });
        let failures = || {
            let mut text = String::new();
            m.metrics().write_text(&mut text);
            crate::metrics::value_of(
                &text,
                "prometheus_sd_refresh_failures_total{mechanism=\"ec2\"}",
            )
            .unwrap_or_default()
        };
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while failures() < 2.0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "failures: {}",
                failures()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        m.stop();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn lazy_clients_are_made_once_and_share_one_identity() {
        let cfg = config::Config::load_str(
            "scrape_configs:\n- job_name: j\n  ecs_sd_configs:\n  - region: us-west-2\n    access_key: AK\n    secret_key: SK\n",
            "",
        )
        .unwrap();
        let config::ServiceDiscoveryConfig::Ecs(c) =
            &cfg.scrape_configs[0].service_discovery_configs.0[0]
        else {
            panic!("not an ECS block");
        };
        let lazy = LazyClients::new(c, "ECS", &["ecs", "ec2"]);
        let first: *const Clients = lazy.get().await.unwrap();
        let again: *const Clients = lazy.get().await.unwrap();
        assert_eq!(first, again, "made once");
        let made = lazy.get().await.unwrap();
        assert_eq!(made.region, "us-west-2");
        assert_eq!(made.endpoint, "https://ecs.us-west-2.amazonaws.com");
        assert_eq!(made.signing.len(), 2);
    }

    #[test]
    fn timestamps_print_as_go_rfc3339() {
        assert_eq!(rfc3339("2024-01-15T10:30:00.123Z"), "2024-01-15T10:30:00Z");
        assert_eq!(rfc3339("2024-01-15T10:30:00Z"), "2024-01-15T10:30:00Z");
        assert_eq!(
            rfc3339("2024-01-15T10:30:00.5+02:00"),
            "2024-01-15T10:30:00+02:00"
        );
        assert_eq!(rfc3339("2024-01-15T10:30:00"), "2024-01-15T10:30:00Z");
        assert_eq!(rfc3339("garbage"), "garbage");
    }

    #[tokio::test]
    async fn bounded_keeps_order_and_never_exceeds_the_limit() {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(tokio::sync::Barrier::new(3));
        let out = bounded(3, 0..9, |i| {
            let (in_flight, peak, barrier) = (in_flight.clone(), peak.clone(), barrier.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                // Three at a time reach the barrier together: a limit below 3 would hang,
                // one above would let a fourth in before the first three leave.
                barrier.wait().await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                i * 2
            }
        })
        .await;
        assert_eq!(out, (0..9).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn query_errors_read_code_message_and_request_id() {
        let body = b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>no</Message></Error><RequestId>r-1</RequestId></ErrorResponse>";
        assert_eq!(
            query_error(
                "RDS",
                "DescribeDBClusters",
                http::StatusCode::FORBIDDEN,
                body
            ),
            "operation error RDS: DescribeDBClusters, https response error StatusCode: 403, RequestID: r-1, api error AccessDenied: no"
        );
    }
}
