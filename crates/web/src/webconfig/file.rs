//! The web config file as exporter-toolkit's go-yaml v2 reads it: its Go types, named in type errors, and the checks its `UnmarshalYAML` methods make.

use std::collections::BTreeMap;

use config::Secret;
use config::yaml::{GoType, Spanned, Validate};
use serde::de::{self, MapAccess};

config::config_struct! {
    /// The file (the toolkit's `web.Config`).
    #[derive(Default)]
    pub(super) struct RawConfig [go = "web.Config", "web.Config"] {
        pub(super) tls_server_config: RawTls,
        pub(super) http_server_config: RawHttp,
        pub(super) rate_limit: RawRateLimit,
        pub(super) basic_auth_users: BTreeMap<String, Secret> [with = read_users],
    }
}

impl Validate for RawConfig {}

config::config_struct! {
    /// `tls_server_config` (`web.TLSConfig`).
    pub(super) struct RawTls [go = "web.TLSConfig", "web.TLSConfig"] {
        pub(super) cert: String,
        pub(super) key: Secret,
        pub(super) client_ca: String,
        pub(super) cert_file: String,
        pub(super) key_file: String,
        pub(super) client_auth_type: String,
        pub(super) client_ca_file: String,
        pub(super) cipher_suites: Vec<Cipher>,
        pub(super) curve_preferences: Vec<Curve>,
        pub(super) min_version: Version,
        pub(super) max_version: Version,
        pub(super) prefer_server_cipher_suites: bool,
        pub(super) client_allowed_sans: Option<Vec<String>>,
    }
}

impl Default for RawTls {
    fn default() -> RawTls {
        RawTls {
            cert: String::new(),
            key: Secret::default(),
            client_ca: String::new(),
            cert_file: String::new(),
            key_file: String::new(),
            client_auth_type: String::new(),
            client_ca_file: String::new(),
            cipher_suites: Vec::new(),
            curve_preferences: Vec::new(),
            min_version: Version(super::TlsVersion::Tls12),
            max_version: Version(super::TlsVersion::Tls13),
            prefer_server_cipher_suites: true,
            client_allowed_sans: None,
        }
    }
}

impl Validate for RawTls {}

config::config_struct! {
    /// `http_server_config` (`web.HTTPConfig`).
    pub(super) struct RawHttp [go = "web.HTTPConfig", "web.HTTPConfig"] {
        pub(super) http2: bool,
        pub(super) headers: BTreeMap<String, String> [with = config::yaml::string_map],
    }
}

impl Default for RawHttp {
    fn default() -> RawHttp {
        RawHttp {
            http2: true,
            headers: BTreeMap::new(),
        }
    }
}

impl Validate for RawHttp {}

config::config_struct! {
    /// `rate_limit` (`web.RateLimiterConfig`).
    #[derive(Default)]
    pub(super) struct RawRateLimit [go = "web.RateLimiterConfig", "web.RateLimiterConfig"] {
        pub(super) burst: i64,
        pub(super) interval: GoDuration [with = read_go_duration],
    }
}

impl Validate for RawRateLimit {}

/// `basic_auth_users`: a null password is the empty one, as in Go.
fn read_users<'de, A: MapAccess<'de>>(map: &mut A) -> Result<BTreeMap<String, Secret>, A::Error> {
    let raw: Option<BTreeMap<String, Option<String>>> = map.next_value()?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, Secret::new(v.unwrap_or_default())))
        .collect())
}

/// Reads a string as a Go `UnmarshalYAML` into a `string` does: null is the empty string.
fn go_string<'de, D: de::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(<Option<String> as serde::Deserialize>::deserialize(d)?.unwrap_or_default())
}

/// The TLS 1.2 and 1.3 cipher suites of Go's `tls.CipherSuites()`, by name.
const GO_CIPHER_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// The curves the toolkit knows by name.
const GO_CURVES: &[&str] = &["CurveP256", "CurveP384", "CurveP521", "X25519"];

/// A cipher suite name (the toolkit's `web.Cipher`): an unknown name stops decoding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(super) struct Cipher(pub(super) String);

impl<'de> serde::Deserialize<'de> for Cipher {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = go_string(d)?;
        if GO_CIPHER_SUITES.contains(&name.as_str()) {
            Ok(Cipher(name))
        } else {
            Err(de::Error::custom(format!("unknown cipher: {name}")))
        }
    }
}

impl GoType for Cipher {
    fn go_type() -> String {
        "web.Cipher".into()
    }
    // Its `UnmarshalYAML` reads a string.
    fn go_inner() -> String {
        "string".into()
    }
}

/// A curve name (the toolkit's `web.Curve`): an unknown name stops decoding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(super) struct Curve(pub(super) String);

impl<'de> serde::Deserialize<'de> for Curve {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = go_string(d)?;
        if GO_CURVES.contains(&name.as_str()) {
            Ok(Curve(name))
        } else {
            Err(de::Error::custom(format!("unknown curve: {name}")))
        }
    }
}

impl GoType for Curve {
    fn go_type() -> String {
        "web.Curve".into()
    }
    fn go_inner() -> String {
        "string".into()
    }
}

/// A TLS version name (the toolkit's `web.TLSVersion`): an unknown name stops decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Version(pub(super) super::TlsVersion);

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self.0 {
            super::TlsVersion::Tls10 => "TLS10",
            super::TlsVersion::Tls11 => "TLS11",
            super::TlsVersion::Tls12 => "TLS12",
            super::TlsVersion::Tls13 => "TLS13",
        })
    }
}

impl Default for Version {
    fn default() -> Version {
        Version(super::TlsVersion::Tls12)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = go_string(d)?;
        Ok(Version(match name.as_str() {
            "TLS13" => super::TlsVersion::Tls13,
            "TLS12" => super::TlsVersion::Tls12,
            "TLS11" => super::TlsVersion::Tls11,
            "TLS10" => super::TlsVersion::Tls10,
            _ => {
                return Err(de::Error::custom(format!("unknown TLS version: {name}")));
            }
        }))
    }
}

impl GoType for Version {
    fn go_type() -> String {
        "web.TLSVersion".into()
    }
    fn go_inner() -> String {
        "string".into()
    }
}

/// A Go `time.Duration` in nanoseconds, as go-yaml v2 reads one: a string through
/// `time.ParseDuration`, an integer as nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(super) struct GoDuration(pub(super) i64);

impl GoType for GoDuration {
    fn go_type() -> String {
        "time.Duration".into()
    }
}

/// What a `time.Duration` field received.
enum DurationValue {
    Str(String),
    Int(i128),
    Float(f64),
    Bool(bool),
    Null,
    /// A sequence or mapping: its tag.
    Collection(&'static str),
}

impl<'de> serde::Deserialize<'de> for DurationValue {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = DurationValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration")
            }
            fn visit_str<E>(self, v: &str) -> Result<DurationValue, E> {
                Ok(DurationValue::Str(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<DurationValue, E> {
                Ok(DurationValue::Int(i128::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<DurationValue, E> {
                Ok(DurationValue::Int(i128::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<DurationValue, E> {
                Ok(DurationValue::Float(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<DurationValue, E> {
                Ok(DurationValue::Bool(v))
            }
            fn visit_unit<E>(self) -> Result<DurationValue, E> {
                Ok(DurationValue::Null)
            }
            fn visit_none<E>(self) -> Result<DurationValue, E> {
                Ok(DurationValue::Null)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> Result<DurationValue, A::Error> {
                while a.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(DurationValue::Collection("!!seq"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<DurationValue, A::Error> {
                while a.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(DurationValue::Collection("!!map"))
            }
        }
        d.deserialize_any(V)
    }
}

/// `rate_limit.interval`: a value that is no duration is a type error, collected as go-yaml
/// collects them (`cannot unmarshal !!str `abc` into time.Duration`).
fn read_go_duration<'de, A: MapAccess<'de>>(map: &mut A) -> Result<GoDuration, A::Error> {
    let v: Spanned<DurationValue> = map.next_value()?;
    let line = v.referenced.line();
    let (tag, shown) = match v.value {
        DurationValue::Null => return Ok(GoDuration(0)),
        DurationValue::Collection(tag) => {
            config::yaml::go::type_issue(
                line,
                format_args!("cannot unmarshal {tag} into time.Duration"),
            );
            return Ok(GoDuration(0));
        }
        DurationValue::Int(i) => match i64::try_from(i) {
            Ok(n) => return Ok(GoDuration(n)),
            Err(_) => ("!!int", i.to_string()),
        },
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        DurationValue::Float(f)
            if f.is_finite() && f <= i64::MAX as f64 && f >= i64::MIN as f64 =>
        {
            return Ok(GoDuration(f as i64));
        }
        DurationValue::Float(f) => ("!!float", f.to_string()),
        DurationValue::Bool(b) => ("!!bool", b.to_string()),
        DurationValue::Str(s) => match parse_go_duration(&s) {
            Some(n) => return Ok(GoDuration(n)),
            None => ("!!str", s),
        },
    };
    let shown = if shown.chars().count() > 10 {
        format!("{}...", shown.chars().take(7).collect::<String>())
    } else {
        shown
    };
    config::yaml::go::type_issue(
        line,
        format_args!("cannot unmarshal {tag} `{shown}` into time.Duration"),
    );
    Ok(GoDuration(0))
}

/// Go's `time.ParseDuration`, in nanoseconds: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or `0`.
pub(super) fn parse_go_duration(s: &str) -> Option<i64> {
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * unit;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    if total > i64::MAX as f64 {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)]
    let n = total as i64;
    Some(if negative { -n } else { n })
}

/// Go's `bcrypt.Cost` check of a password hash, with its error texts.
pub(super) fn bcrypt_cost(hash: &str) -> Result<u32, String> {
    let b = hash.as_bytes();
    if b.len() < 59 {
        return Err("crypto/bcrypt: hashedSecret too short to be a bcrypted password".into());
    }
    if b[0] != b'$' {
        return Err(format!(
            "crypto/bcrypt: bcrypt hashes must start with '$', but hashedSecret started with '{}'",
            char::from(b[0])
        ));
    }
    if b[1] > b'2' {
        return Err(format!(
            "crypto/bcrypt: bcrypt algorithm version '{}' requested is newer than current version '2'",
            char::from(b[1])
        ));
    }
    let n = if b[2] == b'$' { 3 } else { 4 };
    let digits = &hash[n..n + 2];
    let cost: i64 = digits.parse().map_err(|_| {
        format!(
            "strconv.Atoi: parsing {}: invalid syntax",
            model::strconv::quote(digits)
        )
    })?;
    if !(4..=31).contains(&cost) {
        return Err(format!(
            "crypto/bcrypt: cost {cost} is outside allowed inclusive range 4..31"
        ));
    }
    u32::try_from(cost).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_as_time_parse_duration_does() {
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("1s"), Some(1_000_000_000));
        assert_eq!(parse_go_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5ms"), Some(1_500_000));
        assert_eq!(parse_go_duration("-2us"), Some(-2_000));
        assert_eq!(parse_go_duration("1d"), None);
        assert_eq!(parse_go_duration("abc"), None);
        assert_eq!(parse_go_duration("1"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn bcrypt_cost_fails_as_go_does() {
        let good = "$2y$04$V/3B.Gh5D.8d6kr2q1yTh.4w0OUUeuNpKz3wpx6Gb2P7gVSVSQsqa";
        assert_eq!(bcrypt_cost(good), Ok(4));
        assert_eq!(
            bcrypt_cost("x"),
            Err("crypto/bcrypt: hashedSecret too short to be a bcrypted password".into())
        );
        let bad_prefix = format!("x{}", &good[1..]);
        assert_eq!(
            bcrypt_cost(&bad_prefix),
            Err("crypto/bcrypt: bcrypt hashes must start with '$', but hashedSecret started with 'x'".into())
        );
        let bad_cost = good.replace("$04$", "$99$");
        assert_eq!(
            bcrypt_cost(&bad_cost),
            Err("crypto/bcrypt: cost 99 is outside allowed inclusive range 4..31".into())
        );
    }
}
