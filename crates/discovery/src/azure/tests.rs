//! Tests of azure_sd against a fake Resource Manager API and token endpoint on 127.0.0.1,
//! serving machines shaped as upstream's `azure_test.go` cases (a standalone VM with tags
//! and a public address, a scale-set VM, a deallocated VM, one with a missing interface).

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

const SUB: &str = "11111111-2222-3333-4444-555555555555";

fn vms(next: &str) -> String {
    format!(
        r#"{{
  "value": [
    {{
      "id": "/subscriptions/{SUB}/resourceGroups/PROM-RG/providers/Microsoft.Compute/virtualMachines/vm-1",
      "name": "vm-1", "type": "Microsoft.Compute/virtualMachines", "location": "westeurope",
      "tags": {{"prometheus": "true", "team-name": "obs"}},
      "properties": {{
        "hardwareProfile": {{"vmSize": "Standard_B1s"}},
        "storageProfile": {{"osDisk": {{"osType": "Linux"}}}},
        "osProfile": {{"computerName": "host-1"}},
        "networkProfile": {{"networkInterfaces": [
          {{"id": "/subscriptions/{SUB}/resourceGroups/prom-rg/providers/Microsoft.Network/networkInterfaces/nic-secondary"}},
          {{"id": "/subscriptions/{SUB}/resourceGroups/prom-rg/providers/Microsoft.Network/networkInterfaces/nic-1"}}
        ]}}
      }}
    }}
  ],
  "nextLink": "{next}"
}}"#
    )
}

fn vms_page_2() -> String {
    format!(
        r#"{{
  "value": [
    {{
      "id": "/subscriptions/{SUB}/resourceGroups/prom-rg/providers/Microsoft.Compute/virtualMachines/stopped",
      "name": "stopped", "location": "westeurope",
      "properties": {{"networkProfile": {{"networkInterfaces": [
        {{"id": "/subscriptions/{SUB}/resourceGroups/prom-rg/providers/Microsoft.Network/networkInterfaces/nic-deallocated"}}
      ]}}}}
    }},
    {{
      "id": "/subscriptions/{SUB}/resourceGroups/prom-rg/providers/Microsoft.Compute/virtualMachines/gone",
      "name": "gone", "location": "westeurope",
      "properties": {{"networkProfile": {{"networkInterfaces": [
        {{"id": "/subscriptions/{SUB}/resourceGroups/prom-rg/providers/Microsoft.Network/networkInterfaces/nic-gone"}}
      ]}}}}
    }}
  ]
}}"#
    )
}

fn scale_sets() -> String {
    format!(
        r#"{{"value": [{{"id": "/subscriptions/{SUB}/resourceGroups/ss-rg/providers/Microsoft.Compute/virtualMachineScaleSets/web", "name": "web"}}]}}"#
    )
}

fn scale_set_vms() -> String {
    format!(
        r#"{{
  "value": [
    {{
      "id": "/subscriptions/{SUB}/resourceGroups/ss-rg/providers/Microsoft.Compute/virtualMachineScaleSets/web/virtualMachines/3",
      "name": "web_3", "instanceId": "3", "location": "northeurope",
      "properties": {{
        "hardwareProfile": {{"vmSize": "Standard_D2s_v3"}},
        "storageProfile": {{"osDisk": {{"osType": "Windows"}}}},
        "osProfile": {{"computerName": "web000003"}},
        "networkProfile": {{"networkInterfaces": [
          {{"id": "/subscriptions/{SUB}/resourceGroups/ss-rg/providers/Microsoft.Compute/virtualMachineScaleSets/web/virtualMachines/3/networkInterfaces/web-nic"}}
        ]}}
      }}
    }}
  ]
}}"#
    )
}

const NIC_1: &str = r#"{"properties": {"primary": true, "ipConfigurations": [
  {"properties": {"privateIPAddress": "10.0.0.4",
   "publicIPAddress": {"properties": {"ipAddress": "20.1.2.3"}}}}]}}"#;
const NIC_SECONDARY: &str = r#"{"properties": {"primary": false, "ipConfigurations": [
  {"properties": {"privateIPAddress": "10.0.1.4"}}]}}"#;
const NIC_DEALLOCATED: &str =
    r#"{"properties": {"ipConfigurations": [{"properties": {"privateIPAddress": "10.0.0.9"}}]}}"#;
const NIC_WEB: &str = r#"{"properties": {"primary": true, "ipConfigurations": [
  {"properties": {"privateIPAddress": "fd00::5", "publicIPAddress": {"id": "x"}}}]}}"#;

fn mock(addr: std::net::SocketAddr) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    move |seen: &Seen| {
        let path = seen.uri.split('?').next().unwrap_or_default().to_owned();
        if path == "/tenant-1/oauth2/v2.0/token" {
            return Reply::json(
                r#"{"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ.secret"}"#,
            );
        }
        if path == "/metadata/identity/oauth2/token" {
            // The instance metadata service refuses requests without its header (the
            // chain's probe).
            if seen.headers.get("metadata").map(|v| v.as_bytes()) != Some(b"true") {
                return Reply::status(400, r#"{"error": "invalid_request"}"#);
            }
            return Reply::json(r#"{"access_token": "eyJ.msi", "expires_in": "3600"}"#);
        }
        if path == "/msi/token" {
            if seen.headers.get("x-identity-header").map(|v| v.as_bytes()) != Some(b"id-header") {
                return Reply::status(400, "no identity header");
            }
            return Reply::json(r#"{"access_token": "eyJ.msi", "expires_in": "3600"}"#);
        }
        let auth = seen
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if !matches!(auth, Some("Bearer eyJ.secret" | "Bearer eyJ.msi")) {
            return Reply::status(
                401,
                r#"{"error": {"code": "InvalidAuthenticationToken", "message": "bad token"}}"#,
            );
        }
        let rm = format!("/subscriptions/{SUB}");
        let nics =
            format!("{rm}/resourceGroups/prom-rg/providers/Microsoft.Network/networkInterfaces/");
        match path.as_str() {
            p if p == format!("{rm}/providers/Microsoft.Compute/virtualMachines") => {
                if seen.uri.contains("page=2") {
                    Reply::json(vms_page_2())
                } else {
                    Reply::json(vms(&format!(
                        "http://{addr}{rm}/providers/Microsoft.Compute/virtualMachines?api-version=2024-03-01&page=2"
                    )))
                }
            }
            p if p == format!("{rm}/providers/Microsoft.Compute/virtualMachineScaleSets") => {
                Reply::json(scale_sets())
            }
            p if p
                == format!(
                    "{rm}/resourceGroups/ss-rg/providers/Microsoft.Compute/virtualMachineScaleSets/web/virtualMachines"
                ) =>
            {
                Reply::json(scale_set_vms())
            }
            p if p
                == format!(
                    "{rm}/resourceGroups/ss-rg/providers/microsoft.Compute/virtualMachineScaleSets/web/virtualMachines/3/networkInterfaces/web-nic"
                ) =>
            {
                Reply::json(NIC_WEB)
            }
            p if p == format!("{nics}nic-1") => Reply::json(NIC_1),
            p if p == format!("{nics}nic-secondary") => Reply::json(NIC_SECONDARY),
            p if p == format!("{nics}nic-deallocated") => Reply::json(NIC_DEALLOCATED),
            _ => Reply::status(
                404,
                r#"{"error": {"code": "NotFound", "message": "not found"}}"#,
            ),
        }
    }
}

fn sd_config(yaml: &str) -> AzureSdConfig {
    let cfg = config::Config::load_str(
        &format!("scrape_configs:\n- job_name: j\n  azure_sd_configs:\n  - subscription_id: {SUB}\n{yaml}"),
        "",
    )
    .unwrap();
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Azure(c) => c.clone(),
        other => panic!("{other:?}"),
    }
}

fn discovery(yaml: &str, vars: &[(&str, String)]) -> Discovery {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    Discovery::with_env(&sd_config(yaml), &move |k| {
        vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
    .unwrap()
}

const OAUTH: &str =
    "    tenant_id: tenant-1\n    client_id: app-1\n    client_secret: s3cret\n    port: 9100\n";

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

#[tokio::test]
async fn refresh_lists_machines_scale_sets_and_interfaces() {
    let api = FakeApi::start(|_: &Seen| Reply::status(500, "")).await;
    api.set(mock(api.addr));
    let base = format!("http://{}", api.addr);
    let d = discovery(
        OAUTH,
        &[
            ("AZURE_AUTHORITY_HOST", base.clone()),
            (ARM_ENV, base.clone()),
        ],
    );
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "");
    let expected = vec![
        labels(&[
            ("__address__", "10.0.0.4:9100"),
            ("__meta_azure_subscription_id", SUB),
            ("__meta_azure_tenant_id", "tenant-1"),
            (
                "__meta_azure_machine_id",
                &format!(
                    "/subscriptions/{SUB}/resourceGroups/PROM-RG/providers/Microsoft.Compute/virtualMachines/vm-1"
                ),
            ),
            ("__meta_azure_machine_name", "vm-1"),
            ("__meta_azure_machine_computer_name", "host-1"),
            ("__meta_azure_machine_os_type", "Linux"),
            ("__meta_azure_machine_location", "westeurope"),
            ("__meta_azure_machine_resource_group", "PROM-RG"),
            ("__meta_azure_machine_size", "Standard_B1s"),
            ("__meta_azure_machine_tag_prometheus", "true"),
            ("__meta_azure_machine_tag_team_name", "obs"),
            ("__meta_azure_machine_private_ip", "10.0.0.4"),
            ("__meta_azure_machine_public_ip", "20.1.2.3"),
        ]),
        labels(&[
            ("__address__", "[fd00::5]:9100"),
            ("__meta_azure_subscription_id", SUB),
            ("__meta_azure_tenant_id", "tenant-1"),
            (
                "__meta_azure_machine_id",
                &format!(
                    "/subscriptions/{SUB}/resourceGroups/ss-rg/providers/Microsoft.Compute/virtualMachineScaleSets/web/virtualMachines/3"
                ),
            ),
            ("__meta_azure_machine_name", "web_3"),
            ("__meta_azure_machine_computer_name", "web000003"),
            ("__meta_azure_machine_os_type", "Windows"),
            ("__meta_azure_machine_location", "northeurope"),
            ("__meta_azure_machine_resource_group", "ss-rg"),
            ("__meta_azure_machine_size", "Standard_D2s_v3"),
            ("__meta_azure_machine_scale_set", "web"),
            ("__meta_azure_machine_private_ip", "fd00::5"),
        ]),
    ];
    assert_eq!(groups[0].targets, expected);

    let seen = api.seen();
    let f: BTreeMap<String, String> = url::form_urlencoded::parse(seen[0].body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(seen[0].uri, "/tenant-1/oauth2/v2.0/token");
    assert_eq!(f["grant_type"], "client_credentials");
    assert_eq!(f["client_id"], "app-1");
    assert_eq!(f["client_secret"], "s3cret");
    assert_eq!(f["scope"], "https://management.core.windows.net//.default");
    assert_eq!(
        seen[1].uri,
        format!(
            "/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines?api-version=2024-03-01"
        )
    );
    let nic = seen.iter().find(|s| s.uri.contains("/nic-1?")).unwrap();
    assert_eq!(
        nic.uri,
        format!(
            "/subscriptions/{SUB}/resourceGroups/prom-rg/providers/Microsoft.Network/networkInterfaces/nic-1?api-version=2023-09-01&%24expand=IPConfigurations%2FPublicIPAddress"
        )
    );
    let token_requests = seen.iter().filter(|s| s.uri.contains("/token")).count();
    assert_eq!(token_requests, 1);

    // The second refresh takes the interfaces from the cache (the missing one is asked
    // again) and the token is reused.
    let before = api.seen().len();
    assert_eq!(d.refresh().await.unwrap(), groups);
    let again: Vec<String> = api.seen()[before..].iter().map(|s| s.uri.clone()).collect();
    assert_eq!(
        again
            .iter()
            .filter(|u| u.contains("networkInterfaces"))
            .count(),
        1,
        "{again:?}"
    );
    assert!(again.iter().any(|u| u.contains("nic-gone")));
    assert_eq!(d.take_cache_hits(), 4);
}

#[tokio::test]
async fn resource_group_managed_identity_and_errors() {
    let api = FakeApi::start(|_: &Seen| Reply::status(500, "")).await;
    api.set(mock(api.addr));
    let base = format!("http://{}", api.addr);
    let d = discovery(
        "    authentication_method: ManagedIdentity\n    client_id: mi-client\n    resource_group: prom-rg\n",
        &[
            ("IDENTITY_ENDPOINT", format!("{base}/msi/token")),
            ("IDENTITY_HEADER", "id-header".to_owned()),
            (ARM_ENV, base.clone()),
        ],
    );
    // The resource group's lists are not served: the refresh fails on the first.
    let err = d.refresh().await.unwrap_err();
    let url = format!(
        "{base}/subscriptions/{SUB}/resourceGroups/prom-rg/providers/Microsoft.Compute/virtualMachines?api-version=2024-03-01"
    );
    assert!(
        err.starts_with(&format!(
            "could not get virtual machines: could not list virtual machines: GET {url}\n"
        )),
        "{err}"
    );
    assert!(
        err.contains("RESPONSE 404: 404 Not Found\nERROR CODE: NotFound\n"),
        "{err}"
    );
    let seen = api.seen();
    assert_eq!(
        seen[0].uri,
        "/msi/token?api-version=2019-08-01&client_id=mi-client&resource=https%3A%2F%2Fmanagement.core.windows.net%2F"
    );
    assert_eq!(seen[1].headers["authorization"], "Bearer eyJ.msi");

    // A primary interface without a private address fails the whole refresh.
    api.set(move |seen: &Seen| {
        if seen.uri.contains("/nic-1?") {
            Reply::json(
                r#"{"properties": {"primary": true, "ipConfigurations": [{"properties": {}}]}}"#,
            )
        } else {
            mock(api_addr(seen))(seen)
        }
    });
    let d = discovery(
        OAUTH,
        &[
            ("AZURE_AUTHORITY_HOST", base.clone()),
            (ARM_ENV, base.clone()),
        ],
    );
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "unable to complete Azure service discovery: unable to find a private IP for VM vm-1"
    );

    let d = discovery(
        &format!("{OAUTH}    environment: AzureMars\n"),
        &[(ARM_ENV, base)],
    );
    assert_eq!(
        d.refresh().await.unwrap_err(),
        "could not create Azure client: there is no cloud configuration matching the name \"AZUREMARS\""
    );
}

/// The fake's address as the request saw it (its `Host` header).
fn api_addr(seen: &Seen) -> std::net::SocketAddr {
    seen.headers["host"].to_str().unwrap().parse().unwrap()
}

#[test]
fn resource_ids() {
    assert_eq!(
        parse_resource_id(
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkInterfaces/n"
        ),
        Ok(("g".to_owned(), "n".to_owned()))
    );
    assert_eq!(
        parse_resource_id("nic-1"),
        Err("invalid ID 'nic-1': invalid resource ID".to_owned())
    );
}

/// A directory holding a fake `az` that records its arguments in `args` and prints
/// `stdout` (exit 0) or `stderr` (exit 1).
fn fake_az(stdout: &str, stderr: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("args");
    let script = if stderr.is_empty() {
        format!(
            "#!/bin/sh\nprintf '%s ' \"$@\" > '{}'\nprintf '%s' '{stdout}'\n",
            args.display()
        )
    } else {
        format!("#!/bin/sh\nprintf '%s' '{stderr}' >&2\nexit 1\n")
    };
    let az = dir.path().join("az");
    std::fs::write(&az, script).unwrap();
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

const SDK: &str = "    authentication_method: SDK\n    port: 9100\n";

#[tokio::test]
async fn sdk_workload_identity_exchanges_the_federated_token() {
    let api = FakeApi::start(|_: &Seen| Reply::status(500, "")).await;
    api.set(mock(api.addr));
    let base = format!("http://{}", api.addr);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("azure-identity-token");
    std::fs::write(&token_file, "federated.jwt\n").unwrap();
    // A CLI that would work: workload identity comes first.
    let az = fake_az(
        r#"{"accessToken": "eyJ.msi", "expires_on": 4102444800}"#,
        "",
    );
    let env = vec![
        ("AZURE_AUTHORITY_HOST", base.clone()),
        (ARM_ENV, base.clone()),
        (
            "AZURE_FEDERATED_TOKEN_FILE",
            token_file.display().to_string(),
        ),
        ("AZURE_CLIENT_ID", "wi-client".to_owned()),
        ("AZURE_TENANT_ID", "tenant-1".to_owned()),
        ("PATH", az.path().display().to_string()),
    ];
    let d = discovery(SDK, &env);
    assert_eq!(d.refresh().await.unwrap()[0].targets.len(), 2);
    let seen = api.seen();
    assert_eq!(seen[0].uri, "/tenant-1/oauth2/v2.0/token");
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(seen[0].body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(form["client_assertion"], "federated.jwt");
    assert_eq!(
        form["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    assert_eq!(form["client_id"], "wi-client");
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(
        form["scope"],
        "https://management.core.windows.net//.default"
    );
    assert!(!form.contains_key("client_secret"));
    assert!(!az.path().join("args").exists(), "az was not run");

    // `tenant_id` wins over AZURE_TENANT_ID; an authority refusing the assertion ends the
    // chain (the working CLI is not tried).
    let d = discovery(&format!("{SDK}    tenant_id: tenant-2\n"), &env);
    let err = d.refresh().await.unwrap_err();
    assert!(
        err.starts_with("could not get virtual machines: could not list virtual machines: WorkloadIdentityCredential authentication failed: 401 Unauthorized: "),
        "{err}"
    );
    assert!(!az.path().join("args").exists(), "az was not run");

    // The environment's client secret comes before workload identity.
    let mut with_secret = env.clone();
    with_secret.push(("AZURE_CLIENT_SECRET", "s3cret".to_owned()));
    let before = api.seen().len();
    discovery(SDK, &with_secret).refresh().await.unwrap();
    let form: BTreeMap<String, String> =
        url::form_urlencoded::parse(api.seen()[before].body.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(form["client_secret"], "s3cret");
}

#[tokio::test]
async fn sdk_chain_falls_through_to_managed_identity_then_the_cli() {
    let api = FakeApi::start(|_: &Seen| Reply::status(500, "")).await;
    api.set(mock(api.addr));
    let base = format!("http://{}", api.addr);
    let no_az = tempfile::tempdir().unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    // The metadata service answers (its probe gets a 400): the managed identity.
    let d = discovery(
        SDK,
        &[
            (ARM_ENV, base.clone()),
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST", base.clone()),
            ("AZURE_CLIENT_ID", "mi-client".to_owned()),
            ("PATH", no_az.path().display().to_string()),
        ],
    );
    assert_eq!(d.refresh().await.unwrap()[0].targets.len(), 2);
    let imds: Vec<String> = api
        .seen()
        .iter()
        .filter(|s| s.uri.starts_with("/metadata/"))
        .map(|s| s.uri.clone())
        .collect();
    assert_eq!(
        imds,
        [
            "/metadata/identity/oauth2/token".to_owned(),
            "/metadata/identity/oauth2/token?api-version=2018-02-01&client_id=mi-client&resource=https%3A%2F%2Fmanagement.core.windows.net%2F".to_owned(),
        ]
    );

    // No metadata service: the CLI, with the tenant.
    let az = fake_az(
        r#"{"accessToken": "eyJ.msi", "expires_on": 4102444800}"#,
        "",
    );
    let d = discovery(
        &format!("{SDK}    tenant_id: tenant-9\n"),
        &[
            (ARM_ENV, base.clone()),
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST", closed.clone()),
            ("PATH", az.path().display().to_string()),
        ],
    );
    assert_eq!(d.refresh().await.unwrap()[0].targets.len(), 2);
    assert_eq!(
        std::fs::read_to_string(az.path().join("args")).unwrap(),
        "account get-access-token -o json --resource https://management.core.windows.net/ --tenant tenant-9 "
    );

    // Nothing available: every member says why.
    for (path, cli) in [
        (no_az.path(), "Azure CLI not found on path"),
        (
            fake_az("", "ERROR: Please run az login to setup account.").path(),
            "Please run 'az login' to set up account",
        ),
    ] {
        let d = discovery(
            SDK,
            &[
                (ARM_ENV, base.clone()),
                ("AZURE_POD_IDENTITY_AUTHORITY_HOST", closed.clone()),
                ("PATH", path.display().to_string()),
            ],
        );
        let err = d.refresh().await.unwrap_err();
        let want = "could not get virtual machines: could not list virtual machines: DefaultAzureCredential: failed to acquire a token.\nAttempted credentials:\n\tEnvironmentCredential: missing environment variable AZURE_CLIENT_ID\n\tWorkloadIdentityCredential: no token file specified. Check pod configuration or set TokenFilePath in the options\n\tManagedIdentityCredential: no response from the IMDS endpoint: ";
        assert!(err.starts_with(want), "{err}");
        assert!(
            err.ends_with(&format!("\n\tAzureCLICredential: {cli}")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn azure_token_credentials_narrows_the_sdk_chain() {
    let api = FakeApi::start(|_: &Seen| Reply::status(500, "")).await;
    api.set(mock(api.addr));
    let base = format!("http://{}", api.addr);
    let az = fake_az(
        r#"{"accessToken": "eyJ.msi", "expires_on": 4102444800}"#,
        "",
    );
    let env = |choice: &str| {
        vec![
            (ARM_ENV, base.clone()),
            ("AZURE_AUTHORITY_HOST", base.clone()),
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST", base.clone()),
            ("AZURE_CLIENT_ID", "app-1".to_owned()),
            ("AZURE_CLIENT_SECRET", "s3cret".to_owned()),
            ("AZURE_TENANT_ID", "tenant-1".to_owned()),
            ("PATH", az.path().display().to_string()),
            ("AZURE_TOKEN_CREDENTIALS", choice.to_owned()),
        ]
    };
    // `dev`: the CLI only, though the environment has a secret and IMDS answers.
    discovery(SDK, &env("dev")).refresh().await.unwrap();
    assert!(az.path().join("args").exists());
    assert!(
        api.seen()
            .iter()
            .all(|s| !s.uri.contains("/oauth2/") && !s.uri.starts_with("/metadata/"))
    );
    // A member by name: the managed identity.
    discovery(SDK, &env("managedidentitycredential"))
        .refresh()
        .await
        .unwrap();
    assert!(api.seen().iter().any(|s| s.uri.starts_with("/metadata/")));
    assert!(api.seen().iter().all(|s| !s.uri.contains("/oauth2/v2.0/")));
    // `prod`: the environment's secret first.
    discovery(SDK, &env("prod")).refresh().await.unwrap();
    assert!(
        api.seen()
            .iter()
            .any(|s| s.uri == "/tenant-1/oauth2/v2.0/token")
    );
    let err = discovery(SDK, &env("everything"))
        .refresh()
        .await
        .unwrap_err();
    assert_eq!(
        err,
        "could not create Azure client: invalid AZURE_TOKEN_CREDENTIALS value \"everything\". Valid values are \"dev\", \"prod\", or the name of any credential type in the default chain"
    );
}
