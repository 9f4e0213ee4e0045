//! Tests of dns_sd against a tiny authoritative DNS server on 127.0.0.1 (UDP), written here
//! so the tests need no network and no DNS server package.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use super::*;

/// One answer record of the test zone.
#[derive(Debug, Clone)]
pub(crate) enum Rec {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(&'static str),
    Srv(u16, &'static str),
    Mx(&'static str),
    Ns(&'static str),
}

/// How the server answers a (name, type) question.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    Records(Vec<Rec>),
    ServFail,
}

type Zone = Arc<Mutex<HashMap<(String, u16), Answer>>>;

/// A UDP DNS server on 127.0.0.1 answering from a zone the test can change. Names not in
/// the zone get NXDOMAIN.
pub(crate) struct DnsServer {
    pub(crate) addr: SocketAddr,
    zone: Zone,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn qtype_code(t: &str) -> u16 {
    match t {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "MX" => 15,
        "AAAA" => 28,
        "SRV" => 33,
        other => panic!("unknown type {other}"),
    }
}

fn encode_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(u8::try_from(label.len()).unwrap());
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

fn answer_record(out: &mut Vec<u8>, rec: &Rec) {
    let (rtype, rdata) = match rec {
        Rec::A(ip) => (1u16, ip.octets().to_vec()),
        Rec::Aaaa(ip) => (28, ip.octets().to_vec()),
        Rec::Cname(n) => {
            let mut d = Vec::new();
            encode_name(&mut d, n);
            (5, d)
        }
        Rec::Ns(n) => {
            let mut d = Vec::new();
            encode_name(&mut d, n);
            (2, d)
        }
        Rec::Mx(n) => {
            let mut d = vec![0, 10];
            encode_name(&mut d, n);
            (15, d)
        }
        Rec::Srv(port, target) => {
            let mut d = vec![0, 1, 0, 5];
            d.extend_from_slice(&port.to_be_bytes());
            encode_name(&mut d, target);
            (33, d)
        }
    };
    out.extend_from_slice(&[0xc0, 12]); // the question's name
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // IN
    out.extend_from_slice(&30u32.to_be_bytes());
    out.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
    out.extend_from_slice(&rdata);
}

fn respond(query: &[u8], zone: &Zone) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(pos)?);
        pos += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(pos..pos + len)?).to_lowercase());
        pos += len;
    }
    let qtype = u16::from_be_bytes([*query.get(pos)?, *query.get(pos + 1)?]);
    let question_end = pos + 4;
    let name = labels.join(".");
    let answer = zone.lock().unwrap().get(&(name, qtype)).cloned();
    let (rcode, records) = match answer {
        Some(Answer::Records(r)) => (0u16, r),
        Some(Answer::ServFail) => (2, Vec::new()),
        None => (3, Vec::new()),
    };
    let flags = 0x8000 | (u16::from_be_bytes([query[2], query[3]]) & 0x0100) | 0x0480 | rcode;
    let mut out = Vec::new();
    out.extend_from_slice(&query[0..2]);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&u16::try_from(records.len()).unwrap().to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(query.get(12..question_end)?);
    for r in &records {
        answer_record(&mut out, r);
    }
    Some(out)
}

impl DnsServer {
    pub(crate) async fn start() -> DnsServer {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let zone: Zone = Arc::default();
        let z = zone.clone();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                if let Some(resp) = respond(&buf[..n], &z) {
                    let _ = socket.send_to(&resp, from).await;
                }
            }
        });
        DnsServer { addr, zone, task }
    }

    /// Sets the answer for `name` (without the final dot) and `qtype` (`"SRV"`, `"A"`, ...).
    pub(crate) fn set(&self, name: &str, qtype: &str, answer: Answer) {
        self.zone
            .lock()
            .unwrap()
            .insert((name.to_lowercase(), qtype_code(qtype)), answer);
    }
}

fn cfg(names: &[&str], qtype: &str, port: u16) -> DnsSdConfig {
    DnsSdConfig {
        names: names.iter().map(|s| s.to_string()).collect(),
        r#type: qtype.into(),
        port,
        ..DnsSdConfig::default()
    }
}

fn summary(groups: &[TargetGroup]) -> Vec<(String, Vec<String>)> {
    groups
        .iter()
        .map(|g| {
            (
                g.source.clone(),
                g.targets.iter().map(ToString::to_string).collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn srv_records_become_targets_with_their_labels() {
    let srv = DnsServer::start().await;
    srv.set(
        "_prom._tcp.example.com",
        "SRV",
        Answer::Records(vec![
            Rec::Srv(9100, "node1.example.com"),
            Rec::Srv(9101, "node2.example.com"),
        ]),
    );
    let mut d = Discovery::new(
        &cfg(&["_prom._tcp.example.com"], "SRV", 0),
        &[srv.addr],
        &Metrics::new(),
    );
    let groups = d.refresh().await;
    assert_eq!(
        summary(&groups),
        [(
            "_prom._tcp.example.com".to_string(),
            vec![
                r#"{__address__="node1.example.com:9100", __meta_dns_mx_record_target="", __meta_dns_name="_prom._tcp.example.com", __meta_dns_ns_record_target="", __meta_dns_srv_record_port="9100", __meta_dns_srv_record_target="node1.example.com."}"#.to_string(),
                r#"{__address__="node2.example.com:9101", __meta_dns_mx_record_target="", __meta_dns_name="_prom._tcp.example.com", __meta_dns_ns_record_target="", __meta_dns_srv_record_port="9101", __meta_dns_srv_record_target="node2.example.com."}"#.to_string(),
            ]
        )]
    );

    // Changed answers are seen at the next refresh (nothing is cached).
    srv.set(
        "_prom._tcp.example.com",
        "SRV",
        Answer::Records(vec![Rec::Srv(9200, "node3.example.com")]),
    );
    let groups = d.refresh().await;
    assert_eq!(groups[0].targets.len(), 1);
    assert_eq!(
        groups[0].targets[0].get("__address__"),
        Some("node3.example.com:9200")
    );
}

#[tokio::test]
async fn address_mx_and_ns_records_use_the_configured_port() {
    let srv = DnsServer::start().await;
    srv.set(
        "web.example.com",
        "A",
        Answer::Records(vec![
            Rec::Cname("real.example.com"),
            Rec::A(Ipv4Addr::new(192, 0, 2, 1)),
        ]),
    );
    srv.set(
        "web.example.com",
        "AAAA",
        Answer::Records(vec![Rec::Aaaa("2001:db8::1".parse().unwrap())]),
    );
    srv.set(
        "example.com",
        "MX",
        Answer::Records(vec![Rec::Mx("mail.example.com")]),
    );
    srv.set(
        "example.com",
        "NS",
        Answer::Records(vec![Rec::Ns("ns1.example.com")]),
    );
    let addr = |qtype: &str, name: &str| {
        let srv = srv.addr;
        let (qtype, name) = (qtype.to_string(), name.to_string());
        async move {
            let mut d = Discovery::new(&cfg(&[&name], &qtype, 8080), &[srv], &Metrics::new());
            let groups = d.refresh().await;
            assert_eq!(groups.len(), 1, "{qtype} {name}");
            assert_eq!(groups[0].source, name);
            groups[0].targets.clone()
        }
    };
    let a = addr("A", "web.example.com").await;
    assert_eq!(a.len(), 1, "the CNAME is skipped: {a:?}");
    assert_eq!(a[0].get("__address__"), Some("192.0.2.1:8080"));
    assert_eq!(a[0].get(META_DNS_NAME), Some("web.example.com"));
    assert_eq!(a[0].get(META_DNS_SRV_RECORD_TARGET), Some(""));
    let aaaa = addr("AAAA", "web.example.com").await;
    assert_eq!(aaaa[0].get("__address__"), Some("[2001:db8::1]:8080"));
    let mx = addr("MX", "example.com").await;
    assert_eq!(mx[0].get("__address__"), Some("mail.example.com:8080"));
    assert_eq!(
        mx[0].get(META_DNS_MX_RECORD_TARGET),
        Some("mail.example.com.")
    );
    let ns = addr("NS", "example.com").await;
    assert_eq!(ns[0].get("__address__"), Some("ns1.example.com:8080"));
    assert_eq!(
        ns[0].get(META_DNS_NS_RECORD_TARGET),
        Some("ns1.example.com.")
    );
}

#[tokio::test]
async fn missing_names_clear_their_targets_and_failing_names_keep_them() {
    let srv = DnsServer::start().await;
    srv.set("broken.example.com", "A", Answer::ServFail);
    srv.set(
        "ok.example.com",
        "A",
        Answer::Records(vec![Rec::A(Ipv4Addr::LOCALHOST)]),
    );
    let metrics = Metrics::new();
    let mut d = Discovery::new(
        &cfg(
            &["gone.example.com", "broken.example.com", "ok.example.com"],
            "A",
            80,
        ),
        &[srv.addr],
        &metrics,
    );
    let groups = d.refresh().await;
    // NXDOMAIN: an empty group (its targets go away). SERVFAIL: no group at all, so the
    // manager keeps the name's last targets.
    assert_eq!(
        summary(&groups)
            .iter()
            .map(|(s, t)| (s.as_str(), t.len()))
            .collect::<Vec<_>>(),
        [("gone.example.com", 0), ("ok.example.com", 1)]
    );
    // Every name is a lookup; only the SERVFAIL one failed (NXDOMAIN is an answer).
    assert_eq!(metrics.sd().dns_lookups.get(), 3);
    assert_eq!(metrics.sd().dns_lookup_failures.get(), 1);
}
