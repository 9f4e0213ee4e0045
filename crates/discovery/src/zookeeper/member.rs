//! The member data of serverset and Nerve nodes, decoded as Go's `encoding/json` decodes
//! it into upstream's structs: object keys in order, matched to fields ignoring case (the
//! last match wins), `null` leaving a field as it was, a value of the wrong type or a
//! number that is not an integer literal failing the member.

use model::Labels;

use crate::util::{join_host_port, sanitize};

/// A JSON value with its objects' keys in document order.
#[derive(Debug)]
enum J {
    Null,
    Bool,
    /// A number: its value when it is an integer literal that fits an `i64` (Go's `int`).
    Num(Option<i64>),
    Str(String),
    Arr,
    Obj(Vec<(String, J)>),
}

impl<'de> serde::Deserialize<'de> for J {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<J, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = J;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<J, E> {
                Ok(J::Null)
            }
            fn visit_bool<E>(self, _: bool) -> Result<J, E> {
                Ok(J::Bool)
            }
            fn visit_i64<E>(self, v: i64) -> Result<J, E> {
                Ok(J::Num(Some(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<J, E> {
                Ok(J::Num(i64::try_from(v).ok()))
            }
            fn visit_f64<E>(self, _: f64) -> Result<J, E> {
                Ok(J::Num(None))
            }
            fn visit_str<E>(self, v: &str) -> Result<J, E> {
                Ok(J::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<J, E> {
                Ok(J::Str(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<J, A::Error> {
                while seq.next_element::<J>()?.is_some() {}
                Ok(J::Arr)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<J, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, J>()? {
                    entries.push(entry);
                }
                Ok(J::Obj(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// A value that does not fit its Go field.
struct Mismatch(&'static str);

/// Whether object key `key` names the field `field` (ASCII): Go's `bytes.EqualFold`, under
/// which the Kelvin sign folds to `k` and the long s to `s`.
fn fold_eq(key: &str, field: &str) -> bool {
    key.chars().count() == field.len()
        && key.chars().zip(field.chars()).all(|(k, f)| {
            let f = f.to_ascii_lowercase();
            k.to_ascii_lowercase() == f
                || (k == '\u{212a}' && f == 'k')
                || (k == '\u{17f}' && f == 's')
        })
}

fn set_string(dst: &mut String, v: &J) -> Result<(), Mismatch> {
    match v {
        J::Null => Ok(()),
        J::Str(s) => {
            dst.clone_from(s);
            Ok(())
        }
        _ => Err(Mismatch("string")),
    }
}

fn set_int(dst: &mut i64, v: &J) -> Result<(), Mismatch> {
    match v {
        J::Null => Ok(()),
        J::Num(Some(n)) => {
            *dst = *n;
            Ok(())
        }
        _ => Err(Mismatch("int")),
    }
}

/// Go's decoding of an object into a struct whose fields `set` knows by name; `null`
/// leaves it as it was.
fn set_struct(
    v: &J,
    ty: &'static str,
    mut set: impl FnMut(&str, &J) -> Result<(), Mismatch>,
) -> Result<(), Mismatch> {
    match v {
        J::Null => Ok(()),
        J::Obj(entries) => entries.iter().try_for_each(|(k, v)| set(k, v)),
        _ => Err(Mismatch(ty)),
    }
}

#[derive(Debug, Default, Clone)]
struct Endpoint {
    host: String,
    port: i64,
}

fn set_endpoint(dst: &mut Endpoint, v: &J) -> Result<(), Mismatch> {
    set_struct(v, "zookeeper.serversetEndpoint", |k, v| {
        if fold_eq(k, "Host") {
            set_string(&mut dst.host, v)
        } else if fold_eq(k, "Port") {
            set_int(&mut dst.port, v)
        } else {
            Ok(())
        }
    })
}

/// Parses `data`, then fills the struct through `set`.
fn decode(
    data: &[u8],
    ty: &'static str,
    set: impl FnMut(&str, &J) -> Result<(), Mismatch>,
) -> Result<(), String> {
    // Go replaces invalid UTF-8 in strings rather than failing.
    let text = String::from_utf8_lossy(data);
    let v: J = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    set_struct(&v, ty, set)
        .map_err(|Mismatch(t)| format!("json: cannot unmarshal into Go value of type {t}"))
}

/// The target of a serverset member node (Go's `parseServersetMember`).
pub(super) fn parse_serverset_member(data: &[u8], path: &str) -> Result<Labels, String> {
    let mut endpoint = Endpoint::default();
    // None: a nil map (JSON null sets it back to nil).
    let mut additional: Option<Vec<(String, Endpoint)>> = None;
    let mut status = String::new();
    let mut shard = 0i64;
    decode(data, "zookeeper.serversetMember", |k, v| {
        if fold_eq(k, "ServiceEndpoint") {
            set_endpoint(&mut endpoint, v)
        } else if fold_eq(k, "AdditionalEndpoints") {
            match v {
                J::Null => {
                    additional = None;
                    Ok(())
                }
                J::Obj(entries) => {
                    let map = additional.get_or_insert_with(Vec::new);
                    for (name, v) in entries {
                        // Each map element is decoded afresh; a repeated key replaces.
                        let mut e = Endpoint::default();
                        set_endpoint(&mut e, v)?;
                        match map.iter_mut().find(|(n, _)| n == name) {
                            Some(slot) => slot.1 = e,
                            None => map.push((name.clone(), e)),
                        }
                    }
                    Ok(())
                }
                _ => Err(Mismatch("map[string]zookeeper.serversetEndpoint")),
            }
        } else if fold_eq(k, "status") {
            set_string(&mut status, v)
        } else if fold_eq(k, "shard") {
            set_int(&mut shard, v)
        } else {
            Ok(())
        }
    })
    .map_err(|e| format!("error unmarshaling serverset member {path:?}: {e}"))?;
    let mut pairs = vec![
        ("__meta_serverset_path".to_owned(), path.to_owned()),
        (
            "__address__".to_owned(),
            join_host_port(&endpoint.host, endpoint.port),
        ),
        ("__meta_serverset_endpoint_host".to_owned(), endpoint.host),
        (
            "__meta_serverset_endpoint_port".to_owned(),
            endpoint.port.to_string(),
        ),
    ];
    for (name, e) in additional.into_iter().flatten() {
        let name = sanitize(&name);
        pairs.push((format!("__meta_serverset_endpoint_host_{name}"), e.host));
        pairs.push((
            format!("__meta_serverset_endpoint_port_{name}"),
            e.port.to_string(),
        ));
    }
    pairs.push(("__meta_serverset_status".to_owned(), status));
    pairs.push(("__meta_serverset_shard".to_owned(), shard.to_string()));
    Ok(Labels::from_pairs(pairs))
}

/// The target of a Nerve member node (Go's `parseNerveMember`).
pub(super) fn parse_nerve_member(data: &[u8], path: &str) -> Result<Labels, String> {
    let (mut host, mut port, mut name) = (String::new(), 0i64, String::new());
    decode(data, "zookeeper.nerveMember", |k, v| {
        if fold_eq(k, "host") {
            set_string(&mut host, v)
        } else if fold_eq(k, "port") {
            set_int(&mut port, v)
        } else if fold_eq(k, "name") {
            set_string(&mut name, v)
        } else {
            Ok(())
        }
    })
    .map_err(|e| format!("error unmarshaling nerve member {path:?}: {e}"))?;
    Ok(Labels::from_pairs([
        ("__meta_nerve_path".to_owned(), path.to_owned()),
        ("__address__".to_owned(), join_host_port(&host, port)),
        ("__meta_nerve_endpoint_host".to_owned(), host),
        ("__meta_nerve_endpoint_port".to_owned(), port.to_string()),
        ("__meta_nerve_endpoint_name".to_owned(), name),
    ]))
}
