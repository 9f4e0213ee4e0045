//! The head's inverted index: sorted series refs per label pair, and matcher evaluation
//! (Prometheus's `MemPostings` and `PostingsForMatchers`).

use std::collections::HashMap;

use model::{Labels, MatchType, Matcher};

use crate::querier::postings::{intersect, union, without};

/// Names with counts.
pub(crate) type Counts = Vec<(String, usize)>;

/// Postings lists: label name -> label value -> sorted series refs.
#[derive(Debug, Default)]
pub(crate) struct MemPostings {
    m: HashMap<Box<str>, HashMap<Box<str>, Vec<u64>>>,
    all: Vec<u64>,
}

fn insert_sorted(v: &mut Vec<u64>, r: u64) {
    match v.last() {
        None => v.push(r),
        Some(&last) if last < r => v.push(r),
        _ => {
            if let Err(i) = v.binary_search(&r) {
                v.insert(i, r);
            }
        }
    }
}

fn remove_sorted(v: &mut Vec<u64>, r: u64) {
    if let Ok(i) = v.binary_search(&r) {
        v.remove(i);
    }
}

impl MemPostings {
    pub(crate) fn add(&mut self, r: u64, labels: &Labels) {
        insert_sorted(&mut self.all, r);
        for (n, v) in labels.iter() {
            let values = match self.m.get_mut(n) {
                Some(values) => values,
                None => self.m.entry(n.into()).or_default(),
            };
            match values.get_mut(v) {
                Some(list) => insert_sorted(list, r),
                None => {
                    values.insert(v.into(), vec![r]);
                }
            }
        }
    }

    pub(crate) fn delete(&mut self, r: u64, labels: &Labels) {
        remove_sorted(&mut self.all, r);
        for (n, v) in labels.iter() {
            let Some(values) = self.m.get_mut(n) else {
                continue;
            };
            if let Some(list) = values.get_mut(v) {
                remove_sorted(list, r);
                if list.is_empty() {
                    values.remove(v);
                }
            }
            if values.is_empty() {
                self.m.remove(n);
            }
        }
    }

    /// Compacts list capacities after bulk deletions.
    pub(crate) fn shrink(&mut self) {
        self.all.shrink_to_fit();
        for values in self.m.values_mut() {
            for list in values.values_mut() {
                list.shrink_to_fit();
            }
        }
    }

    pub(crate) fn all(&self) -> &[u64] {
        &self.all
    }

    pub(crate) fn get(&self, name: &str, value: &str) -> &[u64] {
        self.m
            .get(name)
            .and_then(|vs| vs.get(value))
            .map_or(&[], Vec::as_slice)
    }

    pub(crate) fn label_names(&self) -> impl Iterator<Item = &str> {
        self.m.keys().map(|k| &**k)
    }

    pub(crate) fn values(&self, name: &str) -> impl Iterator<Item = (&str, &[u64])> {
        self.m
            .get(name)
            .into_iter()
            .flat_map(|vs| vs.iter().map(|(v, l)| (&**v, l.as_slice())))
    }

    /// Number of series per label value of `name`.
    pub(crate) fn value_counts(&self, name: &str) -> Vec<(String, usize)> {
        self.values(name)
            .map(|(v, l)| (v.to_string(), l.len()))
            .collect()
    }

    /// Label name -> number of series having it, and (name, value) -> series count.
    pub(crate) fn cardinality(&self) -> (Counts, Counts, Counts) {
        let mut names = Vec::new();
        let mut values_per_name = Vec::new();
        let mut pairs = Vec::new();
        for (n, vs) in &self.m {
            names.push((n.to_string(), vs.values().map(Vec::len).sum()));
            values_per_name.push((n.to_string(), vs.len()));
            for (v, l) in vs {
                pairs.push((format!("{n}={v}"), l.len()));
            }
        }
        (names, values_per_name, pairs)
    }

    /// The union of the postings of the values of `name` accepted by `keep`.
    fn union_where(&self, name: &str, keep: impl Fn(&str) -> bool) -> Vec<u64> {
        let lists: Vec<&[u64]> = self
            .values(name)
            .filter(|(v, _)| keep(v))
            .map(|(_, l)| l)
            .collect();
        union(&lists)
    }

    /// The sorted refs of the series matching every matcher (a missing label matches as the
    /// empty value).
    pub(crate) fn postings_for_matchers(&self, ms: &[Matcher]) -> Vec<u64> {
        let mut its: Vec<Vec<u64>> = Vec::new();
        let mut nots: Vec<Vec<u64>> = Vec::new();
        for m in ms {
            if m.matches("") {
                // Series without the label match, so subtract those whose value fails it.
                if m.match_type == MatchType::NotEqual {
                    nots.push(self.get(&m.name, &m.value).to_vec());
                } else {
                    nots.push(self.union_where(&m.name, |v| !m.matches(v)));
                }
            } else {
                let list = match (m.match_type, m.set_matches()) {
                    (MatchType::Equal, _) => self.get(&m.name, &m.value).to_vec(),
                    (MatchType::RegexMatch, Some(set)) => {
                        let lists: Vec<&[u64]> = set.iter().map(|v| self.get(&m.name, v)).collect();
                        union(&lists)
                    }
                    _ => self.union_where(&m.name, |v| m.matches(v)),
                };
                if list.is_empty() {
                    return Vec::new();
                }
                its.push(list);
            }
        }
        let mut out = if its.is_empty() {
            self.all.clone()
        } else {
            intersect(its)
        };
        for n in &nots {
            if !n.is_empty() {
                out = without(&out, n);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(t: MatchType, n: &str, v: &str) -> Matcher {
        Matcher::new(t, n, v).expect("matcher")
    }

    #[test]
    fn matchers_select_like_prometheus() {
        let mut p = MemPostings::default();
        p.add(1, &Labels::from_pairs([("__name__", "up"), ("job", "a")]));
        p.add(2, &Labels::from_pairs([("__name__", "up"), ("job", "b")]));
        p.add(3, &Labels::from_pairs([("__name__", "up")]));
        p.add(4, &Labels::from_pairs([("__name__", "x"), ("job", "a")]));
        use MatchType::*;
        let q = |p: &MemPostings, ms: &[Matcher]| p.postings_for_matchers(ms);
        assert_eq!(q(&p, &[m(Equal, "__name__", "up")]), [1, 2, 3]);
        assert_eq!(
            q(&p, &[m(Equal, "__name__", "up"), m(Equal, "job", "a")]),
            [1]
        );
        assert_eq!(
            q(&p, &[m(Equal, "__name__", "up"), m(NotEqual, "job", "a")]),
            [2, 3]
        );
        assert_eq!(
            q(&p, &[m(Equal, "__name__", "up"), m(Equal, "job", "")]),
            [3]
        );
        assert_eq!(q(&p, &[m(RegexMatch, "job", "a|b")]), [1, 2, 4]);
        assert_eq!(q(&p, &[m(RegexMatch, "job", ".+")]), [1, 2, 4]);
        assert_eq!(q(&p, &[m(RegexMatch, "job", ".*")]), [1, 2, 3, 4]);
        assert_eq!(
            q(
                &p,
                &[m(RegexNoMatch, "job", "a"), m(Equal, "__name__", "up")]
            ),
            [2, 3]
        );
        assert_eq!(q(&p, &[m(Equal, "nope", "x")]), Vec::<u64>::new());
        assert_eq!(q(&p, &[]), [1, 2, 3, 4]);
        p.delete(2, &Labels::from_pairs([("__name__", "up"), ("job", "b")]));
        assert_eq!(q(&p, &[m(RegexMatch, "job", ".+")]), [1, 4]);
        assert_eq!(p.values("job").count(), 1);
    }
}
