//! Tests of the index reader and writer.

use std::path::Path;

use model::Labels;

use super::*;

fn sample_series() -> Vec<(Labels, Vec<ChunkMeta>)> {
    let mut out = Vec::new();
    for i in 0..20 {
        let labels = Labels::from_pairs([
            (
                "__name__",
                if i % 2 == 0 { "up" } else { "down" }.to_string(),
            ),
            ("i", format!("{i:03}")),
            ("job", format!("job{}", i % 3)),
        ]);
        let chunks = (0..i % 4)
            .map(|c| ChunkMeta {
                min_time: c * 1000 - 500,
                max_time: c * 1000 + 400,
                chunk_ref: (c as u64) * 100 + 8,
            })
            .collect();
        out.push((labels, chunks));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn build(series: &[(Labels, Vec<ChunkMeta>)]) -> Vec<u8> {
    let symbols = series
        .iter()
        .flat_map(|(l, _)| l.iter().flat_map(|(n, v)| [n.to_string(), v.to_string()]));
    let mut w = IndexWriter::new(symbols).unwrap();
    for (l, c) in series {
        w.add_series(l, c).unwrap();
    }
    w.into_bytes().unwrap()
}

#[test]
fn written_index_reads_back() {
    let series = sample_series();
    let bytes = build(&series);
    let r = IndexReader::from_bytes(bytes, Path::new("index")).unwrap();
    assert_eq!(r.version(), FORMAT_V2);
    assert_eq!(r.label_names(), vec!["__name__", "i", "job"]);
    assert_eq!(r.label_values("job"), vec!["job0", "job1", "job2"]);
    let all = r.all_postings().unwrap();
    assert_eq!(all.len(), series.len());
    let mut chunks = Vec::new();
    for (id, (labels, want_chunks)) in all.iter().zip(&series) {
        assert_eq!(&r.series(*id, &mut chunks).unwrap(), labels);
        assert_eq!(&chunks, want_chunks);
    }
    let ups = r.postings("__name__", "up").unwrap();
    assert_eq!(ups.len(), 10);
    for id in ups {
        let l = r.series(id, &mut chunks).unwrap();
        assert_eq!(l.get("__name__"), Some("up"));
    }
    assert!(r.postings("__name__", "nope").unwrap().is_empty());
    assert!(r.postings("nope", "x").unwrap().is_empty());
    let mut symbols = r.symbols().unwrap();
    let sorted = {
        let mut s = symbols.clone();
        s.sort();
        s
    };
    assert_eq!(symbols, sorted);
    symbols.dedup();
    assert!(symbols.contains(&"job2".to_string()));
}

#[test]
fn writer_rejects_unsorted_series_and_unknown_symbols() {
    let series = sample_series();
    let mut w = IndexWriter::new(["a".to_string(), "b".to_string()]).unwrap();
    assert!(w.add_series(&series[0].0, &[]).is_err());
    let mut w = IndexWriter::new(
        series
            .iter()
            .flat_map(|(l, _)| l.iter().flat_map(|(n, v)| [n.to_string(), v.to_string()])),
    )
    .unwrap();
    w.add_series(&series[1].0, &[]).unwrap();
    assert!(w.add_series(&series[0].0, &[]).is_err());
}

#[test]
fn truncated_and_flipped_indexes_give_errors_not_panics() {
    let series = sample_series();
    let bytes = build(&series);
    for cut in (0..bytes.len()).step_by(7) {
        assert!(IndexReader::from_bytes(bytes[..cut].to_vec(), Path::new("index")).is_err());
    }
    let mut chunks = Vec::new();
    for pos in 0..bytes.len() {
        let mut b = bytes.clone();
        b[pos] ^= 0x04;
        let Ok(r) = IndexReader::from_bytes(b, Path::new("index")) else {
            continue;
        };
        // Whatever survives the open-time checks must fail cleanly or read something.
        if let Ok(all) = r.all_postings() {
            for id in all {
                let _ = r.series(id, &mut chunks);
            }
        }
        for name in r.label_names() {
            for v in r.label_values(&name) {
                let _ = r.postings(&name, &v);
            }
        }
    }
    let err = IndexReader::from_bytes(bytes[..bytes.len() - 3].to_vec(), Path::new("blk/index"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("blk/index") && err.contains("offset"), "{err}");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn labels_strategy() -> impl Strategy<Value = Labels> {
        proptest::collection::btree_map("[a-c_]{1,3}", "\\PC{1,6}", 1..4)
            .prop_map(Labels::from_pairs)
    }

    proptest! {
        #[test]
        fn index_round_trips_arbitrary_series(
            series in proptest::collection::btree_set(labels_strategy(), 1..30),
        ) {
            let series: Vec<(Labels, Vec<ChunkMeta>)> = series
                .into_iter()
                .enumerate()
                .map(|(i, l)| {
                    let c = ChunkMeta { min_time: i as i64, max_time: i as i64 + 10, chunk_ref: 8 + i as u64 * 50 };
                    (l, vec![c])
                })
                .collect();
            let r = IndexReader::from_bytes(build(&series), Path::new("index")).unwrap();
            let all = r.all_postings().unwrap();
            prop_assert_eq!(all.len(), series.len());
            let mut chunks = Vec::new();
            let mut by_id = Vec::new();
            for (id, (l, c)) in all.iter().zip(&series) {
                prop_assert_eq!(&r.series(*id, &mut chunks).unwrap(), l);
                prop_assert_eq!(&chunks, c);
                by_id.push((*id, l.clone()));
            }
            for name in r.label_names() {
                for value in r.label_values(&name) {
                    let want: Vec<u64> = by_id
                        .iter()
                        .filter(|(_, l)| l.get(&name) == Some(value.as_str()))
                        .map(|(id, _)| *id)
                        .collect();
                    prop_assert_eq!(r.postings(&name, &value).unwrap(), want);
                }
            }
        }
    }
}

#[test]
fn symbol_references_resolve_from_the_table_decoded_at_open() {
    let bytes = build(&sample_series());
    let r = IndexReader::from_bytes(bytes, Path::new("index")).unwrap();
    let symbols = r.symbols().unwrap();
    assert!(symbols.len() > 3);
    for (i, s) in symbols.iter().enumerate() {
        assert_eq!(r.lookup_symbol(i as u32).unwrap(), s);
    }
    let err = r.lookup_symbol(symbols.len() as u32).unwrap_err();
    assert!(err.msg.contains("unknown symbol reference"), "{}", err.msg);
}
