//! Tests of stackit_sd against a fake IaaS API and token endpoint on 127.0.0.1 serving
//! upstream's `discovery/stackit/mock_test.go` servers, with a bearer token and with the
//! service account key flow.

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjI1MjQ2MDgwMDB9.c2lnbmF0dXJl";
const PROJECT: &str = "00000000-0000-0000-0000-000000000000";

/// The gce tests' throwaway key in PKCS#1 form, as upstream's test writes it.
const PKCS1_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\n\
MIIEpAIBAAKCAQEAigXLLbABQE5/goNXmVI4G36zsn02xD1bDKVMV/cWNlw/MICd\n\
8/q7xQi/HaOBN9S2lj5CKJcPi0d5YDdHLCMT/OlL5aTEOWgxWj9bQupRY8kx6ecW\n\
Iq53MIrUGBlgB+guMbQf+iRle3Fifu6y++QE44diig2EXvq8Y9pyhhHM343RYOdK\n\
vC2q2aL6rP/KdTHoUhUIKmDjCS6dEzO/HLbjt3/OWXeXkwk8ua1Okd2N1ZsfkOoS\n\
u/I3aiA+976hktxpeXsMFKqP3Hm3u3FuA3cNbognVMcZZctUreA6jzgFyp904Lhq\n\
TPQ6KhHKy4E51u29DtxhkJ2ocG/dV7WDrfVQjwIDAQABAoIBACeVdMlkFl/Gg4w/\n\
NeLLcTr1cfzpK0lJnXC5gXUi8HRjrV2wLVy5FpvyH7mU2GzWLQ1WyquQc01LENTW\n\
1asjXkqk7/bq87nRF4Jd9ELzJ6d6Hr4J38/PgHBkCGLm+CMcZA8uLROU16P5BzoH\n\
JD7YjMxiWhDkwodo2pm6nyizNzIPstaDzgGRH8grKK7dqTOEjeiS8VobZyeg0FHe\n\
AtZPgoDMIm0gfyC+m3deMlz+QPoIBshoIwQzDwNHgNWDGKPy3NxIyChA8cUSgj5H\n\
jpH/UlBhw0ByuX0e+kGUu5F08QQKn4J8Q6dkInf/slS0Ru/bwh2BxiSlw8HMuoYJ\n\
mzArNEECgYEAwRXCV2yBq6CrFjaB7x8fKf2nXgQIyqOKzFv/Y6sZeaJFH/XghyBm\n\
/RPtKMRkkQh1b/Ag+NCG7L+oNdhQNKP8SsvMyHBi3R05frV5jN57cQSbwe35nXEs\n\
JOP9v6dN4Yn6uf1aymmfp2kUrOn9XxQDxif9j+h4OUSFBs8bQ7kbFEECgYEAtv79\n\
zHRNRRxryFmqmvUgnCQiBMPMRBOsaRAWAiiSSEevBclsVX4V0hYU5Y9bEGyex5nF\n\
rwCsK0J9zyCeBP8CNsjKOjrIZVz7ykeZrwOnztcPyxuv6JtM6/4sUEkU4ebLnz6K\n\
/6ZsYGlXCIhQehbvTdDowL+RS2keycZLOM1T8M8CgYAnKS6dZJh4IsIQY0W/JeTA\n\
M336h37w+nJwOEh4An/MN6klbkz3mw7ITX5QQmTTNY/8AAvv6vsykTygjxrVUl0d\n\
HnCORp0Gk6LRnCTm+Ui4B2M/1fBGimmVodgZQul80OtVRZlgbEPBRIK4/0wwOHL7\n\
gajfwxp/IvKICwFQnv5rAQKBgQCXfEbFNZGxoHFpDTE5zaoNF6xBnYQ+5rpWzsYp\n\
S0StKQouFCvmKdYOb9Ekp6OO2Rwnx5fp4vijZwuWpz2ojSFcEKO3yGmT34FgVh1W\n\
0APeKhIc5PKd79Ghmms8mwL6boApdzDBqRcWSJ2PpqhYKRw4orPKu8qfTon6Jnim\n\
sPLH6QKBgQCNztlK0oTiJYmpPioLLjiYas4zrV8t3Vh/lWRXcIjqkCjuwC5ya3A5\n\
2zqnQ50fWike7kljMdP7e/gpBCuFikmzv2NgDzqptMrF/wGQFm3qD95KIQOvqnE3\n\
plJRBW8fEF54/FKcCUWLr1IVqI4lRSdejJm23hk98ZfZE/iHiH7W0g==\n\
-----END RSA PRIVATE KEY-----\n";

const SERVERS: &str = r#"{
  "items": [
    {
      "availabilityZone": "eu01-3",
      "bootVolume": {"deleteOnTermination": false, "id": "1c15e4cc-8474-46be-b875-b473ea9fe80c"},
      "createdAt": "2025-03-12T14:48:17Z",
      "id": "b4176700-596a-4f80-9fc8-5f9c58a606e1",
      "labels": {
        "provisionSTACKITServerAgent": "true",
        "stackit_project_id": "00000000-0000-0000-0000-000000000000"
      },
      "launchedAt": "2025-03-12T14:48:52Z",
      "machineType": "g1.1",
      "name": "runcommandtest",
      "nics": [
        {
          "ipv4": "10.0.0.153", "mac": "fa:16:4f:42:1c:d3",
          "networkId": "3173494f-2f6c-490d-8c12-4b3c86b4338b", "networkName": "test",
          "publicIp": "192.0.2.1", "nicId": "b36097c5-e1c5-4e12-ae97-c03e144db127",
          "nicSecurity": true, "securityGroups": ["6e60809f-bed3-46c6-a39c-adddd6455674"]
        }
      ],
      "powerStatus": "STOPPED", "serviceAccountMails": [], "status": "INACTIVE",
      "updatedAt": "2025-03-13T07:08:29Z", "userData": null,
      "volumes": ["1c15e4cc-8474-46be-b875-b473ea9fe80c"]
    },
    {
      "availabilityZone": "eu01-m", "id": "ee337436-1f15-4647-a03e-154009966179",
      "labels": {}, "machineType": "t1.1", "name": "server1", "nics": [],
      "powerStatus": "RUNNING", "status": "ACTIVE"
    }
  ]
}"#;

fn mock(seen: &Seen) -> Reply {
    let path = seen.uri.split('?').next().unwrap_or_default();
    if path == "/token" {
        if !seen.body.starts_with("assertion=ey") {
            return Reply::status(401, "");
        }
        return Reply::json(format!(r#"{{"access_token": "{TOKEN}"}}"#));
    }
    if path != format!("/v1/projects/{PROJECT}/servers") {
        return Reply::status(404, "not found");
    }
    if seen
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return Reply::status(401, "unauthorized");
    }
    Reply::json(SERVERS)
}

fn discovery(endpoint: &str, extra: &str) -> Discovery {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  stackit_sd_configs:\n  - endpoint: {endpoint}\n    project: {PROJECT}\n{extra}"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Stackit(c) => {
            let mut d = Discovery::new(c).unwrap();
            d.token_url = format!("{endpoint}/token");
            d
        }
        other => panic!("{other:?}"),
    }
}

fn expected() -> Vec<Labels> {
    vec![Labels::from_pairs([
        ("__address__", "192.0.2.1:80"),
        ("__meta_stackit_role", "server"),
        ("__meta_stackit_project", PROJECT),
        ("__meta_stackit_id", "b4176700-596a-4f80-9fc8-5f9c58a606e1"),
        ("__meta_stackit_type", "g1.1"),
        ("__meta_stackit_private_ipv4_test", "10.0.0.153"),
        ("__meta_stackit_public_ipv4", "192.0.2.1"),
        (
            "__meta_stackit_labelpresent_provisionSTACKITServerAgent",
            "true",
        ),
        ("__meta_stackit_label_provisionSTACKITServerAgent", "true"),
        ("__meta_stackit_labelpresent_stackit_project_id", "true"),
        ("__meta_stackit_name", "runcommandtest"),
        ("__meta_stackit_availability_zone", "eu01-3"),
        ("__meta_stackit_status", "INACTIVE"),
        ("__meta_stackit_power_status", "STOPPED"),
        ("__meta_stackit_label_stackit_project_id", PROJECT),
    ])]
}

#[tokio::test]
async fn refresh_with_a_bearer_token() {
    let api = FakeApi::start(mock).await;
    let d = discovery(
        &format!("http://{}", api.addr),
        &format!("    authorization: {{credentials: {TOKEN}}}\n"),
    );
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "stackit");
    assert_eq!(groups[0].targets, expected());
    assert_eq!(
        api.seen()[0].uri,
        format!("/v1/projects/{PROJECT}/servers?details=true")
    );
}

#[tokio::test]
async fn refresh_with_the_key_flow() {
    let api = FakeApi::start(mock).await;
    let key = serde_json::json!({
        "Active": true,
        "Credentials": {
            "Aud": "https://stackit-service-account-prod.apps.01.cf.eu01.stackit.cloud",
            "Iss": "stackit@sa.stackit.cloud",
            "Kid": "123e4567-e89b-12d3-a456-426614174000",
            "Sub": "123e4567-e89b-12d3-a456-426614174001"
        },
        "ID": "123e4567-e89b-12d3-a456-426614174002",
        "KeyAlgorithm": "RSA_2048"
    })
    .to_string();
    let d = discovery(
        &format!("http://{}", api.addr),
        &format!(
            "    service_account_key: '{key}'\n    private_key: {}\n",
            serde_json::to_string(PKCS1_KEY).unwrap()
        ),
    );
    assert_eq!(d.refresh().await.unwrap()[0].targets, expected());
    // The token (valid until its `exp`) is reused.
    assert_eq!(d.refresh().await.unwrap()[0].targets, expected());
    let seen = api.seen();
    assert_eq!(seen.len(), 3);
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(seen[0].body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(
        form["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let parts: Vec<&str> = form["assertion"].split('.').collect();
    let decode = |s: &str| {
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&b).unwrap()
    };
    assert_eq!(
        decode(parts[0]),
        serde_json::json!({"alg": "RS512", "typ": "JWT", "kid": "123e4567-e89b-12d3-a456-426614174000"})
    );
    let claims = decode(parts[1]);
    assert_eq!(claims["iss"], "stackit@sa.stackit.cloud");
    assert_eq!(claims["sub"], "123e4567-e89b-12d3-a456-426614174001");
    assert_eq!(
        claims["exp"].as_u64().unwrap(),
        claims["iat"].as_u64().unwrap() + 600
    );
    assert_eq!(claims["jti"].as_str().unwrap().len(), 36);
}

#[tokio::test]
async fn errors_are_upstreams() {
    let api = FakeApi::start(mock).await;
    let d = discovery(&format!("http://{}", api.addr), "");
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "unexpected status code 401: unauthorized"
    );
    let err = config::Config::load_str(
        "scrape_configs:\n- job_name: j\n  stackit_sd_configs:\n  - {region: '', project: p}\n",
        "",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("endpoint or region missing"), "{err}");
}
