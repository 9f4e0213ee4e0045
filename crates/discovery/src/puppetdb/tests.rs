//! Tests of puppetdb_sd against a fake PuppetDB serving the payload of upstream's
//! `discovery/puppetdb/fixtures/vhosts.json`.

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

/// upstream fixtures/vhosts.json
const VHOSTS: &str = r#"[
   {
      "certname": "edinburgh.example.com",
      "environment": "prod",
      "exported": false,
      "file": "/etc/puppetlabs/code/environments/prod/modules/upstream/apache/manifests/init.pp",
      "line": 384,
      "parameters": {
         "access_log": true,
         "access_log_file": "ssl_access_log",
         "additional_includes": [ ],
         "directoryindex": "",
         "docroot": "/var/www/html",
         "ensure": "absent",
         "options": [
            "Indexes",
            "FollowSymLinks",
            "MultiViews"
         ],
         "php_flags": { },
         "labels": {
            "alias": "edinburgh"
         },
         "scriptaliases": [
            {
               "alias": "/cgi-bin",
               "path": "/var/www/cgi-bin"
            }
         ],
         "port": 22,
         "pi": 3.141592653589793,
         "buckets": [
            0,
            2,
            5
         ],
         "coordinates": [
            60.13464726551357,
            -2.0513768021728893
         ]
      },
      "resource": "49af83866dc5a1518968b68e58a25319107afe11",
      "tags": [
         "roles::hypervisor",
         "apache",
         "apache::vhost",
         "class",
         "default-ssl",
         "profile_hypervisor",
         "vhost",
         "profile_apache",
         "hypervisor",
         "__node_regexp__edinburgh",
         "roles",
         "node"
      ],
      "title": "default-ssl",
      "type": "Apache::Vhost"
   }
]
"#;

/// Upstream's mock: answers the query named in the POSTed body.
fn mock(seen: &Seen) -> Reply {
    let Ok(req) = serde_json::from_str::<serde_json::Value>(&seen.body) else {
        return Reply::status(400, "");
    };
    match req["query"].as_str() {
        Some("vhosts") => Reply::json(VHOSTS),
        _ => Reply::status(404, "404 page not found"),
    }
}

fn discovery(url: &str, extra: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  puppetdb_sd_configs:\n  - url: '{url}'\n    query: vhosts\n    refresh_interval: 30s\n{extra}"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::PuppetDb(c) => Discovery::new(c).unwrap(),
        other => panic!("{other:?}"),
    }
}

const BASE: &[(&str, &str)] = &[
    ("__address__", "edinburgh.example.com:80"),
    ("__meta_puppetdb_query", "vhosts"),
    ("__meta_puppetdb_certname", "edinburgh.example.com"),
    ("__meta_puppetdb_environment", "prod"),
    ("__meta_puppetdb_exported", "false"),
    (
        "__meta_puppetdb_file",
        "/etc/puppetlabs/code/environments/prod/modules/upstream/apache/manifests/init.pp",
    ),
    (
        "__meta_puppetdb_resource",
        "49af83866dc5a1518968b68e58a25319107afe11",
    ),
    (
        "__meta_puppetdb_tags",
        ",roles::hypervisor,apache,apache::vhost,class,default-ssl,profile_hypervisor,vhost,profile_apache,hypervisor,__node_regexp__edinburgh,roles,node,",
    ),
    ("__meta_puppetdb_title", "default-ssl"),
    ("__meta_puppetdb_type", "Apache::Vhost"),
];

#[test]
fn the_api_url_gets_the_query_path() {
    // Upstream's TestPuppetSlashInURL.
    for (server, api) in [
        ("https://puppetserver", "https://puppetserver/pdb/query/v4"),
        ("https://puppetserver/", "https://puppetserver/pdb/query/v4"),
        (
            "http://puppetserver:8080/",
            "http://puppetserver:8080/pdb/query/v4",
        ),
        (
            "http://puppetserver:8080",
            "http://puppetserver:8080/pdb/query/v4",
        ),
    ] {
        assert_eq!(discovery(server, "").url, api);
    }
}

#[tokio::test]
async fn refresh_gives_upstreams_labels() {
    // Upstream's TestPuppetDBRefresh.
    let api = FakeApi::start(mock).await;
    let url = format!("http://{}", api.addr);
    let d = discovery(&url, "");
    let groups = d.refresh().await.unwrap();
    assert_eq!(
        groups,
        [TargetGroup {
            targets: vec![Labels::from_pairs(BASE.iter().copied())],
            labels: Labels::empty(),
            source: format!("{url}/pdb/query/v4?query=vhosts"),
        }]
    );
    let seen = &api.seen()[0];
    assert_eq!(seen.method, http::Method::POST);
    assert_eq!(seen.uri, "/pdb/query/v4");
    assert_eq!(seen.body, r#"{"query":"vhosts"}"#);
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(seen.headers["accept"], "application/json");
}

#[tokio::test]
async fn parameters_become_labels_on_request() {
    // Upstream's TestPuppetDBRefreshWithParameters.
    let api = FakeApi::start(mock).await;
    let d = discovery(
        &format!("http://{}", api.addr),
        "    include_parameters: true\n    port: 80\n",
    );
    let groups = d.refresh().await.unwrap();
    let mut want: Vec<(&str, &str)> = BASE.to_vec();
    want.extend([
        ("__meta_puppetdb_parameter_access_log", "true"),
        (
            "__meta_puppetdb_parameter_access_log_file",
            "ssl_access_log",
        ),
        ("__meta_puppetdb_parameter_buckets", "0,2,5"),
        (
            "__meta_puppetdb_parameter_coordinates",
            "60.13464726551357,-2.0513768021728893",
        ),
        ("__meta_puppetdb_parameter_docroot", "/var/www/html"),
        ("__meta_puppetdb_parameter_ensure", "absent"),
        ("__meta_puppetdb_parameter_labels_alias", "edinburgh"),
        (
            "__meta_puppetdb_parameter_options",
            "Indexes,FollowSymLinks,MultiViews",
        ),
        ("__meta_puppetdb_parameter_pi", "3.141592653589793"),
        ("__meta_puppetdb_parameter_port", "22"),
    ]);
    assert_eq!(groups[0].targets, [Labels::from_pairs(want)]);
}

#[tokio::test]
async fn bad_status_and_content_type_are_upstreams_errors() {
    // Upstream's TestPuppetDBInvalidCode and TestPuppetDBInvalidFormat.
    let api = FakeApi::start(|_: &Seen| Reply::status(400, "")).await;
    let d = discovery(&format!("http://{}", api.addr), "");
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "server returned HTTP status 400 Bad Request"
    );
    api.set(|_: &Seen| {
        Reply::status(200, "{}\n").header("Content-Type", "text/plain; charset=utf-8")
    });
    let err = d.refresh().await.unwrap_err();
    assert!(
        err.starts_with("unsupported content type text/plain"),
        "{err}"
    );
}

#[test]
fn numbers_print_as_go_floats() {
    let params: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        r#"{"big": 1000000, "small": 0.00001, "n": null, "nested": {"a.b": {"c": [true, "x"]}}}"#,
    )
    .unwrap();
    let labels = parameter_labels(&params);
    assert_eq!(labels["big"], "1e+06");
    assert_eq!(labels["small"], "1e-05");
    assert!(!labels.contains_key("n"));
    assert_eq!(labels["nested_a_b_c"], "true,x");
}
