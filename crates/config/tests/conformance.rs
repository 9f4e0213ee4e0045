//! Upstream conformance: every `*.good.yml` of Prometheus's config and promtool test data
//! loads, every `*.bad.yml` is rejected with a message naming the problem.
//!
//! Run with `cargo test -p config --test conformance`; each file is a named case, and the
//! run ends with a `N passed, M failed` line.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use config::Config;
use libtest_mimic::{Arguments, Failed, Trial};

/// Go's `expectedErrors` (config/config_test.go) and the errors `TestGetScrapeConfigs` and
/// the OTLP/agent tests expect: a substring the error must contain.
const GO_EXPECTED: &[(&str, &str)] = &[
    ("jobname.bad.yml", "job_name is empty"),
    (
        "jobname_dup.bad.yml",
        r#"found multiple scrape configs with job name "prometheus""#,
    ),
    (
        "scrape_interval.bad.yml",
        "scrape timeout greater than scrape interval",
    ),
    ("regex.bad.yml", "error parsing regexp"),
    (
        "modulus_missing.bad.yml",
        "relabel configuration for hashmod requires non-zero modulus",
    ),
    (
        "labelkeep.bad.yml",
        "labelkeep action requires only 'regex', and no other fields",
    ),
    (
        "labelkeep2.bad.yml",
        "labelkeep action requires only 'regex', and no other fields",
    ),
    (
        "labelkeep3.bad.yml",
        "labelkeep action requires only 'regex', and no other fields",
    ),
    (
        "labelkeep4.bad.yml",
        "labelkeep action requires only 'regex', and no other fields",
    ),
    (
        "labelkeep5.bad.yml",
        "labelkeep action requires only 'regex', and no other fields",
    ),
    (
        "labeldrop.bad.yml",
        "labeldrop action requires only 'regex', and no other fields",
    ),
    (
        "labeldrop2.bad.yml",
        "labeldrop action requires only 'regex', and no other fields",
    ),
    (
        "labeldrop3.bad.yml",
        "labeldrop action requires only 'regex', and no other fields",
    ),
    (
        "labeldrop4.bad.yml",
        "labeldrop action requires only 'regex', and no other fields",
    ),
    (
        "labeldrop5.bad.yml",
        "labeldrop action requires only 'regex', and no other fields",
    ),
    (
        "dropequal.bad.yml",
        "relabel configuration for dropequal action requires 'target_label' value",
    ),
    (
        "dropequal1.bad.yml",
        "dropequal action requires only 'source_labels' and `target_label`, and no other fields",
    ),
    (
        "keepequal.bad.yml",
        "relabel configuration for keepequal action requires 'target_label' value",
    ),
    (
        "keepequal1.bad.yml",
        "keepequal action requires only 'source_labels' and `target_label`, and no other fields",
    ),
    (
        "lowercase.bad.yml",
        "relabel configuration for lowercase action requires 'target_label' value",
    ),
    (
        "lowercase3.bad.yml",
        "'replacement' can not be set for lowercase action",
    ),
    (
        "uppercase.bad.yml",
        "relabel configuration for uppercase action requires 'target_label' value",
    ),
    (
        "uppercase3.bad.yml",
        "'replacement' can not be set for uppercase action",
    ),
    ("rules.bad.yml", "invalid rule file path"),
    (
        "unknown_attr.bad.yml",
        "field consult_sd_configs not found in type",
    ),
    (
        "bearertoken.bad.yml",
        "at most one of bearer_token & bearer_token_file must be configured",
    ),
    (
        "bearertoken_basicauth.bad.yml",
        "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
    ),
    (
        "kubernetes_http_config_without_api_server.bad.yml",
        "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
    ),
    (
        "kubernetes_kubeconfig_with_own_namespace.bad.yml",
        "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously",
    ),
    (
        "kubernetes_api_server_with_own_namespace.bad.yml",
        "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously",
    ),
    (
        "kubernetes_kubeconfig_with_apiserver.bad.yml",
        "cannot use 'kubeconfig_file' and 'api_server' simultaneously",
    ),
    (
        "kubernetes_kubeconfig_with_http_config.bad.yml",
        "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
    ),
    (
        "kubernetes_bearertoken.bad.yml",
        "at most one of bearer_token & bearer_token_file must be configured",
    ),
    ("kubernetes_role.bad.yml", "role"),
    (
        "kubernetes_selectors_endpoints.bad.yml",
        "endpoints role supports only pod, service, endpoints selectors",
    ),
    (
        "kubernetes_selectors_ingress.bad.yml",
        "ingress role supports only ingress selectors",
    ),
    (
        "kubernetes_selectors_node.bad.yml",
        "node role supports only node selectors",
    ),
    (
        "kubernetes_selectors_pod.bad.yml",
        "pod role supports only pod selectors",
    ),
    (
        "kubernetes_selectors_service.bad.yml",
        "service role supports only service selectors",
    ),
    (
        "kubernetes_selectors_duplicated_role.bad.yml",
        "duplicated selector role: pod",
    ),
    (
        "kubernetes_selectors_incorrect_selector.bad.yml",
        "invalid selector: 'metadata.status-Running'; can't understand 'metadata.status-Running'",
    ),
    (
        "kubernetes_bearertoken_basicauth.bad.yml",
        "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
    ),
    (
        "kubernetes_authorization_basicauth.bad.yml",
        "at most one of basic_auth, oauth2 & authorization must be configured",
    ),
    (
        "marathon_no_servers.bad.yml",
        "marathon_sd: must contain at least one Marathon server",
    ),
    (
        "marathon_authtoken_authtokenfile.bad.yml",
        "marathon_sd: at most one of auth_token & auth_token_file must be configured",
    ),
    (
        "marathon_authtoken_basicauth.bad.yml",
        "marathon_sd: at most one of basic_auth, auth_token & auth_token_file must be configured",
    ),
    (
        "marathon_authtoken_bearertoken.bad.yml",
        "marathon_sd: at most one of bearer_token, bearer_token_file, auth_token & auth_token_file must be configured",
    ),
    (
        "marathon_authtoken_authorization.bad.yml",
        "marathon_sd: at most one of auth_token, auth_token_file & authorization must be configured",
    ),
    ("openstack_role.bad.yml", "unknown OpenStack SD role"),
    (
        "openstack_availability.bad.yml",
        "unknown availability invalid, must be one of admin, internal or public",
    ),
    (
        "url_in_targetgroup.bad.yml",
        "\"http://bad\" is not a valid hostname",
    ),
    (
        "target_label_missing.bad.yml",
        "relabel configuration for replace action requires 'target_label' value",
    ),
    (
        "target_label_hashmod_missing.bad.yml",
        "relabel configuration for hashmod action requires 'target_label' value",
    ),
    (
        "remote_read_url_missing.bad.yml",
        "url for remote_read is empty",
    ),
    (
        "remote_write_header.bad.yml",
        "x-prometheus-remote-write-version is a reserved header. It must not be changed",
    ),
    (
        "remote_read_header.bad.yml",
        "x-prometheus-remote-write-version is a reserved header. It must not be changed",
    ),
    (
        "labelmap.bad.yml",
        "yaml: !!binary value contains invalid base64 data",
    ),
    (
        "section_key_dup.bad.yml",
        "yaml: unmarshal errors:\n  line 4: field scrape_configs already set in type config.plain",
    ),
    (
        "unknown_global_attr.bad.yml",
        "yaml: unmarshal errors:\n  line 2: field nonexistent_field not found in type config.plain",
    ),
    (
        "kubernetes_namespace_discovery.bad.yml",
        "yaml: unmarshal errors:\n  line 6: field foo not found in type kubernetes.plain",
    ),
    (
        "scrape_config_files_fallback_scrape_protocol2.bad.yml",
        "yaml: unmarshal errors:\n  line 3: cannot unmarshal !!seq into config.ScrapeProtocol",
    ),
    (
        "remote_write_url_missing.bad.yml",
        "url for remote_write is empty",
    ),
    (
        "remote_write_dup.bad.yml",
        r#"found multiple remote write configs with job name "queue1""#,
    ),
    (
        "remote_read_dup.bad.yml",
        r#"found multiple remote read configs with job name "queue1""#,
    ),
    (
        "ec2_filters_empty_values.bad.yml",
        "EC2 SD configuration filter values cannot be empty",
    ),
    (
        "ec2_token_file.bad.yml",
        "at most one of bearer_token & bearer_token_file must be configured",
    ),
    (
        "lightsail_token_file.bad.yml",
        "at most one of bearer_token & bearer_token_file must be configured",
    ),
    (
        "azure_client_id_missing.bad.yml",
        "azure SD configuration requires a client_id",
    ),
    (
        "azure_client_secret_missing.bad.yml",
        "azure SD configuration requires a client_secret",
    ),
    (
        "azure_subscription_id_missing.bad.yml",
        "azure SD configuration requires a subscription_id",
    ),
    (
        "azure_tenant_id_missing.bad.yml",
        "azure SD configuration requires a tenant_id",
    ),
    (
        "azure_authentication_method.bad.yml",
        "unknown authentication_type \"invalid\". Supported types are \"OAuth\", \"ManagedIdentity\" or \"SDK\"",
    ),
    (
        "azure_bearertoken_basicauth.bad.yml",
        "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
    ),
    (
        "empty_scrape_config.bad.yml",
        "empty or null scrape config section",
    ),
    (
        "empty_rw_config.bad.yml",
        "empty or null remote write config section",
    ),
    (
        "empty_rr_config.bad.yml",
        "empty or null remote read config section",
    ),
    (
        "empty_target_relabel_config.bad.yml",
        "empty or null target relabeling rule",
    ),
    (
        "empty_metric_relabel_config.bad.yml",
        "empty or null metric relabeling rule",
    ),
    (
        "empty_alert_relabel_config.bad.yml",
        "empty or null alert relabeling rule",
    ),
    (
        "empty_alertmanager_relabel_config.bad.yml",
        "empty or null Alertmanager target relabeling rule",
    ),
    (
        "empty_rw_relabel_config.bad.yml",
        "empty or null relabeling rule in remote write config",
    ),
    (
        "empty_static_config.bad.yml",
        "empty or null section in static_configs",
    ),
    ("puppetdb_no_query.bad.yml", "query missing"),
    ("puppetdb_no_url.bad.yml", "URL is missing"),
    ("puppetdb_bad_url.bad.yml", "host is missing in URL"),
    (
        "puppetdb_no_scheme.bad.yml",
        "URL scheme must be 'http' or 'https'",
    ),
    (
        "puppetdb_token_file.bad.yml",
        "at most one of bearer_token & bearer_token_file must be configured",
    ),
    ("hetzner_role.bad.yml", "unknown role"),
    ("eureka_no_server.bad.yml", "empty or null eureka server"),
    ("eureka_invalid_server.bad.yml", "invalid eureka server URL"),
    ("scaleway_role.bad.yml", r#"unknown role "invalid""#),
    (
        "scaleway_no_secret.bad.yml",
        "one of secret_key & secret_key_file must be configured",
    ),
    (
        "scaleway_two_secrets.bad.yml",
        "at most one of secret_key & secret_key_file must be configured",
    ),
    (
        "scrape_body_size_limit.bad.yml",
        "units: unknown unit  in 100",
    ),
    (
        "http_url_no_scheme.bad.yml",
        "URL scheme must be 'http' or 'https'",
    ),
    ("http_url_no_host.bad.yml", "host is missing in URL"),
    (
        "http_token_file.bad.yml",
        "at most one of bearer_token & bearer_token_file must be configured",
    ),
    (
        "http_url_bad_scheme.bad.yml",
        "URL scheme must be 'http' or 'https'",
    ),
    (
        "empty_scrape_config_action.bad.yml",
        "relabel action cannot be empty",
    ),
    (
        "tracing_missing_endpoint.bad.yml",
        "tracing endpoint must be set",
    ),
    (
        "tracing_invalid_header.bad.yml",
        "x-prometheus-remote-write-version is a reserved header. It must not be changed",
    ),
    (
        "tracing_invalid_authorization_header.bad.yml",
        "authorization header configuration is not yet supported",
    ),
    (
        "tracing_invalid_compression.bad.yml",
        "invalid compression type foo provided, valid options: gzip",
    ),
    (
        "uyuni_no_server.bad.yml",
        "Uyuni SD configuration requires server host",
    ),
    (
        "uyuni_token_file.bad.yml",
        "at most one of bearer_token & bearer_token_file must be configured",
    ),
    ("ionos_datacenter.bad.yml", "datacenter id can't be empty"),
    (
        "ovhcloud_no_secret.bad.yml",
        "application secret can not be empty",
    ),
    (
        "ovhcloud_bad_service.bad.yml",
        "unknown service: fakeservice",
    ),
    (
        "scrape_config_files_glob.bad.yml",
        r#"invalid scrape config file path "scrape_configs/*/*""#,
    ),
    (
        "scrape_config_files_scrape_protocols.bad.yml",
        r#"scrape_protocols: unknown scrape protocol prometheusproto, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0] for scrape config with job name "node""#,
    ),
    (
        "scrape_config_files_scrape_protocols2.bad.yml",
        r#"duplicated protocol in scrape_protocols, got [OpenMetricsText1.0.0 PrometheusProto OpenMetricsText1.0.0] for scrape config with job name "node""#,
    ),
    (
        "scrape_config_files_fallback_scrape_protocol1.bad.yml",
        r#"invalid fallback_scrape_protocol for scrape config with job name "node": unknown scrape protocol prometheusproto, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0]"#,
    ),
    (
        "scrape_config_utf8_conflicting.bad.yml",
        "utf8 metric names requested but validation scheme is not set to UTF8",
    ),
    ("stackit_endpoint.bad.yml", "invalid endpoint"),
    // TestGetScrapeConfigs.
    (
        "scrape_config_files_double_import.bad.yml",
        r#"found multiple scrape configs with job name "prometheus""#,
    ),
    (
        "scrape_config_files_duplicate.bad.yml",
        r#"found multiple scrape configs with job name "prometheus""#,
    ),
    (
        "scrape_config_files_global.bad.yml",
        r#"scrape timeout greater than scrape interval for scrape config with job name "prometheus""#,
    ),
    (
        "scrape_config_files_global_duplicate.bad.yml",
        r#"found multiple scrape configs with job name "prometheus""#,
    ),
    // The OTLP tests.
    (
        "otlp_allow_utf8.bad.yml",
        r#"unsupported OTLP translation strategy "Invalid""#,
    ),
    (
        "otlp_ignore_resource_attributes_without_promote_all.bad.yml",
        "'ignore_resource_attributes' cannot be configured unless 'promote_all_resource_attributes' is true",
    ),
    (
        "otlp_promote_all_resource_attributes.bad.yml",
        "'promote_all_resource_attributes' and 'promote_resource_attributes' cannot be configured simultaneously",
    ),
    (
        "otlp_sanitize_ignore_resource_attributes.bad.yml",
        r#"duplicated ignored OTel resource attribute "k8s.job.name""#,
    ),
    (
        "otlp_sanitize_promote_resource_attributes.bad.yml",
        r#"duplicated promoted OTel resource attribute "k8s.job.name""#,
    ),
];

/// Where our message deliberately differs from Go's (the YAML library words syntax and type
/// errors differently), or Go's test has no expectation: the substring we assert instead,
/// with the reason.
const OUR_EXPECTED: &[(&str, &str, &str)] = &[
    (
        "labelname.bad.yml",
        "!!binary scalar is not valid UTF-8",
        "Go decodes !!binary to \\xff then rejects the label name; serde-saphyr rejects the non-UTF-8 scalar first",
    ),
    (
        "labelvalue.bad.yml",
        "!!binary scalar is not valid UTF-8",
        "same, for the label value",
    ),
    (
        "remote_write_authorization_header.bad.yml",
        "authorization header must be changed via the basic_auth, authorization, oauth2, or sigv4 parameter",
        "Prometheus 3.5's wording (upstream main's test names azuread and google_iam too)",
    ),
    (
        "remote_write_wrong_msg.bad.yml",
        "invalid protobuf_message value: unknown remote write protobuf message io.prometheus.writet.v2.Request, supported: prometheus.WriteRequest, io.prometheus.write.v2.Request",
        "Prometheus 3.5's wording (upstream main's says \"unknown type for remote write protobuf message\")",
    ),
    (
        "static_config.bad.yml",
        "!!binary scalar is not valid UTF-8",
        "a target group, not a config (Go's TestBadStaticConfigsYML)",
    ),
    (
        "tsdb_chunk_encoding_floats.bad.yml",
        "unknown float chunk encoding \"xor3\"",
        "no expectation in Go's tests",
    ),
    (
        "tsdb_chunk_encoding_floats_wrong_case.bad.yml",
        "unknown float chunk encoding \"XOR\"",
        "no expectation in Go's tests",
    ),
    (
        "tsdb_chunk_encoding_floats_wrong_case_xor2.bad.yml",
        "unknown float chunk encoding \"XOR2\"",
        "no expectation in Go's tests",
    ),
    (
        "tsdb_retention_percentage.bad.yml",
        "retention percentage must be between 0 and 100",
        "no expectation in Go's tests",
    ),
    (
        "tsdb_retention_percentage_negative.bad.yml",
        "retention percentage must be between 0 and 100",
        "no expectation in Go's tests",
    ),
    (
        "tsdb_retention_size.bad.yml",
        "retention size must not be negative",
        "no expectation in Go's tests",
    ),
    (
        "tsdb_retention_time.bad.yml",
        "not a valid duration string",
        "no expectation in Go's tests",
    ),
    (
        "remote_write_queue_capacity_zero.bad.yml",
        "queue_config.capacity must be greater than 0",
        "no expectation in Go's tests",
    ),
    (
        "remote_write_queue_max_backoff_less_than_min.bad.yml",
        "max_backoff",
        "no expectation in Go's tests",
    ),
    (
        "remote_write_queue_max_samples_per_send_zero.bad.yml",
        "queue_config.max_samples_per_send must be greater than 0",
        "no expectation in Go's tests",
    ),
    (
        "remote_write_queue_max_shards_zero.bad.yml",
        "queue_config.max_shards must be greater than 0",
        "no expectation in Go's tests",
    ),
    (
        "remote_write_queue_min_shards_greater_than_max.bad.yml",
        "min_shards (100) must not be greater than queue_config.max_shards (10)",
        "no expectation in Go's tests",
    ),
    (
        "remote_write_queue_min_shards_zero.bad.yml",
        "queue_config.min_shards must be greater than 0",
        "no expectation in Go's tests",
    ),
    (
        "outscale_no_region.bad.yml",
        "outscale SD configuration requires a region",
        "no expectation in Go's tests",
    ),
    (
        "outscale_no_secret.bad.yml",
        "one of secret_key & secret_key_file must be configured",
        "no expectation in Go's tests",
    ),
    (
        "outscale_two_secrets.bad.yml",
        "at most one of secret_key & secret_key_file must be configured",
        "no expectation in Go's tests",
    ),
    (
        "oci_authentication_method.bad.yml",
        "oci_sd: unknown auth method \"invalid\", expected \"api_key\" or \"instance_principal\"",
        "no expectation in Go's tests",
    ),
    (
        "metric_name_validation_scheme.bad.yml",
        "invalid_scheme",
        "no expectation in Go's tests",
    ),
    (
        "scrape_config_files.bad.yml",
        "scrape timeout greater than scrape interval",
        "an included file; loaded on its own it fails its timeout check",
    ),
];

/// Files under `cmd/promtool/testdata` that are Prometheus configs (the rest are rule
/// files, unit tests and SD files). Those marked `promtool` are bad only at promtool's
/// layer (files or relabeled targets), and are checked with [`config::check`].
const PROMTOOL_CONFIGS: &[(&str, Expect)] = &[
    ("prometheus-config.good.yml", Expect::Good),
    (
        "prometheus-config.bad.yml",
        Expect::Bad(
            "yaml: unmarshal errors:\n  line 1: field not-prometheus not found in type config.plain",
        ),
    ),
    ("prometheus-aws-sd-empty-region.good.yml", Expect::Good),
    ("authorization_credentials_file.good.yml", Expect::Good),
    (
        "authorization_credentials_file.bad.yml",
        Expect::PromtoolBad("error checking authorization credentials or bearer token file"),
    ),
    (
        "url_in_scrape_targetgroup_with_relabel_config.good.yml",
        Expect::Good,
    ),
    (
        "url_in_scrape_targetgroup_with_relabel_config.bad.yml",
        Expect::PromtoolBad("\"http://bad\" is not a valid hostname"),
    ),
    (
        "url_in_alert_targetgroup_with_relabel_config.good.yml",
        Expect::Good,
    ),
    (
        "url_in_alert_targetgroup_with_relabel_config.bad.yml",
        Expect::PromtoolBad("\"http://bad\" is not a valid hostname"),
    ),
];

#[derive(Clone, Copy)]
enum Expect {
    Good,
    Bad(&'static str),
    PromtoolBad(&'static str),
}

fn expected_for(name: &str) -> Option<&'static str> {
    OUR_EXPECTED
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, e, _)| *e)
        .or_else(|| {
            GO_EXPECTED
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, e)| *e)
        })
}

fn load(path: &Path) -> Result<Config, String> {
    Config::load_file(path).map_err(|e| e.to_string())
}

fn expect_good(path: &Path, promtool: bool) -> Result<(), Failed> {
    let cfg = load(path)?;
    if promtool {
        config::check::check_config(&cfg, false)?;
    }
    // What we print must load again (Go's roundtrip test).
    Config::load_str(&cfg.to_yaml(), "")
        .map_err(|e| format!("re-loading the printed config: {e}"))?;
    Ok(())
}

fn expect_bad(path: &Path, want: &str, promtool: bool) -> Result<(), Failed> {
    let result = if path
        .file_name()
        .is_some_and(|n| n == "static_config.bad.yml")
    {
        let content = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        config::yaml::from_str::<config::StaticConfig>(&content)
            .map(|_| ())
            .map_err(|e| e.to_string())
    } else {
        match load(path) {
            Ok(cfg) if promtool => config::check::check_config(&cfg, false).map(|_| ()),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    };
    match result {
        Ok(()) => {
            Err(format!("loaded, but must be rejected with an error containing {want:?}").into())
        }
        Err(msg) if msg.contains(want) => Ok(()),
        Err(msg) => Err(format!("error {msg:?} does not contain {want:?}").into()),
    }
}

fn config_trials(dir: &Path) -> Vec<Trial> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut trials = Vec::new();
    for name in names {
        let path = dir.join(&name);
        if name.ends_with(".good.yml") {
            trials.push(Trial::test(format!("config/{name}"), move || {
                expect_good(&path, false)
            }));
        } else if name.ends_with(".bad.yml") {
            let want = expected_for(&name);
            trials.push(Trial::test(format!("config/{name}"), move || match want {
                Some(want) => expect_bad(&path, want, false),
                None => Err(format!("no expected error substring listed for {name}").into()),
            }));
        }
    }
    // Go's TestElideSecrets: printing never reveals a secret.
    let conf = dir.join("conf.good.yml");
    trials.push(Trial::test(
        "config/conf.good.yml/secrets_elided",
        move || {
            let printed = load(&conf)?.to_yaml();
            for secret in [
                "mysecret",
                "multiline",
                "testAppSecret",
                "testConsumerKey",
                "hole",
                "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
                "\"456\"",
            ] {
                if printed.contains(secret) {
                    return Err(format!("printed config reveals {secret:?}:\n{printed}").into());
                }
            }
            // Go prints 25 markers; we treat a few more SD credentials as secrets (the OVHcloud
            // consumer key, STACKIT keys, OCI key passphrase), never fewer.
            let n = printed.matches("<secret>").count();
            if n < 25 {
                return Err(format!("{n} <secret> markers, Go prints 25:\n{printed}").into());
            }
            Ok(())
        },
    ));
    // Go's TestGetScrapeConfigs: included jobs are merged in, with their own directory.
    let combined = dir.join("scrape_config_files_combined.good.yml");
    trials.push(Trial::test(
        "config/scrape_config_files_combined.good.yml/merged",
        move || {
            let cfg = load(&combined)?;
            let jobs: Vec<&str> = cfg
                .all_scrape_configs()
                .map(|sc| sc.job_name.as_str())
                .collect();
            if jobs != ["node", "prometheus", "alertmanager"] {
                return Err(format!("jobs {jobs:?}, want [node, prometheus, alertmanager]").into());
            }
            Ok(())
        },
    ));
    let glob = dir.join("scrape_config_files_glob.good.yml");
    trials.push(Trial::test(
        "config/scrape_config_files_glob.good.yml/directories",
        move || {
            let cfg = load(&glob)?;
            let files: Vec<(String, String, String)> = cfg
                .all_scrape_configs()
                .map(|sc| {
                    (
                        sc.job_name.clone(),
                        sc.scrape_interval.to_string(),
                        sc.http_client_config.tls_config.cert_file.clone(),
                    )
                })
                .collect();
            let ok = files.len() == 2
                && files[0].0 == "prometheus"
                && files[0].1 == "1m"
                && files[0]
                    .2
                    .ends_with("testdata/scrape_configs/valid_cert_file")
                && files[1].0 == "node"
                && files[1].1 == "15s"
                && files[1].2.ends_with("config/testdata/valid_cert_file");
            if ok {
                Ok(())
            } else {
                Err(format!("unexpected jobs {files:?}").into())
            }
        },
    ));
    let native = dir.join("global_enable_scrape_native_hist.good.yml");
    trials.push(Trial::test(
        "config/global_enable_scrape_native_hist.good.yml/protocols",
        move || {
            let cfg = load(&native)?;
            let sc = &cfg.scrape_configs[0];
            let first = sc
                .scrape_protocols
                .as_ref()
                .and_then(|p| p.first())
                .map(|p| p.0.as_str());
            if sc.scrape_native_histograms_enabled() && first == Some("PrometheusProto") {
                Ok(())
            } else {
                Err(format!(
                    "native histograms {:?}, protocols {:?}",
                    sc.scrape_native_histograms, sc.scrape_protocols
                )
                .into())
            }
        },
    ));
    // Agent mode (Go's TestAgentMode) and the OTLP files that only fail with legacy names.
    for (name, want) in [
        (
            "agent_mode.with_alert_manager.yml",
            Some("field alerting is not allowed in agent mode"),
        ),
        (
            "agent_mode.with_alert_relabels.yml",
            Some("field alerting is not allowed in agent mode"),
        ),
        (
            "agent_mode.with_rule_files.yml",
            Some("field rule_files is not allowed in agent mode"),
        ),
        (
            "agent_mode.with_remote_reads.yml",
            Some("field remote_read is not allowed in agent mode"),
        ),
        ("agent_mode.without_remote_writes.yml", None),
        ("agent_mode.good.yml", None),
    ] {
        let path = dir.join(name);
        trials.push(Trial::test(format!("config/agent/{name}"), move || {
            let result = load(&path)?.check_agent_mode().map_err(|e| e.to_string());
            match (want, result) {
                (None, Ok(())) => Ok(()),
                (None, Err(e)) => Err(e.into()),
                (Some(w), Err(e)) if e.contains(w) => Ok(()),
                (Some(w), other) => Err(format!("want error {w:?}, got {other:?}").into()),
            }
        }));
    }
    for (name, want) in [
        (
            "otlp_allow_utf8.incompatible.yml",
            r#"OTLP translation strategy "NoUTF8EscapingWithSuffixes" is not allowed when UTF8 is disabled"#,
        ),
        (
            "otlp_no_translation.incompatible.yml",
            r#"OTLP translation strategy "NoTranslation" is not allowed when UTF8 is disabled"#,
        ),
    ] {
        let path = dir.join(name);
        trials.push(Trial::test(format!("config/{name}"), move || {
            expect_bad(&path, want, false)
        }));
    }
    trials
}

fn promtool_trials(dir: &Path) -> Vec<Trial> {
    PROMTOOL_CONFIGS
        .iter()
        .map(|&(name, expect)| {
            let path: PathBuf = dir.join(name);
            Trial::test(format!("promtool/{name}"), move || match expect {
                Expect::Good => expect_good(&path, true),
                Expect::Bad(want) => expect_bad(&path, want, false),
                Expect::PromtoolBad(want) => {
                    load(&path)?;
                    expect_bad(&path, want, true)
                }
            })
        })
        .collect()
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    if let Some(dir) = test_support::testdata_dir("upstream/config/testdata") {
        trials.extend(config_trials(&dir));
    }
    if let Some(dir) = test_support::testdata_dir("upstream/cmd/promtool/testdata") {
        trials.extend(promtool_trials(&dir));
    }
    let conclusion = libtest_mimic::run(&args, trials);
    println!(
        "{} passed, {} failed",
        conclusion.num_passed, conclusion.num_failed
    );
    conclusion.exit();
}
