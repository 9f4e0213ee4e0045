//! Tests of oci_sd against a fake OCI API on 127.0.0.1 that verifies every request's
//! signature with the test key's public half.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use model::Labels;

use super::*;
use crate::util::testserver::{FakeApi, Reply, Seen};

/// The API key the fake OCI API trusts (PKCS#8, 2048 bits, made for these tests).
pub(crate) const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----\n\
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDTOqvyTOlnaEID\n\
XFEcquSWNiCCys+0SeLraWx2PaZwioWHOtYmAvYzRrfQgDDO8EazijlapNtkomBs\n\
eAANVrGv+9Htn2WZaj0eJ78hSoUazqxVUbjWV0ui4MbIm0hts3GlCP9aGwa6qYLl\n\
U2XIfLuQ1CJZZMzNkHAN/CkJxUpKtf3xoyC50IRa38Vn/B6oPvuni64WeMda5n29\n\
TC//RB8q7+Z8BXZ6DMzYNQKupe/8M/Nny6DMd25cRh3eZ1EXPCkOX3aw4LBt2WZz\n\
0dNs+jh3b4d1JOWDiZOsLfc/FiILqirR/S5xjGUK1k4DO8qlYArdJewXaM7gzjCX\n\
68LcWq2RAgMBAAECggEABsih2I6FSXOk+RgoJ7hKTpOu8Bxk1sivr7lLSTHaLE+a\n\
kbj/QynBr+xjv1+6kY7Qang0NtfIDv+TArDI6aTA4KLA/3VozShHDbafkgljZHTC\n\
Ppw5CDM2A+VdpPgtt441hmQXVVS8XtbOVCCdSnbNDE3vy3isBicPHjfctopeRC9s\n\
puNBigfWEOnE+WPQPXcRhQ2CIUdD95IxCTQc+I8h3Fi+Sc6rFzil13MhrZghFyld\n\
hJNui4uYEy9Q2ao4zudYO9u6nNpJ1IM/fXEkI5FkMaZBY3tslFZbR06HDsbjkgSI\n\
T6yde+8BRkJb02vk1sgH7vovxJLK/KKaQzSxurqegQKBgQDvQej/ox6RbPyCe2vP\n\
OZEyW+zdnEbZjDySOUx+V7pbM5+G2VLiA6qXtXNwHm/P7UfLTDvvL54X0TOrGHGE\n\
N0xehelUJDXfdsO+Vf/bA4vb4PNTKQrpUexMkB8N/v+5+CMbe+0UhtMVS37KpcNe\n\
dk7EDkIWzQ9pYwxsa3b19lfJIQKBgQDiAqjGh+rExVghfKjsqmRS55OaKkwMqQfO\n\
GBCUSlOuMmnO492t/Ni6XoKNhMVxe//O9dTyeXfeIFr3OvWHpvcKsssJNc4oaSIf\n\
mDGu3H0y9ILUFvjdLUYdtItqYk1m10cqEc6lLUl6aETsgqHGgMHyq3sr47eAA+dN\n\
Lq5mX8AmcQKBgEzdsPyILGbuS8Wj30QJK6OxMs0TyxNTYZZcwD2K870fPa42HdGs\n\
+d6Zlge8T5HOmpUu3cZ/VtwyAtaCGN4wYeGwRgEZTRGI92Qr/vIfFozCnYnnErFY\n\
94C1gLSfawsVNDo9OzKwChq6UXbLgJPVkIKeTg9DPCNQhgpDEEn/Jb7hAoGBANci\n\
LuOj1x5styJRFj8JRqv/0WlrH67haxOLpqRxR8xGIp+UGZyXVPm6Is1w97y5itvG\n\
92fDpg0jgVNapQL2NKvTWx8uP0oKITgv2AMZ0HcjdjFKmKN4iAiYpiii4AinnQ73\n\
mltyi0HgZNM42aMpRvSmtH0nqrFJhe/bIplCRZaRAoGAfqc/+O/1Ouqm1cMQj5o/\n\
KVagNTFOXd2q7nzG/vcVGOe2pjKCHs8tN+LI5akFAtMhTFyPsTHnT7dMmkawbpul\n\
4/fE5dmdle9Z6q7k9giuDBJrJsT4h2/AG/tikDBowBRbhwcA1lpwhrxskplWdXGe\n\
5W3iDxdQWNt75kh89Ih8auY=\n\
-----END PRIVATE KEY-----\n";

/// A key the fake API does not know (PKCS#1, 2048 bits).
pub(crate) const OTHER_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\n\
MIIEowIBAAKCAQEAuuI2KEhg2GumkNhttt2QZutCEYdq8LzX9WCNvh/RO/SiiLxF\n\
RPhvy4nMAcCASKEmzaUX2HqMZGI3j5/MBljQqI7rAPQ3LMfZpgJzJfqnhhKiImd2\n\
v29t4frIOap+eTH/EI1XAbo2fBfMx0SEH10xbvO5g0P4V9rrVKiYhP1wEHCK0Rzn\n\
D2LkCa2Okg2sWx2Z2Ob6Rm/ps9e39exlILMjyaik17sQaoY2HqEnmidoQWUkCAxI\n\
fJeOoX3X5YuvB7H6GU5EJZRicc68NKqie+u8SQL753pnqCugoH31l0dTd82B8hhE\n\
ho4F+Jywd6vrnWw+/h3mQDb1rS8YfUfXVMMIrQIDAQABAoIBAAPKS7aPGpEObzSN\n\
LH3NdOd0H6+9qIW/vBIzcPHUBl5/bH52cbc04gY67LgftdpYk7IPBkfzMFQRiTab\n\
UzwmYqZQg7lOEAJoqTmMiiumhO2bWiN1fWXji33OTsTwosZaz7qqYIMzSiCZK6OM\n\
+FsEfQNW48J4R0SiNtdNi2OtxNnoeDS9HMq+9mlwzo2Nn+7ltpxa4EhWul6/R9m2\n\
VE/lfSGQyFj/fnxmwxBjfTRVWj1h+QFpyMb8pHv1nbrsbWMQeRP6INYJDAQ515sf\n\
xa1h8SNQuRYIQhqW/bok4zaaH1wiXP+9UtRQ7Opm/OfunrGXnuzaSA4sDkfeTli8\n\
XgjQIJcCgYEA4wF45KzB+OX1E8Km0ev07wkKVrtTvJBmeMHFj6DKZaHU7fVmpks6\n\
XHY6JB83FeTCQ/JbyM5/rXm3p8CUUaiBzra1l+pMjHbFU2X2EwH8jPR/2sW2JAXh\n\
4Hn1j7NtdD4gNLIVOQlFkCYGcw4im8XIKdZgEcQyIhH+ljWvDtrku7MCgYEA0sDY\n\
ZCA6bIW+tVsh308oojIn0skobjXnMl1uH8S01M7UV0ytLMx2OrM9+LJVOyPfwlFO\n\
4InmSkOmZ4KCI4dXLRBhPUsg65iEGNof2In2JY3ew0Dm38yT+Dxe++WVgXFkaIww\n\
Ie7F1N9p2Zh+gH9mm2+bPlw319Nx0uAg3lVveh8CgYAqP2rlfDV5giqza8WqSfTC\n\
y/btn119OY6oqL+A9JbWhWDgjIx3JIcPED3P3TNeUr3I8YEdhTkD6yRABzpTXD4U\n\
X7K6PDPU7IHa/J3oebUr8pEdATDd0W5xXaFTBjy3ppxN0lray5vzsPAAV8AfJ5cS\n\
GkC07cO6zYiJIiKbbCenuwKBgQDMr2L6i5pyf8rilCnnmhfav1+SBrBvqYZrkfY8\n\
gG0oKeBtERk34zQIesD7YygIEiVlslYrGYNCKUXaThRasT1nlPr77pWAe1YAVQiM\n\
5CDeBFWPyN7yCNzFQMz3VNjJKPnd2Bl/O0mEH5/MJ6Dk59cdq11ZSXMq+D8aEXea\n\
t9tW/QKBgE86c3EQCOrSjupSaJECaZ7AwxiU/uI214nC3slqphZtJqDIBJ+Oa0ja\n\
KNQf+CvPkIYSQck7Fl3nvG2H+7gep3E4yFhC4YLFmt7Cxt0/3e2RGM6Xjay7c/ej\n\
lf5Zt6R2L8gbImepS7rWRvjLtxEYjdzffqH8e4HfuSRw8gcZjp3v\n\
-----END RSA PRIVATE KEY-----\n";

const TENANCY: &str = "ocid1.tenancy.oc1..test";
const USER: &str = "ocid1.user.oc1..test";
const FINGERPRINT: &str = "aa:bb:cc:dd";
const COMP: &str = "ocid1.compartment.oc1..comp1";

/// Checks the `authorization` header of `seen` (Go SDK's form, our key id and headers)
/// against `public` (the key's PKCS#1 public half); the reason when it fails.
fn verify(seen: &Seen, public: &[u8]) -> Result<(), String> {
    let auth = seen
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or("no authorization header")?;
    let params = auth
        .strip_prefix("Signature ")
        .ok_or("not a Signature authorization")?;
    let fields: HashMap<&str, &str> = params
        .split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k, v.strip_prefix('"')?.strip_suffix('"')?))
        })
        .collect();
    if fields.get("version") != Some(&"1") || fields.get("algorithm") != Some(&"rsa-sha256") {
        return Err(format!("bad version or algorithm: {auth}"));
    }
    if fields.get("keyId") != Some(&format!("{TENANCY}/{USER}/{FINGERPRINT}").as_str()) {
        return Err(format!("unknown keyId: {auth}"));
    }
    let names = *fields.get("headers").ok_or("no headers")?;
    if names != "date (request-target) host" {
        return Err(format!("unexpected signed headers {names:?}"));
    }
    if seen.headers.get_all("host").iter().count() != 1 {
        return Err("not exactly one host header".into());
    }
    let mut lines = Vec::new();
    for name in names.split(' ') {
        if name == "(request-target)" {
            lines.push(format!(
                "(request-target): {} {}",
                seen.method.as_str().to_ascii_lowercase(),
                seen.uri
            ));
        } else {
            let v = seen
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or(format!("signed header {name} missing"))?;
            lines.push(format!("{name}: {v}"));
        }
    }
    let sig = base64::engine::general_purpose::STANDARD
        .decode(fields.get("signature").ok_or("no signature")?)
        .map_err(|e| e.to_string())?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public)
        .verify(lines.join("\n").as_bytes(), &sig)
        .map_err(|_| "signature does not verify".to_owned())
}

fn instance(id: &str, name: &str, state: &str, extra: &str) -> String {
    format!(
        r#"{{"id": "{id}", "displayName": "{name}", "lifecycleState": "{state}",
            "shape": "VM.Standard.E4.Flex", "availabilityDomain": "Uocm:US-ASHBURN-AD-1",
            "faultDomain": "FAULT-DOMAIN-2", "region": "iad", "compartmentId": "{COMP}",
            "imageId": "ocid1.image.oc1.iad.img1", "timeCreated": "2026-01-01T00:00:00Z"{extra}}}"#
    )
}

fn attachment(instance: &str, vnic: &str, state: &str) -> String {
    format!(
        r#"{{"id": "ocid1.vnicattachment.oc1..{vnic}", "instanceId": "{instance}",
            "vnicId": "{vnic}", "lifecycleState": "{state}", "compartmentId": "{COMP}"}}"#
    )
}

fn query(seen: &Seen) -> HashMap<String, String> {
    let q = seen.uri.split_once('?').map(|(_, q)| q).unwrap_or_default();
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

/// The fake API: instances and VNIC attachments over two pages each, VNICs, and a
/// compartment tree (tenancy → comp1 (2 pages: comp1, comp2, a deleted one) → …).
fn api(seen: &Seen) -> Reply {
    let path = seen.uri.split('?').next().unwrap_or_default().to_owned();
    let q = query(seen);
    let page = q.get("page").map(String::as_str);
    let json = |body: String| Reply::json(format!("[{body}]"));
    match path.as_str() {
        "/20160918/instances" => match (q["compartmentId"].as_str(), page) {
            (COMP, None) => json(instance(
                "ocid1.instance.oc1..i1",
                "web-1",
                "RUNNING",
                r#", "freeformTags": {"env": "prod", "My-Team.Key": "x"},
                   "definedTags": {"Oracle-Tags": {"CreatedBy": "me@example.com",
                       "Cost": 42, "Rate": 0.5, "On": true, "Nil": null, "List": ["a"]}}"#,
            ))
            .header("opc-next-page", "page two"),
            (COMP, Some("page two")) => json(
                [
                    instance("ocid1.instance.oc1..i2", "db-1", "RUNNING", ""),
                    instance("ocid1.instance.oc1..i3", "no-primary", "RUNNING", ""),
                    instance("ocid1.instance.oc1..i4", "gone", "TERMINATED", ""),
                    r#"{"displayName": "no-id", "compartmentId": "x"}"#.to_owned(),
                ]
                .join(","),
            ),
            _ => Reply::json("[]"),
        },
        "/20160918/vnicAttachments" => {
            assert_eq!(q["compartmentId"], COMP);
            match (q["instanceId"].as_str(), page) {
                ("ocid1.instance.oc1..i1", None) => {
                    json(attachment("ocid1.instance.oc1..i1", "v1b", "ATTACHED"))
                        .header("opc-next-page", "2")
                }
                ("ocid1.instance.oc1..i1", Some("2")) => json(
                    [
                        attachment("ocid1.instance.oc1..i1", "v1old", "DETACHED"),
                        attachment("ocid1.instance.oc1..i1", "v1a", "ATTACHED"),
                        attachment("ocid1.instance.oc1..i1", "v1c", "ATTACHED"),
                    ]
                    .join(","),
                ),
                ("ocid1.instance.oc1..i2", None) => {
                    json(attachment("ocid1.instance.oc1..i2", "v2", "ATTACHED"))
                }
                ("ocid1.instance.oc1..i3", None) => {
                    json(attachment("ocid1.instance.oc1..i3", "v1b", "ATTACHED"))
                }
                ("ocid1.instance.oc1..i4", None) => {
                    json(attachment("ocid1.instance.oc1..i4", "v4", "DETACHED"))
                }
                _ => Reply::json("[]"),
            }
        }
        "/20160918/vnics/v1a" => Reply::json(
            r#"{"id": "v1a", "isPrimary": true, "privateIp": "10.0.0.5",
                "publicIp": "203.0.113.1", "hostnameLabel": "web1",
                "subnetId": "ocid1.subnet.oc1..s1"}"#,
        ),
        "/20160918/vnics/v1b" => {
            Reply::json(r#"{"id": "v1b", "isPrimary": false, "privateIp": "10.0.1.5"}"#)
        }
        "/20160918/vnics/v2" => Reply::json(
            r#"{"id": "v2", "isPrimary": true, "privateIp": "",
                "publicIp": "198.51.100.7", "ipv6Addresses": ["2001:db8::2", "2001:db8::1"]}"#,
        ),
        "/20160918/compartments" => {
            let active = |id: &str| format!(r#"{{"id": "{id}", "lifecycleState": "ACTIVE"}}"#);
            assert_eq!(q["accessLevel"], "ACCESSIBLE");
            assert_eq!(q["compartmentIdInSubtree"], "false");
            match (q["compartmentId"].as_str(), page) {
                (TENANCY, None) => json(active(COMP)).header("opc-next-page", "n"),
                (TENANCY, Some("n")) => json(
                    [
                        active("ocid1.compartment.oc1..comp2"),
                        r#"{"id": "ocid1.compartment.oc1..dead", "lifecycleState": "DELETED"}"#
                            .to_owned(),
                    ]
                    .join(","),
                ),
                (COMP, None) => json(active("ocid1.compartment.oc1..comp1a")),
                ("ocid1.compartment.oc1..comp2", None) => Reply::status(
                    404,
                    r#"{"code": "NotAuthorizedOrNotFound", "message": "not allowed"}"#,
                ),
                _ => Reply::json("[]"),
            }
        }
        _ => Reply::status(404, r#"{"code": "NotFound", "message": "no such path"}"#),
    }
}

/// A fake OCI API that answers 401 to any request whose signature does not verify.
async fn fake_oci() -> FakeApi {
    let public: Arc<Vec<u8>> = Arc::new(
        crate::util::rsa_key(TEST_KEY)
            .unwrap()
            .public()
            .as_ref()
            .to_vec(),
    );
    FakeApi::start(move |seen: &Seen| match verify(seen, &public) {
        Ok(()) => api(seen),
        Err(why) => Reply::status(
            401,
            format!(
                r#"{{"code": "NotAuthenticated", "message": "The required information to complete authentication was not provided or was incorrect ({why})."}}"#
            ),
        ),
    })
    .await
}

/// An oci_sd block loaded through the config crate, with the key written to a file.
fn config(dir: &tempfile::TempDir, key: &str, extra: &str) -> Result<OciSdConfig, String> {
    let key_file = dir.path().join("oci_api_key.pem");
    std::fs::write(&key_file, key).unwrap();
    let yaml = format!(
        "scrape_configs:\n- job_name: j\n  oci_sd_configs:\n  - region: us-ashburn-1\n    \
         tenancy: {TENANCY}\n    user: {USER}\n    fingerprint: '{FINGERPRINT}'\n    \
         key_file: {}\n    port: 9100\n{extra}",
        key_file.display()
    );
    let cfg = config::Config::load_str(&yaml, "").map_err(|e| e.to_string())?;
    match &cfg.scrape_configs[0].service_discovery_configs.0[0] {
        config::ServiceDiscoveryConfig::Oci(c) => Ok(c.clone()),
        other => panic!("{other:?}"),
    }
}

fn discovery(api: &FakeApi, cfg: &OciSdConfig) -> Discovery {
    let mut d = Discovery::new(cfg).unwrap();
    d.compute_url = format!("http://{}", api.addr);
    d.identity_url = format!("http://{}", api.addr);
    d
}

const COMPARTMENTS: &str = "    compartments: [ocid1.compartment.oc1..comp1]\n";

#[tokio::test]
async fn refresh_lists_signed_pages_into_exact_targets() {
    let api = fake_oci().await;
    let dir = tempfile::tempdir().unwrap();
    let d = discovery(&api, &config(&dir, TEST_KEY, COMPARTMENTS).unwrap());
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].source, "OCI");
    let common = |id: &str, name: &str| {
        vec![
            ("__meta_oci_instance_id", id.to_owned()),
            ("__meta_oci_instance_name", name.to_owned()),
            ("__meta_oci_instance_state", "RUNNING".to_owned()),
            (
                "__meta_oci_instance_shape",
                "VM.Standard.E4.Flex".to_owned(),
            ),
            (
                "__meta_oci_availability_domain",
                "Uocm:US-ASHBURN-AD-1".to_owned(),
            ),
            ("__meta_oci_fault_domain", "FAULT-DOMAIN-2".to_owned()),
            ("__meta_oci_region", "iad".to_owned()),
            ("__meta_oci_tenancy_id", TENANCY.to_owned()),
            ("__meta_oci_compartment_id", COMP.to_owned()),
            ("__meta_oci_image_id", "ocid1.image.oc1.iad.img1".to_owned()),
        ]
    };
    let mut web = common("ocid1.instance.oc1..i1", "web-1");
    web.extend([
        ("__address__", "10.0.0.5:9100".to_owned()),
        ("__meta_oci_vnic_id", "v1a".to_owned()),
        ("__meta_oci_private_ip", "10.0.0.5".to_owned()),
        ("__meta_oci_public_ip", "203.0.113.1".to_owned()),
        ("__meta_oci_hostname_label", "web1".to_owned()),
        ("__meta_oci_tag_env", "prod".to_owned()),
        ("__meta_oci_tag_My_Team_Key", "x".to_owned()),
        (
            "__meta_oci_defined_tag_Oracle_Tags_CreatedBy",
            "me@example.com".to_owned(),
        ),
        ("__meta_oci_defined_tag_Oracle_Tags_Cost", "42".to_owned()),
        ("__meta_oci_defined_tag_Oracle_Tags_Rate", "0.5".to_owned()),
        ("__meta_oci_defined_tag_Oracle_Tags_On", "true".to_owned()),
    ]);
    let mut db = common("ocid1.instance.oc1..i2", "db-1");
    db.extend([
        ("__address__", "198.51.100.7:9100".to_owned()),
        ("__meta_oci_vnic_id", "v2".to_owned()),
        ("__meta_oci_private_ip", String::new()),
        ("__meta_oci_public_ip", "198.51.100.7".to_owned()),
        (
            "__meta_oci_ipv6_addresses",
            ",2001:db8::1,2001:db8::2,".to_owned(),
        ),
    ]);
    assert_eq!(
        groups[0].targets,
        vec![Labels::from_pairs(web), Labels::from_pairs(db)]
    );

    let seen = api.seen();
    let uris: Vec<&str> = seen.iter().map(|s| s.uri.as_str()).collect();
    assert_eq!(
        uris[..2],
        [
            "/20160918/instances?compartmentId=ocid1.compartment.oc1..comp1&limit=100",
            "/20160918/instances?compartmentId=ocid1.compartment.oc1..comp1&limit=100&page=page+two",
        ]
    );
    // The walk stops at i1's primary VNIC: v1c is never fetched; v1old is detached.
    assert!(uris.contains(&"/20160918/vnics/v1a"), "{uris:?}");
    assert!(
        !uris
            .iter()
            .any(|u| u.ends_with("/v1c") || u.ends_with("/v1old"))
    );
    // Every request was signed and verified (a failure would have been a 401).
    assert!(seen.iter().all(|s| s.headers.contains_key("date")));
}

#[tokio::test]
async fn without_compartments_the_tenancy_is_walked_breadth_first() {
    let api = fake_oci().await;
    let dir = tempfile::tempdir().unwrap();
    let d = discovery(&api, &config(&dir, TEST_KEY, "").unwrap());
    let groups = d.refresh().await.unwrap();
    assert_eq!(groups[0].targets.len(), 2);
    let listed: Vec<String> = api
        .seen()
        .iter()
        .filter(|s| s.uri.starts_with("/20160918/instances?") && !s.uri.contains("page="))
        .map(|s| query(s)["compartmentId"].clone())
        .collect();
    // comp2's children cannot be listed (404): it is scanned, its subtree is not walked;
    // the deleted compartment is not scanned.
    assert_eq!(
        listed,
        [
            TENANCY,
            COMP,
            "ocid1.compartment.oc1..comp2",
            "ocid1.compartment.oc1..comp1a"
        ]
    );
}

#[tokio::test]
async fn a_request_signed_with_another_key_gets_401_and_fails_the_refresh() {
    let api = fake_oci().await;
    let dir = tempfile::tempdir().unwrap();
    let d = discovery(&api, &config(&dir, OTHER_KEY, COMPARTMENTS).unwrap());
    let err = d.refresh().await.unwrap_err();
    assert!(
        err.starts_with(
            "listing OCI instances in compartment ocid1.compartment.oc1..comp1: Error returned \
             by Compute Service. Http Status Code: 401. Error Code: NotAuthenticated."
        ),
        "{err}"
    );
    assert!(err.contains("signature does not verify"), "{err}");
    // 401 is not retried.
    assert_eq!(api.seen().len(), 1);
}

#[tokio::test]
async fn an_unsigned_request_gets_401() {
    let api = fake_oci().await;
    let a = crate::api::send(
        &httpclient::HttpClient::default(),
        http::Method::GET,
        &format!(
            "http://{}/20160918/instances?compartmentId={COMP}",
            api.addr
        ),
        &[],
        bytes::Bytes::new(),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(a.status.as_u16(), 401);
    assert!(String::from_utf8_lossy(&a.body).contains("NotAuthenticated"));
}

#[test]
fn configuration_errors_name_the_key_or_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "scrape_configs:\n- job_name: j\n  oci_sd_configs:\n  - region: r\n    \
                tenancy: t\n    user: u\n    fingerprint: f\n";
    let err = config::Config::load_str(yaml, "").unwrap_err().to_string();
    assert!(
        err.contains("oci_sd: api_key auth requires key_file"),
        "{err}"
    );

    let mut cfg = config(&dir, TEST_KEY, COMPARTMENTS).unwrap();
    let d = Discovery::new(&cfg).unwrap();
    assert_eq!(d.compute_url, "https://iaas.us-ashburn-1.oraclecloud.com");
    assert_eq!(
        d.identity_url,
        "https://identity.us-ashburn-1.oci.oraclecloud.com"
    );
    let missing = dir.path().join("missing.pem");
    cfg.key_file = missing.display().to_string();
    let err = Discovery::new(&cfg).unwrap_err();
    assert!(
        err.starts_with(&format!(
            "oci_sd: reading OCI key file {:?}: ",
            missing.display().to_string()
        )),
        "{err}"
    );

    let cfg = config(&dir, "not a key", COMPARTMENTS).unwrap();
    let err = Discovery::new(&cfg).unwrap_err();
    assert!(
        err.contains(&format!("OCI key file {:?}", cfg.key_file)),
        "{err}"
    );

    let encrypted =
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let cfg = config(&dir, encrypted, "    key_passphrase: s3cret\n").unwrap();
    let err = Discovery::new(&cfg).unwrap_err();
    assert!(err.contains("is encrypted"), "{err}");

    let cfg = config(
        &dir,
        TEST_KEY,
        "    key_passphrase_file: nowhere/pass.txt\n",
    )
    .unwrap();
    let err = Discovery::new(&cfg).unwrap_err();
    assert!(
        err.contains("reading OCI key passphrase file \"nowhere/pass.txt\""),
        "{err}"
    );

    let err = config(&dir, TEST_KEY, "    auth: instance_principal\n").unwrap_err();
    assert!(
        err.contains("instance_principal auth must not have tenancy"),
        "{err}"
    );
    let err = config(&dir, TEST_KEY, "    compartments: ['a', '']\n").unwrap_err();
    assert!(
        err.contains("oci_sd: compartments[1] must not be empty"),
        "{err}"
    );
}

#[tokio::test]
async fn instance_principal_is_refused_when_the_configuration_applies() {
    let cfg = config::Config::load_str(
        "scrape_configs:\n- job_name: ip\n  oci_sd_configs:\n  - region: us-ashburn-1\n    \
         auth: instance_principal\n",
        "",
    )
    .unwrap();
    let m = crate::Manager::new(crate::Options::default());
    let err = m.apply_config(&cfg).unwrap_err();
    assert!(
        matches!(&err, crate::Error::UnsupportedOption { key, job, option }
            if *key == "oci_sd_configs" && job == "ip" && option == "auth: instance_principal"),
        "{err:?}"
    );
}

#[test]
fn defined_tags_print_scalars_only() {
    let v: serde_json::Value =
        serde_json::from_str(r#"[ "s", true, 100, -9, 3.14, 1e21, null, [1], {"a": 1} ]"#).unwrap();
    let got: Vec<Option<String>> = v
        .as_array()
        .unwrap()
        .iter()
        .map(defined_tag_value)
        .collect();
    let want = [
        Some("s"),
        Some("true"),
        Some("100"),
        Some("-9"),
        Some("3.14"),
        Some("1000000000000000000000"),
        None,
        None,
        None,
    ];
    assert_eq!(got, want.map(|w| w.map(str::to_owned)));
}

#[tokio::test]
async fn a_503_is_tried_again_and_signed_anew() {
    let public = crate::util::rsa_key(TEST_KEY)
        .unwrap()
        .public()
        .as_ref()
        .to_vec();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let api = FakeApi::start(move |seen: &Seen| {
        if let Err(why) = verify(seen, &public) {
            return Reply::status(401, why);
        }
        if counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            return Reply::status(503, r#"{"code": "ServiceUnavailable", "message": "busy"}"#);
        }
        Reply::json("[]")
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let d = discovery(&api, &config(&dir, TEST_KEY, COMPARTMENTS).unwrap());
    let groups = d.refresh().await.unwrap();
    assert!(groups[0].targets.is_empty());
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
}
