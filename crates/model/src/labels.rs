//! Label sets: [`Labels`], an immutable sorted set packed into one shared allocation, and
//! [`LabelsBuilder`] to derive new sets from it.
//!
//! # Representation
//!
//! Like Go's `stringlabels`, a label set is one string holding every name and value, each
//! preceded by its length: `len(name) name len(value) value ...`, sorted by name. The string
//! lives behind an [`Arc`], so cloning is a reference-count increment and a label set costs
//! one allocation of about the size of its text plus two bytes per label. Lengths are written
//! in a variable-length form whose bytes are all ASCII (six payload bits per byte, `0x40` as
//! the continuation bit), so the packed buffer is valid UTF-8 and names and values can be
//! handed out as `&str` without unsafe code. The empty set allocates nothing.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::validation::{ValidationScheme, is_valid_legacy_label_name};
use crate::{METRIC_NAME, Matcher, strconv};

/// The separator Go's `labels.Hash` writes after every name and value.
const SEP: u8 = 0xff;

/// A sorted, immutable set of labels (name/value pairs with unique names).
///
/// Cheap to clone (one `Arc`), compact (one allocation), hashable with Prometheus's
/// [`Labels::hash`]. `Display` prints `{__name__="up", job="x"}` as Go's `Labels.String()`.
///
/// ```
/// use model::Labels;
/// let ls = Labels::from_pairs([("job", "node"), ("__name__", "up")]);
/// assert_eq!(ls.to_string(), r#"{__name__="up", job="node"}"#);
/// assert_eq!(ls.get("job"), Some("node"));
/// assert_eq!(ls.metric_name(), Some("up"));
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Labels {
    /// The packed labels; `None` for the empty set, never `Some("")`.
    data: Option<Arc<str>>,
}

fn put_len(buf: &mut String, mut n: usize) {
    loop {
        let low = (n & 0x3f) as u8;
        n >>= 6;
        if n == 0 {
            buf.push(char::from(low));
            return;
        }
        buf.push(char::from(low | 0x40));
    }
}

/// Decodes the string starting at byte `pos` of the packed `data`; returns it and the position
/// after it.
fn get_str(data: &str, pos: usize) -> (&str, usize) {
    let bytes = data.as_bytes();
    let mut n = 0usize;
    let mut shift = 0;
    let mut i = pos;
    loop {
        let b = bytes[i];
        i += 1;
        n |= usize::from(b & 0x3f) << shift;
        if b & 0x40 == 0 {
            break;
        }
        shift += 6;
    }
    (&data[i..i + n], i + n)
}

impl Labels {
    /// The empty label set (allocates nothing).
    pub const fn empty() -> Labels {
        Labels { data: None }
    }

    /// Builds a label set from name/value pairs in any order. If a name repeats, the last
    /// pair wins. Empty values are kept (as Go's `labels.New` keeps them).
    pub fn from_pairs<N, V, I>(pairs: I) -> Labels
    where
        N: AsRef<str>,
        V: AsRef<str>,
        I: IntoIterator<Item = (N, V)>,
    {
        let mut v: Vec<(N, V)> = pairs.into_iter().collect();
        if v.windows(2).all(|w| w[0].0.as_ref() < w[1].0.as_ref()) {
            // Already sorted with unique names (the common case): no second buffer.
            return Labels::from_sorted(v.iter().map(|(n, val)| (n.as_ref(), val.as_ref())));
        }
        // Stable sort, so that among equal names the last one given stays last.
        v.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        let mut out: Vec<(&str, &str)> = Vec::with_capacity(v.len());
        for (n, val) in &v {
            match out.last_mut() {
                Some(last) if last.0 == n.as_ref() => last.1 = val.as_ref(),
                _ => out.push((n.as_ref(), val.as_ref())),
            }
        }
        Labels::from_sorted(out.iter().copied())
    }

    /// Builds a label set from alternating names and values, as Go's `labels.FromStrings`.
    ///
    /// # Panics
    /// If `ss` has an odd number of elements (a programming error, as in Go).
    pub fn from_strings(ss: &[&str]) -> Labels {
        assert!(
            ss.len().is_multiple_of(2),
            "Labels::from_strings needs name/value pairs"
        );
        Labels::from_pairs(ss.chunks_exact(2).map(|c| (c[0], c[1])))
    }

    /// Builds a label set from pairs sorted by name. Unsorted input or repeated names are
    /// handled as [`Labels::from_pairs`] does, so this is always correct; it is only faster
    /// when the pairs are sorted with unique names, as decoded remote-write series are.
    pub fn from_sorted_pairs(pairs: &[(&str, &str)]) -> Labels {
        if pairs.windows(2).all(|w| w[0].0 < w[1].0) {
            Labels::from_sorted(pairs.iter().copied())
        } else {
            Labels::from_pairs(pairs.iter().copied())
        }
    }

    /// Packs pairs that are already sorted by name with unique names.
    fn from_sorted<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> Labels {
        thread_local! {
            /// Where labels are packed before the one allocation of their `Arc`.
            static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        SCRATCH.with_borrow_mut(|buf| {
            buf.clear();
            for (n, v) in pairs {
                put_len(buf, n.len());
                buf.push_str(n);
                put_len(buf, v.len());
                buf.push_str(v);
            }
            let data = (!buf.is_empty()).then(|| Arc::from(buf.as_str()));
            if buf.capacity() > 64 * 1024 {
                // One huge label set must not pin its buffer for the thread's lifetime.
                *buf = String::new();
            }
            Labels { data }
        })
    }

    fn data(&self) -> &str {
        self.data.as_deref().unwrap_or("")
    }

    /// Iterates over `(name, value)` pairs in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            data: self.data(),
            pos: 0,
        }
    }

    /// Iterates over the label names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|(n, _)| n)
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        for (n, v) in self.iter() {
            match n.cmp(name) {
                Ordering::Less => {}
                Ordering::Equal => return Some(v),
                Ordering::Greater => return None,
            }
        }
        None
    }

    /// Reports whether a label called `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The number of labels.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Reports whether the set has no labels.
    pub fn is_empty(&self) -> bool {
        self.data.is_none()
    }

    /// The size of the packed representation in bytes (for memory accounting).
    pub fn byte_len(&self) -> usize {
        self.data().len()
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The same set without `__name__`.
    pub fn without_metric_name(&self) -> Labels {
        if !self.has(METRIC_NAME) {
            return self.clone();
        }
        Labels::from_sorted(self.iter().filter(|(n, _)| *n != METRIC_NAME))
    }

    /// Go's `labels.Labels.Hash` as Prometheus 3 builds it (stringlabels, the default):
    /// XXH64 of each name and value preceded by its length (one byte below 255, else 255
    /// and three bytes little-endian). Scrape offsets and rule evaluation slots derive from
    /// it. (Prometheus 2's slice labels hashed `name 0xff value 0xff ...`; the subset hashes
    /// below still do, in both.)
    pub fn hash(&self) -> u64 {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        SCRATCH.with_borrow_mut(|buf| {
            buf.clear();
            for (n, v) in self.iter() {
                for s in [n, v] {
                    let len = s.len();
                    if len < 255 {
                        buf.push(len as u8);
                    } else {
                        buf.push(255);
                        buf.extend_from_slice(&(len as u32).to_le_bytes()[..3]);
                    }
                    buf.extend_from_slice(s.as_bytes());
                }
            }
            let h = xxhash_rust::xxh64::xxh64(buf, 0);
            if buf.capacity() > 64 * 1024 {
                *buf = Vec::new();
            }
            h
        })
    }

    /// The hash of only the labels named in `names` (Go's `HashForLabels`).
    pub fn hash_for_labels<S: AsRef<str>>(&self, names: &[S]) -> u64 {
        hash_pairs(
            self.iter()
                .filter(|(n, _)| names.iter().any(|x| x.as_ref() == *n)),
        )
    }

    /// The hash of the labels except `__name__` and those named in `names`
    /// (Go's `HashWithoutLabels`).
    pub fn hash_without_labels<S: AsRef<str>>(&self, names: &[S]) -> u64 {
        hash_pairs(
            self.iter()
                .filter(|(n, _)| *n != METRIC_NAME && !names.iter().any(|x| x.as_ref() == *n)),
        )
    }

    /// Reports whether the set satisfies every matcher (a missing label reads as `""`).
    pub fn matches(&self, matchers: &[Matcher]) -> bool {
        matchers
            .iter()
            .all(|m| m.matches(self.get(&m.name).unwrap_or("")))
    }

    /// Reports whether every name (and the metric name in `__name__`) is valid under
    /// `scheme`, as Go's `Labels.IsValid`.
    pub fn is_valid(&self, scheme: ValidationScheme) -> bool {
        self.iter().all(|(n, v)| {
            (n != METRIC_NAME || scheme.is_valid_metric_name(v)) && scheme.is_valid_label_name(n)
        })
    }

    /// A [`LabelsBuilder`] starting from this set.
    pub fn builder(&self) -> LabelsBuilder {
        LabelsBuilder::new(self)
    }
}

fn hash_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    thread_local! {
        /// Where the pairs are laid out to be hashed in one shot (like Go, much faster than
        /// streaming many tiny updates), reused so that hashing allocates nothing.
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with_borrow_mut(|buf| {
        buf.clear();
        for (n, v) in pairs {
            buf.extend_from_slice(n.as_bytes());
            buf.push(SEP);
            buf.extend_from_slice(v.as_bytes());
            buf.push(SEP);
        }
        let h = xxhash_rust::xxh64::xxh64(buf, 0);
        if buf.capacity() > 64 * 1024 {
            // One huge label set must not pin its buffer for the thread's lifetime.
            *buf = Vec::new();
        }
        h
    })
}

/// Iterator over the `(name, value)` pairs of a [`Labels`].
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    data: &'a str,
    pos: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let (name, p) = get_str(self.data, self.pos);
        let (value, p) = get_str(self.data, p);
        self.pos = p;
        Some((name, value))
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for Labels {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Labels {
        Labels::from_pairs(iter)
    }
}

impl Ord for Labels {
    /// Orders as Go's `labels.Compare`: pairwise by name, then value; a prefix sorts first.
    fn cmp(&self, other: &Labels) -> Ordering {
        let (mut a, mut b) = (self.iter(), other.iter());
        loop {
            match (a.next(), b.next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) => match x.0.cmp(y.0).then_with(|| x.1.cmp(y.1)) {
                    Ordering::Equal => {}
                    o => return o,
                },
            }
        }
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Labels) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (n, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if is_valid_legacy_label_name(n) {
                f.write_str(n)?;
            } else {
                strconv::write_quoted(f, n)?;
            }
            f.write_str("=")?;
            strconv::write_quoted(f, v)?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Labels, D::Error> {
        let m = BTreeMap::<String, String>::deserialize(deserializer)?;
        Ok(Labels::from_sorted(
            m.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        ))
    }
}

/// Derives a new [`Labels`] from a base set by setting and deleting labels
/// (Go's `labels.Builder`).
///
/// ```
/// use model::{Labels, LabelsBuilder};
/// let base = Labels::from_pairs([("a", "1"), ("b", "2")]);
/// let mut b = LabelsBuilder::new(&base);
/// b.set("c", "3").del("a").set("b", "");
/// assert_eq!(b.labels(), Labels::from_pairs([("c", "3")]));
/// ```
#[derive(Debug, Clone, Default)]
pub struct LabelsBuilder {
    base: Labels,
    del: Vec<String>,
    add: Vec<(String, String)>,
}

impl LabelsBuilder {
    /// Starts from `base`.
    pub fn new(base: &Labels) -> LabelsBuilder {
        LabelsBuilder {
            base: base.clone(),
            del: Vec::new(),
            add: Vec::new(),
        }
    }

    /// Starts over from `base`, dropping pending changes (keeps the allocations).
    pub fn reset(&mut self, base: &Labels) {
        self.base = base.clone();
        self.del.clear();
        self.add.clear();
    }

    /// Sets label `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        if value.is_empty() {
            return self.del(name);
        }
        if let Some(a) = self.add.iter_mut().find(|a| a.0 == name) {
            value.clone_into(&mut a.1);
        } else {
            self.add.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// Deletes label `name`.
    pub fn del(&mut self, name: &str) -> &mut Self {
        self.add.retain(|a| a.0 != name);
        if !self.del.iter().any(|d| d == name) {
            self.del.push(name.to_owned());
        }
        self
    }

    /// Deletes every label of the base set whose name is not in `names`.
    ///
    /// As in Go, labels added with [`set`](Self::set) are not affected.
    pub fn keep<S: AsRef<str>>(&mut self, names: &[S]) -> &mut Self {
        let base = self.base.clone();
        for (n, _) in base.iter() {
            if !names.iter().any(|k| k.as_ref() == n) && !self.del.iter().any(|d| d == n) {
                self.del.push(n.to_owned());
            }
        }
        self
    }

    /// The current value of label `name` (considering pending changes).
    pub fn get(&self, name: &str) -> Option<&str> {
        if let Some(a) = self.add.iter().find(|a| a.0 == name) {
            return Some(&a.1);
        }
        if self.del.iter().any(|d| d == name) {
            return None;
        }
        self.base.get(name)
    }

    /// The resulting label set.
    pub fn labels(&self) -> Labels {
        if self.del.is_empty() && self.add.is_empty() {
            return self.base.clone();
        }
        let mut pairs: Vec<(&str, &str)> = self
            .base
            .iter()
            .filter(|(n, _)| {
                !self.del.iter().any(|d| d == n) && !self.add.iter().any(|a| a.0 == *n)
            })
            .chain(self.add.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            .collect();
        pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Labels::from_sorted(pairs.into_iter())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn from_pairs_sorts_and_last_duplicate_wins() {
        let ls = Labels::from_pairs([("b", "1"), ("a", "2"), ("b", "3")]);
        assert_eq!(ls.iter().collect::<Vec<_>>(), [("a", "2"), ("b", "3")]);
        assert_eq!(ls.len(), 2);
        assert!(Labels::from_pairs(Vec::<(&str, &str)>::new()).is_empty());
        assert_eq!(Labels::empty().byte_len(), 0);
    }

    #[test]
    fn long_names_and_values_round_trip() {
        let long = "x".repeat(70_000);
        let ls = Labels::from_pairs([(long.as_str(), "v"), ("a", long.as_str()), ("", "")]);
        assert_eq!(ls.get(&long), Some("v"));
        assert_eq!(ls.get("a"), Some(long.as_str()));
        assert_eq!(ls.get(""), Some(""));
        assert_eq!(ls.len(), 3);
    }

    #[test]
    fn display_matches_go() {
        let ls = Labels::from_pairs([("__name__", "up"), ("job", "a\"b"), ("a.b", "ü")]);
        assert_eq!(ls.to_string(), r#"{__name__="up", "a.b"="ü", job="a\"b"}"#);
        assert_eq!(Labels::empty().to_string(), "{}");
    }

    #[test]
    fn hash_matches_go_labels_hash() {
        // Go's stringlabels: labels.FromStrings(...).Hash() is XXH64 of the
        // length-prefixed data.
        let ls = Labels::from_strings(&["foo", "bar", "baz", "qux"]);
        let mut h = xxhash_rust::xxh64::Xxh64::new(0);
        h.update(b"\x03baz\x03qux\x03foo\x03bar");
        assert_eq!(ls.hash(), h.digest());
        // Prometheus 3.5.3 evaluated group `alerts` of this file on 1s slots at .067547683:
        // its Hash() % 1e9.
        let g = Labels::from_pairs([
            ("name", "alerts"),
            ("file", "/work/main/target/rulesdiff/rules/a.yml"),
        ]);
        assert_eq!(g.hash() % 1_000_000_000, 67_547_683);
        assert_eq!(Labels::empty().hash(), xxhash_rust::xxh64::xxh64(b"", 0));
        assert_eq!(ls.hash_for_labels(&["foo"]), {
            xxhash_rust::xxh64::xxh64(b"foo\xffbar\xff", 0)
        });
        let named = Labels::from_strings(&["__name__", "m", "foo", "bar", "baz", "qux"]);
        assert_eq!(
            named.hash_without_labels(&["baz"]),
            xxhash_rust::xxh64::xxh64(b"foo\xffbar\xff", 0)
        );
    }

    #[test]
    fn hash_of_long_values_uses_the_four_byte_length() {
        let big = "v".repeat(700);
        let ls = Labels::from_pairs([("a", big.as_str())]);
        let mut want = vec![1, b'a', 255, 700u32 as u8, (700u32 >> 8) as u8, 0];
        want.extend_from_slice(big.as_bytes());
        assert_eq!(ls.hash(), xxhash_rust::xxh64::xxh64(&want, 0));
    }

    #[test]
    fn ordering_matches_go_compare() {
        let a = Labels::from_strings(&["a", "1"]);
        let ab = Labels::from_strings(&["a", "1", "b", "1"]);
        let a2 = Labels::from_strings(&["a", "2"]);
        let b = Labels::from_strings(&["b", "0"]);
        assert!(Labels::empty() < a);
        assert!(a < ab);
        assert!(ab < a2);
        assert!(a2 < b);
    }

    #[test]
    fn builder_set_del_keep() {
        let base = Labels::from_strings(&["a", "1", "b", "2", "c", "3"]);
        let mut b = LabelsBuilder::new(&base);
        assert_eq!(b.labels(), base);
        b.set("d", "4").set("a", "x").del("b");
        assert_eq!(b.get("a"), Some("x"));
        assert_eq!(b.get("b"), None);
        assert_eq!(
            b.labels(),
            Labels::from_strings(&["a", "x", "c", "3", "d", "4"])
        );
        b.keep(&["a"]);
        assert_eq!(b.labels(), Labels::from_strings(&["a", "x", "d", "4"]));
        b.set("b", "again");
        assert_eq!(b.get("b"), Some("again"));
        b.reset(&base);
        assert_eq!(b.labels(), base);
    }

    #[test]
    fn metric_name_helpers() {
        let ls = Labels::from_strings(&["__name__", "up", "job", "j"]);
        assert_eq!(ls.metric_name(), Some("up"));
        assert_eq!(
            ls.without_metric_name(),
            Labels::from_strings(&["job", "j"])
        );
        assert_eq!(Labels::empty().metric_name(), None);
    }

    #[test]
    fn serde_as_map() {
        let ls = Labels::from_strings(&["b", "2", "a", "1"]);
        let json = serde_json::to_string(&ls).expect("serialize");
        assert_eq!(json, r#"{"a":"1","b":"2"}"#);
        let back: Labels = serde_json::from_str(r#"{"b":"2","a":"1"}"#).expect("deserialize");
        assert_eq!(back, ls);
        let empty: Labels = serde_json::from_str("{}").expect("deserialize");
        assert!(empty.is_empty());
    }

    fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
        prop::collection::vec(("[a-c_]{0,3}|.{0,80}", ".{0,8}|[x]{60,70}"), 0..8)
    }

    proptest! {
        #[test]
        fn packed_labels_round_trip(input in pairs()) {
            let ls = Labels::from_pairs(input.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            // Same as a BTreeMap with last-wins semantics.
            let want: BTreeMap<&str, &str> =
                input.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            prop_assert_eq!(ls.iter().collect::<Vec<_>>(), want.iter().map(|(n, v)| (*n, *v)).collect::<Vec<_>>());
            prop_assert_eq!(ls.len(), want.len());
            for (n, v) in &want {
                prop_assert_eq!(ls.get(n), Some(*v));
            }
            // Hash is Go's (stringlabels): XXH64 over length-prefixed names and values.
            let mut buf = Vec::new();
            for (n, v) in &want {
                for s in [n, v] {
                    if s.len() < 255 {
                        buf.push(s.len() as u8);
                    } else {
                        buf.push(255);
                        buf.extend_from_slice(&(s.len() as u32).to_le_bytes()[..3]);
                    }
                    buf.extend_from_slice(s.as_bytes());
                }
            }
            prop_assert_eq!(ls.hash(), xxhash_rust::xxh64::xxh64(&buf, 0));
            // serde round trip through JSON.
            let json = serde_json::to_string(&ls).expect("serialize");
            let back: Labels = serde_json::from_str(&json).expect("deserialize");
            prop_assert_eq!(&back, &ls);
            // A builder with no changes, and one that re-sets every label, give the same set.
            let mut b = LabelsBuilder::new(&Labels::empty());
            for (n, v) in &want {
                b.set(n, v);
            }
            let rebuilt = b.labels();
            let non_empty: Vec<(&str, &str)> = want.iter().filter(|(_, v)| !v.is_empty()).map(|(n, v)| (*n, *v)).collect();
            prop_assert_eq!(rebuilt.iter().collect::<Vec<_>>(), non_empty);
        }

        #[test]
        fn ordering_is_pairwise_like_go(a in pairs(), b in pairs()) {
            let la = Labels::from_pairs(a.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            let lb = Labels::from_pairs(b.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            let va: Vec<(&str, &str)> = la.iter().collect();
            let vb: Vec<(&str, &str)> = lb.iter().collect();
            prop_assert_eq!(la.cmp(&lb), va.cmp(&vb));
            prop_assert_eq!(la == lb, va == vb);
        }
    }
}
