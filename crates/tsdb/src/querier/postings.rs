//! Operations on postings lists: sorted, deduplicated series references.

/// The references present in every list (empty for no lists).
pub fn intersect(mut lists: Vec<Vec<u64>>) -> Vec<u64> {
    if lists.is_empty() {
        return Vec::new();
    }
    // Start from the shortest list: the result can only shrink.
    lists.sort_by_key(Vec::len);
    let mut iter = lists.into_iter();
    let mut acc = iter.next().unwrap_or_default();
    for other in iter {
        if acc.is_empty() {
            break;
        }
        acc = intersect_two(&acc, &other);
    }
    acc
}

fn intersect_two(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// The references present in any list.
pub fn merge(mut lists: Vec<Vec<u64>>) -> Vec<u64> {
    if lists.len() == 1 {
        return lists.pop().unwrap_or_default();
    }
    let slices: Vec<&[u64]> = lists.iter().map(Vec::as_slice).collect();
    union(&slices)
}

/// The references present in any of the borrowed `lists`.
pub fn union(lists: &[&[u64]]) -> Vec<u64> {
    match lists {
        [] => Vec::new(),
        [one] => one.to_vec(),
        _ => {
            let mut all: Vec<u64> = lists.iter().flat_map(|l| l.iter().copied()).collect();
            all.sort_unstable();
            all.dedup();
            all
        }
    }
}

/// The references of `a` that are not in `b`.
pub fn without(a: &[u64], b: &[u64]) -> Vec<u64> {
    if b.is_empty() {
        return a.to_vec();
    }
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j < b.len() && b[j] == x {
            continue;
        }
        out.push(x);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn set(v: &[u64]) -> Vec<u64> {
        v.iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    #[test]
    fn basic_operations() {
        assert_eq!(
            intersect(vec![vec![1, 2, 3, 5], vec![2, 5, 7], vec![0, 2, 5]]),
            vec![2, 5]
        );
        assert_eq!(intersect(vec![]), Vec::<u64>::new());
        assert_eq!(
            merge(vec![vec![1, 4], vec![2, 4, 9], vec![]]),
            vec![1, 2, 4, 9]
        );
        assert_eq!(without(&[1, 2, 3, 4], &[2, 4, 6]), vec![1, 3]);
        assert_eq!(intersect(vec![vec![1, 3, 5, 7], vec![3, 4, 5]]), [3, 5]);
        assert_eq!(without(&[1, 3, 5, 7], &[3, 4, 5]), [1, 7]);
        assert_eq!(union(&[&[1, 5], &[2, 5, 9]]), [1, 2, 5, 9]);
    }

    proptest! {
        #[test]
        fn match_set_semantics(a in proptest::collection::vec(0u64..50, 0..30),
                               b in proptest::collection::vec(0u64..50, 0..30)) {
            let (a, b) = (set(&a), set(&b));
            let sa: BTreeSet<u64> = a.iter().copied().collect();
            let sb: BTreeSet<u64> = b.iter().copied().collect();
            prop_assert_eq!(intersect(vec![a.clone(), b.clone()]), sa.intersection(&sb).copied().collect::<Vec<_>>());
            prop_assert_eq!(merge(vec![a.clone(), b.clone()]), sa.union(&sb).copied().collect::<Vec<_>>());
            prop_assert_eq!(without(&a, &b), sa.difference(&sb).copied().collect::<Vec<_>>());
        }
    }
}
