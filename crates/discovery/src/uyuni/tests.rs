//! Tests of uyuni_sd against a fake Uyuni XML-RPC API: login, the three listing calls with
//! their arguments, the target labels, token reuse and renewal, and upstream's error texts
//! (`TestUyuniSDHandleError`, `TestUyuniSDLogin`).

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

fn response(value: &str) -> Reply {
    Reply::json(format!(
        "<?xml version=\"1.0\"?>\n<methodResponse><params><param>{value}</param></params></methodResponse>"
    ))
    .header("Content-Type", "text/xml")
}

const GROUPS: &str = "<value><array><data>
  <value><struct>
    <member><name>id</name><value><int>1000010000</int></value></member>
    <member><name>system_groups</name><value><array><data>
      <value><struct><member><name>id</name><value><int>3</int></value></member><member><name>name</name><value><string>web</string></value></member></struct></value>
      <value><struct><member><name>id</name><value><int>4</int></value></member><member><name>name</name><value><string>prod</string></value></member></struct></value>
    </data></array></value></member>
  </struct></value>
  <value><struct>
    <member><name>id</name><value><i4>1000010001</i4></value></member>
    <member><name>system_groups</name><value><array><data></data></array></value></member>
  </struct></value>
</data></array></value>";

const ENDPOINTS: &str = "<value><array><data>
  <value><struct>
    <member><name>system_id</name><value><int>1000010000</int></value></member>
    <member><name>endpoint_name</name><value><string>node_exporter</string></value></member>
    <member><name>exporter_name</name><value><string>node_exporter</string></value></member>
    <member><name>module</name><value><string></string></value></member>
    <member><name>path</name><value><string>/metrics</string></value></member>
    <member><name>port</name><value><int>9100</int></value></member>
    <member><name>tls_enabled</name><value><boolean>0</boolean></value></member>
  </struct></value>
  <value><struct>
    <member><name>system_id</name><value><int>1000010001</int></value></member>
    <member><name>endpoint_name</name><value><string>apache</string></value></member>
    <member><name>exporter_name</name><value><string>apache_exporter</string></value></member>
    <member><name>module</name><value><string>apache</string></value></member>
    <member><name>path</name><value><string>/proxy</string></value></member>
    <member><name>port</name><value><int>9999</int></value></member>
    <member><name>tls_enabled</name><value><boolean>1</boolean></value></member>
  </struct></value>
</data></array></value>";

const NETWORK: &str = "<value><array><data>
  <value><struct>
    <member><name>system_id</name><value><int>1000010000</int></value></member>
    <member><name>hostname</name><value><string>web-1.example.com</string></value></member>
    <member><name>primary_fqdn</name><value><string>web-1.example.com</string></value></member>
    <member><name>ip</name><value><string>10.0.0.1</string></value></member>
  </struct></value>
  <value><struct>
    <member><name>system_id</name><value><int>1000010001</int></value></member>
    <member><name>hostname</name><value><string>db-1</string></value></member>
    <member><name>primary_fqdn</name><value>db-1.example.com</value></member>
  </struct></value>
</data></array></value>";

/// The method name and parameters of a call, as text.
fn method(seen: &Seen) -> String {
    let doc = roxmltree::Document::parse(&seen.body).unwrap();
    doc.descendants()
        .find(|n| n.has_tag_name("methodName"))
        .and_then(|n| n.text())
        .unwrap_or_default()
        .to_owned()
}

fn params(seen: &Seen) -> Vec<Value> {
    let doc = roxmltree::Document::parse(&seen.body).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("param"))
        .map(|p| read_value(p.children().find(|c| c.is_element()).unwrap()).unwrap())
        .collect()
}

fn mock(seen: &Seen) -> Reply {
    if seen.method != http::Method::POST || seen.uri != "/uyuni/rpc/api" {
        return Reply::status(404, "");
    }
    let p = params(seen);
    match method(seen).as_str() {
        "auth.login" => {
            if p == [
                Value::Str("admin".into()),
                Value::Str("pa<ss".into()),
                Value::Int(600),
            ] {
                response("<value>\n\t\t\t\ta token\n\t\t\t</value>")
            } else {
                Reply::json(
                    "<?xml version=\"1.0\"?><methodResponse><fault><value><struct><member><name>faultCode</name><value><int>2950</int></value></member><member><name>faultString</name><value><string>Either the password or username is incorrect.</string></value></member></struct></value></fault></methodResponse>",
                )
            }
        }
        "system.listSystemGroupsForSystemsWithEntitlement" => {
            assert_eq!(p[1], Value::Str("monitoring_entitled".into()));
            response(GROUPS)
        }
        "system.monitoring.listEndpoints" | "system.getNetworkForSystems" => {
            assert_eq!(
                p[1],
                Value::Array(vec![Value::Int(1_000_010_000), Value::Int(1_000_010_001)])
            );
            if method(seen) == "system.monitoring.listEndpoints" {
                response(ENDPOINTS)
            } else {
                response(NETWORK)
            }
        }
        _ => Reply::status(500, ""),
    }
}

fn discovery(url: &str, password: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  uyuni_sd_configs:\n  - server: {url}/uyuni\n    username: admin\n    password: '{password}'\n"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Uyuni(c) => Discovery::new(c).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn endpoints_become_targets() {
    let api = FakeApi::start(mock).await;
    let d = discovery(&format!("http://{}", api.addr), "pa<ss");
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(
        groups[0].source,
        format!("http://{}/uyuni/rpc/api", api.addr)
    );
    let expected = vec![
        Labels::from_pairs([
            ("__address__", "web-1.example.com:9100"),
            ("__meta_uyuni_minion_hostname", "web-1.example.com"),
            ("__meta_uyuni_primary_fqdn", "web-1.example.com"),
            ("__meta_uyuni_system_id", "1000010000"),
            ("__meta_uyuni_groups", "web,prod"),
            ("__meta_uyuni_endpoint_name", "node_exporter"),
            ("__meta_uyuni_exporter", "node_exporter"),
            ("__meta_uyuni_proxy_module", ""),
            ("__meta_uyuni_metrics_path", "/metrics"),
            ("__meta_uyuni_scheme", "http"),
        ]),
        Labels::from_pairs([
            ("__address__", "db-1:9999"),
            ("__meta_uyuni_minion_hostname", "db-1"),
            ("__meta_uyuni_primary_fqdn", "db-1.example.com"),
            ("__meta_uyuni_system_id", "1000010001"),
            ("__meta_uyuni_groups", ""),
            ("__meta_uyuni_endpoint_name", "apache"),
            ("__meta_uyuni_exporter", "apache_exporter"),
            ("__meta_uyuni_proxy_module", "apache"),
            ("__meta_uyuni_metrics_path", "/proxy"),
            ("__meta_uyuni_scheme", "https"),
        ]),
    ];
    assert_eq!(groups[0].targets, expected);
    // The token is kept: the second refresh does not log in.
    d.refresh().await.unwrap();
    let methods: Vec<String> = api.seen().iter().map(method).collect();
    assert_eq!(methods.iter().filter(|m| *m == "auth.login").count(), 1);
    assert_eq!(methods.len(), 7);
    let token = &params(&api.seen()[1])[0];
    assert_eq!(token, &Value::Str("\n\t\t\t\ta token\n\t\t\t".into()));
}

#[tokio::test]
async fn errors_as_upstream() {
    let api = FakeApi::start(|_: &Seen| Reply::status(500, "")).await;
    let d = discovery(&format!("http://{}", api.addr), "pa<ss");
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "unable to login to Uyuni API: request error: bad status code - 500"
    );

    // Login works, the next call fails: the token is dropped and asked for again.
    api.set(|seen: &Seen| {
        if method(seen) == "auth.login" {
            mock(seen)
        } else {
            Reply::status(500, "")
        }
    });
    for _ in 0..2 {
        assert_eq!(
            d.refresh().await.unwrap_err(),
            "unable to get the managed system groups information of monitored clients: request error: bad status code - 500"
        );
    }
    let logins = api
        .seen()
        .iter()
        .filter(|s| method(s) == "auth.login")
        .count();
    assert_eq!(logins, 3);

    api.set(mock);
    let d = discovery(&format!("http://{}", api.addr), "wrong");
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "unable to login to Uyuni API: Fault(2950): Either the password or username is incorrect."
    );
}

#[test]
fn config_errors_as_upstream() {
    for (block, err) in [
        (
            "{username: a, password: b}",
            "Uyuni SD configuration requires server host",
        ),
        (
            "{server: 'http://x', password: b}",
            "Uyuni SD configuration requires a username",
        ),
        (
            "{server: 'http://x', username: a}",
            "Uyuni SD configuration requires a password",
        ),
    ] {
        let e = config::Config::load_str(
            &format!("scrape_configs:\n- job_name: j\n  uyuni_sd_configs:\n  - {block}\n"),
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(err), "{e}");
    }
}
