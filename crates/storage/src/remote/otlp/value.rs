//! Attribute values as label values, as pdata's `Value.AsString` prints them.

use std::collections::BTreeMap;

use base64::Engine as _;
use prompb::otlp::{AnyValue, any_value::Value};

/// The string form of an attribute value: strings as they are, booleans and integers in
/// decimal, floats in JavaScript's number form, bytes in standard base64, lists and maps as
/// compact JSON (map keys sorted, as Go's `encoding/json` writes them). An absent value is
/// the empty string.
pub(crate) fn as_string(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(f)) => {
            if f.is_finite() {
                float_string(*f)
            } else {
                // pdata keeps encoding/json's error text here.
                format!(
                    "json: unsupported value: {}",
                    model::strconv::format_float_g(*f)
                )
            }
        }
        Some(Value::BytesValue(b)) => base64::engine::general_purpose::STANDARD.encode(b),
        Some(v @ (Value::ArrayValue(_) | Value::KvlistValue(_))) => {
            let mut out = String::new();
            // A NaN or infinity inside makes encoding/json fail, and pdata print nothing.
            if write_json(&mut out, Some(v)).is_ok() {
                out
            } else {
                String::new()
            }
        }
    }
}

/// Go's `encoding/json` float form: `'f'` format, `'e'` below 1e-6 and from 1e21 on, with
/// `e-07` shortened to `e-7`.
fn float_string(f: f64) -> String {
    let mut s = model::strconv::format_float_json(f);
    let b = s.as_bytes();
    let n = b.len();
    if n >= 4 && b[n - 4] == b'e' && b[n - 3] == b'-' && b[n - 2] == b'0' {
        s.remove(n - 2);
    }
    s
}

/// Writes a value as encoding/json marshals pdata's `AsRaw` form; `Err` for a non-finite
/// float (which encoding/json refuses).
fn write_json(out: &mut String, value: Option<&Value>) -> Result<(), ()> {
    match value {
        None => out.push_str("null"),
        Some(Value::StringValue(s)) => write_json_str(out, s),
        Some(Value::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(Value::IntValue(i)) => out.push_str(&i.to_string()),
        Some(Value::DoubleValue(f)) => {
            if !f.is_finite() {
                return Err(());
            }
            out.push_str(&float_string(*f));
        }
        Some(Value::BytesValue(b)) => {
            out.push('"');
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(b));
            out.push('"');
        }
        Some(Value::ArrayValue(a)) => {
            out.push('[');
            for (i, v) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, v.value.as_ref())?;
            }
            out.push(']');
        }
        Some(Value::KvlistValue(kv)) => {
            // A Go map: the last of repeated keys wins, keys come out sorted.
            let map: BTreeMap<&str, Option<&Value>> = kv
                .values
                .iter()
                .map(|e| {
                    (
                        e.key.as_str(),
                        e.value.as_ref().and_then(|v| v.value.as_ref()),
                    )
                })
                .collect();
            out.push('{');
            for (i, (k, v)) in map.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(out, k);
                out.push(':');
                write_json(out, v)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// A JSON string as encoding/json writes it (HTML-safe: `<`, `>`, `&` escaped).
fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use prompb::otlp::{ArrayValue, KeyValue, KeyValueList};

    fn v(value: Value) -> AnyValue {
        AnyValue { value: Some(value) }
    }

    #[test]
    fn scalars_print_as_pdata_does() {
        assert_eq!(as_string(None), "");
        assert_eq!(as_string(Some(&AnyValue { value: None })), "");
        assert_eq!(as_string(Some(&v(Value::StringValue("x y".into())))), "x y");
        assert_eq!(as_string(Some(&v(Value::BoolValue(true)))), "true");
        assert_eq!(as_string(Some(&v(Value::IntValue(-42)))), "-42");
        for (f, want) in [
            (1.5, "1.5"),
            (100.0, "100"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1e-7, "1e-7"),
            (2.5e-10, "2.5e-10"),
            (0.000001, "0.000001"),
            (-0.0, "-0"),
        ] {
            assert_eq!(as_string(Some(&v(Value::DoubleValue(f)))), want, "{f}");
        }
        assert_eq!(
            as_string(Some(&v(Value::DoubleValue(f64::INFINITY)))),
            "json: unsupported value: +Inf"
        );
        assert_eq!(
            as_string(Some(&v(Value::DoubleValue(f64::NAN)))),
            "json: unsupported value: NaN"
        );
        assert_eq!(
            as_string(Some(&v(Value::BytesValue(b"hello".to_vec())))),
            "aGVsbG8="
        );
    }

    #[test]
    fn lists_and_maps_print_as_compact_json() {
        let list = v(Value::ArrayValue(ArrayValue {
            values: vec![
                v(Value::StringValue("a<b".into())),
                v(Value::IntValue(1)),
                AnyValue { value: None },
                v(Value::DoubleValue(0.5)),
            ],
        }));
        assert_eq!(as_string(Some(&list)), r#"["a\u003cb",1,null,0.5]"#);
        let map = v(Value::KvlistValue(KeyValueList {
            values: vec![
                KeyValue {
                    key: "z".into(),
                    value: Some(v(Value::BoolValue(false))),
                },
                KeyValue {
                    key: "a".into(),
                    value: Some(list.clone()),
                },
                KeyValue {
                    key: "z".into(),
                    value: Some(v(Value::StringValue("last\n".into()))),
                },
            ],
        }));
        assert_eq!(
            as_string(Some(&map)),
            r#"{"a":["a\u003cb",1,null,0.5],"z":"last\n"}"#
        );
        let bad = v(Value::ArrayValue(ArrayValue {
            values: vec![v(Value::DoubleValue(f64::NAN))],
        }));
        assert_eq!(as_string(Some(&bad)), "");
    }
}
