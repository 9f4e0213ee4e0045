//! Tests of gce_sd against a fake Compute API and OAuth2 token endpoint on 127.0.0.1, with
//! instance lists shaped as the Compute API's `instances.list` answers (two pages).

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

/// A throwaway 2048-bit RSA key (PKCS#8), made for these tests only.
pub(crate) const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----\n\
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCKBcstsAFATn+C\n\
g1eZUjgbfrOyfTbEPVsMpUxX9xY2XD8wgJ3z+rvFCL8do4E31LaWPkIolw+LR3lg\n\
N0csIxP86UvlpMQ5aDFaP1tC6lFjyTHp5xYirncwitQYGWAH6C4xtB/6JGV7cWJ+\n\
7rL75ATjh2KKDYRe+rxj2nKGEczfjdFg50q8LarZovqs/8p1MehSFQgqYOMJLp0T\n\
M78ctuO3f85Zd5eTCTy5rU6R3Y3Vmx+Q6hK78jdqID73vqGS3Gl5ewwUqo/cebe7\n\
cW4Ddw1uiCdUxxlly1St4DqPOAXKn3TguGpM9DoqEcrLgTnW7b0O3GGQnahwb91X\n\
tYOt9VCPAgMBAAECggEAJ5V0yWQWX8aDjD814stxOvVx/OkrSUmdcLmBdSLwdGOt\n\
XbAtXLkWm/IfuZTYbNYtDVbKq5BzTUsQ1NbVqyNeSqTv9urzudEXgl30QvMnp3oe\n\
vgnfz8+AcGQIYub4IxxkDy4tE5TXo/kHOgckPtiMzGJaEOTCh2jambqfKLM3Mg+y\n\
1oPOAZEfyCsort2pM4SN6JLxWhtnJ6DQUd4C1k+CgMwibSB/IL6bd14yXP5A+ggG\n\
yGgjBDMPA0eA1YMYo/Lc3EjIKEDxxRKCPkeOkf9SUGHDQHK5fR76QZS7kXTxBAqf\n\
gnxDp2Qid/+yVLRG79vCHYHGJKXDwcy6hgmbMCs0QQKBgQDBFcJXbIGroKsWNoHv\n\
Hx8p/adeBAjKo4rMW/9jqxl5okUf9eCHIGb9E+0oxGSRCHVv8CD40Ibsv6g12FA0\n\
o/xKy8zIcGLdHTl+tXmM3ntxBJvB7fmdcSwk4/2/p03hifq5/VrKaZ+naRSs6f1f\n\
FAPGJ/2P6Hg5RIUGzxtDuRsUQQKBgQC2/v3MdE1FHGvIWaqa9SCcJCIEw8xEE6xp\n\
EBYCKJJIR68FyWxVfhXSFhTlj1sQbJ7HmcWvAKwrQn3PIJ4E/wI2yMo6OshlXPvK\n\
R5mvA6fO1w/LG6/om0zr/ixQSRTh5sufPor/pmxgaVcIiFB6Fu9N0OjAv5FLaR7J\n\
xks4zVPwzwKBgCcpLp1kmHgiwhBjRb8l5MAzffqHfvD6cnA4SHgCf8w3qSVuTPeb\n\
DshNflBCZNM1j/wAC+/q+zKRPKCPGtVSXR0ecI5GnQaTotGcJOb5SLgHYz/V8EaK\n\
aZWh2BlC6XzQ61VFmWBsQ8FEgrj/TDA4cvuBqN/DGn8i8ogLAVCe/msBAoGBAJd8\n\
RsU1kbGgcWkNMTnNqg0XrEGdhD7mulbOxilLRK0pCi4UK+Yp1g5v0SSno47ZHCfH\n\
l+ni+KNnC5anPaiNIVwQo7fIaZPfgWBWHVbQA94qEhzk8p3v0aGaazybAvpugCl3\n\
MMGpFxZInY+mqFgpHDiis8q7yp9OifomeKaw8sfpAoGBAI3O2UrShOIliak+Kgsu\n\
OJhqzjOtXy3dWH+VZFdwiOqQKO7ALnJrcDnbOqdDnR9aKR7uSWMx0/t7+CkEK4WK\n\
SbO/Y2APOqm0ysX/AZAWbeoP3kohA6+qcTemUlEFbx8QXnj8UpwJRYuvUhWojiVF\n\
J16MmbbeGT3xl9kT+IeIftbS\n\
-----END PRIVATE KEY-----\n";

const PAGE_1: &str = r#"{
  "kind": "compute#instanceList",
  "items": [
    {
      "id": "5203358923402233587", "name": "web-1", "status": "RUNNING",
      "zone": "https://www.googleapis.com/compute/v1/projects/my-project/zones/europe-west1-b",
      "machineType": "https://www.googleapis.com/compute/v1/projects/my-project/zones/europe-west1-b/machineTypes/e2-small",
      "networkInterfaces": [
        {
          "name": "nic0", "networkIP": "10.132.0.2",
          "network": "https://www.googleapis.com/compute/v1/projects/my-project/global/networks/default",
          "subnetwork": "https://www.googleapis.com/compute/v1/projects/my-project/regions/europe-west1/subnetworks/default",
          "accessConfigs": [{"type": "ONE_TO_ONE_NAT", "name": "External NAT", "natIP": "34.76.1.2"}]
        },
        {"name": "nic-1.b", "networkIP": "10.10.0.5", "network": "n2", "subnetwork": "s2"}
      ],
      "tags": {"items": ["http-server", "prometheus"], "fingerprint": "x"},
      "metadata": {"items": [{"key": "startup-script", "value": "echo hi"}, {"key": "nil-value"}]},
      "labels": {"env": "prod", "team.name": "obs"}
    },
    {"id": "1", "name": "no-interfaces", "status": "TERMINATED", "zone": "z", "networkInterfaces": []}
  ],
  "nextPageToken": "page two"
}"#;

const PAGE_2: &str = r#"{
  "items": [
    {
      "id": "18446744073709551615", "name": "db-1", "status": "STAGING",
      "zone": "https://www.googleapis.com/compute/v1/projects/my-project/zones/europe-west1-b",
      "machineType": "m",
      "networkInterfaces": [
        {"name": "nic0", "networkIP": "10.132.0.3", "network": "n", "subnetwork": "s",
         "accessConfigs": [{"type": "DIRECT_IPV6", "natIP": "ignored"}]}
      ]
    }
  ]
}"#;

fn mock(seen: &Seen) -> Reply {
    let path = seen.uri.split('?').next().unwrap_or_default();
    if path == "/token" {
        return Reply::json(
            r#"{"access_token": "ya29.token", "expires_in": 3599, "token_type": "Bearer"}"#,
        );
    }
    if path == "/computeMetadata/v1/instance/service-accounts/default/token" {
        if seen.headers.get("metadata-flavor").map(|v| v.as_bytes()) != Some(b"Google") {
            return Reply::status(403, "missing Metadata-Flavor");
        }
        return Reply::json(
            r#"{"access_token": "ya29.metadata", "expires_in": 3599, "token_type": "Bearer"}"#,
        );
    }
    if path != "/compute/v1/projects/my-project/zones/europe-west1-b/instances" {
        return Reply::status(404, "not found");
    }
    let auth = seen
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if !matches!(auth, Some("Bearer ya29.token" | "Bearer ya29.metadata")) {
        return Reply::status(
            401,
            r#"{"error": {"code": 401, "message": "Request had invalid authentication credentials.", "errors": [{"message": "Request had invalid authentication credentials.", "reason": "authError"}]}}"#,
        );
    }
    if seen.uri.contains("pageToken=page+two") {
        Reply::json(PAGE_2)
    } else {
        Reply::json(PAGE_1)
    }
}

fn sd_config(extra: &str) -> GceSdConfig {
    let cfg = config::Config::load_str(
        &format!(
            "scrape_configs:\n- job_name: j\n  gce_sd_configs:\n  - project: my-project\n    zone: europe-west1-b\n{extra}"
        ),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Gce(c) => c.clone(),
        other => panic!("{other:?}"),
    }
}

/// A provider for `extra` config lines whose environment is `vars`.
fn discovery(extra: &str, vars: &[(&str, String)]) -> Result<Discovery, String> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    // Never on GCE here: the link-local server is not probed.
    Discovery::with_env(
        &sd_config(extra),
        &move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
        &|| false,
    )
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn write_credentials(dir: &tempfile::TempDir, json: &serde_json::Value) -> String {
    let path = dir.path().join("creds.json");
    std::fs::write(&path, json.to_string()).unwrap();
    path.display().to_string()
}

fn form(body: &str) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

#[tokio::test]
async fn refresh_with_a_service_account_gives_upstreams_labels() {
    let api = FakeApi::start(mock).await;
    let dir = tempfile::tempdir().unwrap();
    let creds = write_credentials(
        &dir,
        &serde_json::json!({
            "type": "service_account",
            "client_email": "sd@my-project.iam.gserviceaccount.com",
            "private_key": TEST_KEY,
            "token_uri": format!("http://{}/token", api.addr),
        }),
    );
    let d = discovery(
        "    port: 9100\n    tag_separator: '|'\n",
        &[
            ("GOOGLE_APPLICATION_CREDENTIALS", creds),
            (ENDPOINT_ENV, format!("http://{}/compute/v1", api.addr)),
        ],
    )
    .unwrap();
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "GCE_my-project_europe-west1-b");
    let zone = "https://www.googleapis.com/compute/v1/projects/my-project/zones/europe-west1-b";
    let expected = vec![
        labels(&[
            ("__address__", "10.132.0.2:9100"),
            ("__meta_gce_project", "my-project"),
            ("__meta_gce_zone", zone),
            ("__meta_gce_instance_id", "5203358923402233587"),
            ("__meta_gce_instance_name", "web-1"),
            ("__meta_gce_instance_status", "RUNNING"),
            (
                "__meta_gce_machine_type",
                "https://www.googleapis.com/compute/v1/projects/my-project/zones/europe-west1-b/machineTypes/e2-small",
            ),
            (
                "__meta_gce_network",
                "https://www.googleapis.com/compute/v1/projects/my-project/global/networks/default",
            ),
            (
                "__meta_gce_subnetwork",
                "https://www.googleapis.com/compute/v1/projects/my-project/regions/europe-west1/subnetworks/default",
            ),
            ("__meta_gce_private_ip", "10.132.0.2"),
            ("__meta_gce_interface_ipv4_nic0", "10.132.0.2"),
            ("__meta_gce_interface_ipv4_nic_1_b", "10.10.0.5"),
            ("__meta_gce_tags", "|http-server|prometheus|"),
            ("__meta_gce_metadata_startup_script", "echo hi"),
            ("__meta_gce_label_env", "prod"),
            ("__meta_gce_label_team_name", "obs"),
            ("__meta_gce_public_ip", "34.76.1.2"),
        ]),
        labels(&[
            ("__address__", "10.132.0.3:9100"),
            ("__meta_gce_project", "my-project"),
            ("__meta_gce_zone", zone),
            ("__meta_gce_instance_id", "18446744073709551615"),
            ("__meta_gce_instance_name", "db-1"),
            ("__meta_gce_instance_status", "STAGING"),
            ("__meta_gce_machine_type", "m"),
            ("__meta_gce_network", "n"),
            ("__meta_gce_subnetwork", "s"),
            ("__meta_gce_private_ip", "10.132.0.3"),
            ("__meta_gce_interface_ipv4_nic0", "10.132.0.3"),
        ]),
    ];
    assert_eq!(groups[0].targets, expected);

    let seen = api.seen();
    assert_eq!(seen.len(), 3);
    // The token request: a JWT bearer grant signed with the key.
    assert_eq!(seen[0].method, http::Method::POST);
    let f = form(&seen[0].body);
    assert_eq!(
        f["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let parts: Vec<&str> = f["assertion"].split('.').collect();
    assert_eq!(parts.len(), 3);
    let decode = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .unwrap()
    };
    assert_eq!(decode(parts[0]), br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims: serde_json::Value = serde_json::from_slice(&decode(parts[1])).unwrap();
    assert_eq!(claims["iss"], "sd@my-project.iam.gserviceaccount.com");
    assert_eq!(claims["scope"], SCOPE);
    assert_eq!(claims["aud"], format!("http://{}/token", api.addr));
    assert_eq!(
        claims["exp"].as_u64().unwrap(),
        claims["iat"].as_u64().unwrap() + 3600
    );
    assert_eq!(decode(parts[2]).len(), 256);
    assert_eq!(
        seen[1].uri,
        "/compute/v1/projects/my-project/zones/europe-west1-b/instances?alt=json&prettyPrint=false"
    );
    assert_eq!(
        seen[2].uri,
        "/compute/v1/projects/my-project/zones/europe-west1-b/instances?alt=json&pageToken=page+two&prettyPrint=false"
    );

    // The token is reused while valid.
    assert_eq!(d.refresh().await.unwrap(), groups);
    assert_eq!(api.seen().len(), 5);
}

#[tokio::test]
async fn authorized_user_filter_and_api_errors() {
    let api = FakeApi::start(mock).await;
    let dir = tempfile::tempdir().unwrap();
    let gcloud = dir.path().join("gcloud");
    std::fs::create_dir(&gcloud).unwrap();
    std::fs::write(
        gcloud.join("application_default_credentials.json"),
        serde_json::json!({
            "type": "authorized_user",
            "client_id": "cid.apps.googleusercontent.com",
            "client_secret": "shh",
            "refresh_token": "1//refresh",
            "token_uri": format!("http://{}/token", api.addr),
        })
        .to_string(),
    )
    .unwrap();
    let d = discovery(
        "    filter: 'labels.env = \"prod\"'\n",
        &[
            ("CLOUDSDK_CONFIG", gcloud.display().to_string()),
            (ENDPOINT_ENV, format!("http://{}/compute/v1", api.addr)),
        ],
    )
    .unwrap();
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups[0].targets.len(), 2);
    let seen = api.seen();
    let f = form(&seen[0].body);
    assert_eq!(f["grant_type"], "refresh_token");
    assert_eq!(f["refresh_token"], "1//refresh");
    assert_eq!(f["client_id"], "cid.apps.googleusercontent.com");
    assert_eq!(f["client_secret"], "shh");
    assert_eq!(
        seen[1].uri,
        "/compute/v1/projects/my-project/zones/europe-west1-b/instances?alt=json&filter=labels.env+%3D+%22prod%22&prettyPrint=false"
    );

    api.set(|seen: &Seen| {
        if seen.uri.starts_with("/compute/") {
            Reply::status(
                403,
                r#"{"error": {"code": 403, "message": "Required 'compute.instances.list' permission for 'projects/my-project'", "errors": [{"message": "Required 'compute.instances.list' permission for 'projects/my-project'", "reason": "forbidden"}]}}"#,
            )
        } else {
            mock(seen)
        }
    });
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "error retrieving refresh targets from gce: googleapi: Error 403: Required 'compute.instances.list' permission for 'projects/my-project', forbidden"
    );
}

#[tokio::test]
async fn metadata_server_credentials_and_token_failures() {
    let api = FakeApi::start(mock).await;
    let env = [
        ("GCE_METADATA_HOST", api.addr.to_string()),
        (ENDPOINT_ENV, format!("http://{}/compute/v1", api.addr)),
    ];
    let d = discovery("", &env).unwrap();
    assert_eq!(d.refresh().await.unwrap()[0].targets.len(), 2);
    let seen = api.seen();
    assert_eq!(
        seen[0].uri,
        "/computeMetadata/v1/instance/service-accounts/default/token?scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcompute.readonly"
    );
    assert_eq!(seen[1].headers["authorization"], "Bearer ya29.metadata");

    api.set(|_: &Seen| Reply::status(500, "metadata unavailable"));
    let fresh = discovery("", &env).unwrap();
    assert_eq!(
        fresh.refresh().await.unwrap_err(),
        "error retrieving refresh targets from gce: oauth2: cannot fetch token: 500 Internal Server Error\nResponse: metadata unavailable"
    );
}

#[test]
fn missing_or_broken_credentials_fail_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let err = discovery("", &[("HOME", dir.path().display().to_string())]).unwrap_err();
    assert_eq!(
        err,
        format!("error setting up communication with GCE service: {NO_CREDENTIALS}")
    );
    let path = write_credentials(
        &dir,
        &serde_json::json!({"type": "impersonated_service_account"}),
    );
    let err = discovery("", &[("GOOGLE_APPLICATION_CREDENTIALS", path)]).unwrap_err();
    assert_eq!(
        err,
        "error setting up communication with GCE service: google: error getting credentials using GOOGLE_APPLICATION_CREDENTIALS environment variable: google: unknown credential type: \"impersonated_service_account\""
    );
    for (source, want) in [
        (
            serde_json::json!({"environment_id": "aws1", "region_url": "http://169.254.169.254"}),
            "google: external account credentials with AWS subject tokens are not supported",
        ),
        (
            serde_json::json!({"executable": {"command": "/bin/token"}}),
            "google: external account credentials with executable-sourced subject tokens are not supported",
        ),
        (
            serde_json::json!({}),
            "oauth2/google: unable to parse credential source",
        ),
        (
            serde_json::json!({"file": "/t", "format": {"type": "json"}}),
            "oauth2/google: missing subject_token_field_name for JSON credential_source format",
        ),
    ] {
        let path = write_credentials(
            &dir,
            &serde_json::json!({
                "type": "external_account",
                "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k",
                "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
                "credential_source": source,
            }),
        );
        let err = discovery("", &[("GOOGLE_APPLICATION_CREDENTIALS", path)]).unwrap_err();
        assert_eq!(
            err,
            format!(
                "error setting up communication with GCE service: google: error getting credentials using GOOGLE_APPLICATION_CREDENTIALS environment variable: {want}"
            )
        );
    }
}

#[test]
fn without_files_or_a_named_host_the_link_local_server_is_used_on_gce() {
    let env = |k: &str| (k == "HOME").then(|| "/nonexistent".to_owned());
    let c = find_credentials(&env, &|| true).unwrap();
    assert!(
        matches!(&c, Credentials::Metadata(url) if url == "http://169.254.169.254"),
        "{c:?}"
    );
    // A named host is trusted without probing (Go's OnGCE does the same).
    let named = |k: &str| (k == "GCE_METADATA_HOST").then(|| "127.0.0.1:8080".to_owned());
    let c = find_credentials(&named, &|| panic!("probed")).unwrap();
    assert!(
        matches!(&c, Credentials::Metadata(url) if url == "http://127.0.0.1:8080"),
        "{c:?}"
    );
    assert_eq!(
        find_credentials(&env, &|| false).unwrap_err(),
        NO_CREDENTIALS
    );
}

/// A loopback HTTP server answering every connection with `answer`.
fn canned_server(answer: &'static str) -> std::net::SocketAddr {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    addr
}

#[test]
fn the_metadata_server_probe_wants_googles_header_or_its_dns_name() {
    let google =
        canned_server("HTTP/1.1 200 OK\r\nmetadata-flavor: Google\r\nContent-Length: 0\r\n\r\n");
    let other = canned_server("HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 0\r\n\r\n");
    // The name is an address literal: no resolver is asked.
    assert!(http_probe(google));
    assert!(!http_probe(other));
    assert!(probe_metadata_server(google, "127.0.0.2", true));
    assert!(!probe_metadata_server(other, "127.0.0.2", true));
    assert!(!probe_metadata_server(other, "127.0.0.2", false));
    // The name resolving to the server's address is enough.
    assert!(probe_metadata_server(other, "127.0.0.1", true));
    // Nothing listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    assert!(!http_probe(closed));
    assert!(!probe_metadata_server(closed, "127.0.0.2", false));
}

/// `mock` plus Google's STS (`/sts`), the IAM credentials API (`/impersonate`) and a
/// subject-token URL (`/subject`).
fn federation_mock(seen: &Seen) -> Reply {
    let path = seen.uri.split('?').next().unwrap_or_default();
    match path {
        "/subject" => {
            if seen.headers.get("metadata").map(|v| v.as_bytes()) != Some(b"True") {
                return Reply::status(400, "no Metadata header");
            }
            Reply::json(r#"{"access_token": "subject-jwt"}"#)
        }
        "/sts" => {
            let f = form(&seen.body);
            if f["subject_token"] != "subject-jwt" {
                return Reply::status(400, r#"{"error":"invalid_grant"}"#);
            }
            // A token for the Compute API itself, or one to impersonate with.
            let token = if f["scope"] == SCOPE {
                "ya29.token"
            } else {
                "ya29.federated"
            };
            Reply::json(format!(
                r#"{{"access_token": "{token}", "issued_token_type": "urn:ietf:params:oauth:token-type:access_token", "token_type": "Bearer", "expires_in": 3600}}"#
            ))
        }
        "/impersonate" => {
            if seen.headers.get("authorization").map(|v| v.as_bytes())
                != Some(b"Bearer ya29.federated")
            {
                return Reply::status(401, "not federated");
            }
            Reply::json(r#"{"accessToken": "ya29.token", "expireTime": "2099-01-01T00:00:00Z"}"#)
        }
        _ => mock(seen),
    }
}

#[tokio::test]
async fn external_accounts_exchange_a_subject_token_at_sts() {
    let api = FakeApi::start(federation_mock).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "subject-jwt\n").unwrap();
    let audience =
        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k";
    let write = |name: &str, json: serde_json::Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, json.to_string()).unwrap();
        path.display().to_string()
    };
    // A file source, the STS token used as it is, STS asked with basic authentication.
    let file = write(
        "file.json",
        serde_json::json!({
            "type": "external_account",
            "audience": audience,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": format!("http://{}/sts", api.addr),
            "client_id": "cid",
            "client_secret": "csecret",
            "credential_source": {"file": token_file.display().to_string()},
        }),
    );
    let endpoint = (ENDPOINT_ENV, format!("http://{}/compute/v1", api.addr));
    let d = discovery(
        "",
        &[("GOOGLE_APPLICATION_CREDENTIALS", file), endpoint.clone()],
    )
    .unwrap();
    assert_eq!(d.refresh().await.unwrap()[0].targets.len(), 2);
    let seen = api.seen();
    assert_eq!(seen[0].uri, "/sts");
    let f = form(&seen[0].body);
    assert_eq!(
        f["grant_type"],
        "urn:ietf:params:oauth:grant-type:token-exchange"
    );
    assert_eq!(f["audience"], audience);
    assert_eq!(f["scope"], SCOPE);
    assert_eq!(
        f["requested_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(
        f["subject_token_type"],
        "urn:ietf:params:oauth:token-type:jwt"
    );
    assert_eq!(seen[0].headers["authorization"], "Basic Y2lkOmNzZWNyZXQ=");
    assert_eq!(seen[1].headers["authorization"], "Bearer ya29.token");

    // A URL source with headers and a JSON field, then impersonation.
    let url = write(
        "url.json",
        serde_json::json!({
            "type": "external_account",
            "audience": audience,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": format!("http://{}/sts", api.addr),
            "service_account_impersonation_url": format!("http://{}/impersonate", api.addr),
            "credential_source": {
                "url": format!("http://{}/subject", api.addr),
                "headers": {"Metadata": "True"},
                "format": {"type": "json", "subject_token_field_name": "access_token"},
            },
        }),
    );
    let before = api.seen().len();
    let d = discovery(
        "",
        &[("GOOGLE_APPLICATION_CREDENTIALS", url), endpoint.clone()],
    )
    .unwrap();
    assert_eq!(d.refresh().await.unwrap()[0].targets.len(), 2);
    let seen = &api.seen()[before..];
    let paths: Vec<&str> = seen
        .iter()
        .map(|s| s.uri.split('?').next().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/subject",
            "/sts",
            "/impersonate",
            "/compute/v1/projects/my-project/zones/europe-west1-b/instances",
            "/compute/v1/projects/my-project/zones/europe-west1-b/instances",
        ]
    );
    assert_eq!(form(&seen[1].body)["scope"], CLOUD_PLATFORM_SCOPE);
    assert!(!seen[1].headers.contains_key("authorization"));
    let asked: serde_json::Value = serde_json::from_str(&seen[2].body).unwrap();
    assert_eq!(
        asked,
        serde_json::json!({"lifetime": "3600s", "scope": [SCOPE]})
    );

    // STS refusing the subject token fails the refresh with its answer.
    std::fs::write(&token_file, "stale-jwt").unwrap();
    let file = dir.path().join("file.json").display().to_string();
    let d = discovery("", &[("GOOGLE_APPLICATION_CREDENTIALS", file), endpoint]).unwrap();
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "error retrieving refresh targets from gce: oauth2/google: status code 400: {\"error\":\"invalid_grant\"}"
    );
}
