//! Tests of the head: appends, commit/rollback, rejections, chunks, replay and truncation.

use super::*;
use model::{MatchType, Matcher};
use storage::{Querier, ValueType};

fn lbls(name: &str, i: usize) -> Labels {
    Labels::from_pairs([("__name__", name.to_string()), ("i", i.to_string())])
}

fn opts() -> HeadOptions {
    HeadOptions::default()
}

fn all_samples(head: &Arc<Head>, matchers: &[Matcher]) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let q = head.querier(i64::MIN, i64::MAX);
    let mut set = q.select(true, None, matchers);
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let s = s.expect("series");
        let mut it = s.iterator();
        let mut v = Vec::new();
        while it.next() == ValueType::Float {
            v.push(it.at());
        }
        assert!(it.err().is_none());
        out.push((s.labels().clone(), v));
    }
    out
}

fn name_is(n: &str) -> Vec<Matcher> {
    vec![Matcher::new(MatchType::Equal, "__name__", n).expect("matcher")]
}

#[test]
fn commit_makes_samples_visible_and_rollback_discards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
    let mut app = head.appender();
    let r = app.append(0, &lbls("a", 1), 1000, 1.0).expect("append");
    app.append(r, &lbls("a", 1), 2000, 2.0).expect("append");
    assert!(
        all_samples(&head, &name_is("a")).is_empty(),
        "not visible before commit"
    );
    app.commit().expect("commit");
    assert_eq!(
        all_samples(&head, &name_is("a")),
        vec![(lbls("a", 1), vec![(1000, 1.0), (2000, 2.0)])]
    );
    let mut app = head.appender();
    app.append(0, &lbls("a", 1), 3000, 3.0).expect("append");
    app.rollback();
    assert_eq!(all_samples(&head, &name_is("a"))[0].1.len(), 2);
    assert_eq!((head.min_time(), head.max_time()), (1000, 2000));
}

#[test]
fn rejections_match_prometheus() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
    let mut app = head.appender();
    app.append(0, &lbls("a", 1), 10_000, 1.0).expect("append");
    app.commit().expect("commit");
    let mut app = head.appender();
    assert!(matches!(
        app.append(0, &lbls("a", 1), 9_000, 1.0),
        Err(storage::Error::OutOfOrderSample)
    ));
    assert!(matches!(
        app.append(0, &lbls("a", 1), 10_000, 2.0),
        Err(storage::Error::DuplicateSampleForTimestamp)
    ));
    app.append(0, &lbls("a", 1), 10_000, 1.0)
        .expect("same value is a no-op");
    assert!(matches!(
        app.append(0, &lbls("a", 1), 10_000 - DEFAULT_CHUNK_RANGE, 1.0),
        Err(storage::Error::OutOfBounds)
    ));
    assert!(matches!(
        app.append(0, &Labels::empty(), 20_000, 1.0),
        Err(storage::Error::InvalidLabels { .. })
    ));
    app.commit().expect("commit");
    assert_eq!(all_samples(&head, &name_is("a"))[0].1, vec![(10_000, 1.0)]);
}

#[test]
fn out_of_order_window_accepts_recent_samples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = HeadOptions {
        out_of_order_time_window: 60_000,
        ..opts()
    };
    let head = Head::open(dir.path(), o.clone(), i64::MIN).expect("open");
    let mut app = head.appender();
    app.append(0, &lbls("a", 1), 100_000, 1.0).expect("append");
    app.commit().expect("commit");
    let mut app = head.appender();
    app.append(0, &lbls("a", 1), 50_000, 5.0)
        .expect("in window");
    assert!(matches!(
        app.append(0, &lbls("a", 1), 10_000, 1.0),
        Err(storage::Error::TooOldSample)
    ));
    app.commit().expect("commit");
    assert_eq!(
        all_samples(&head, &name_is("a"))[0].1,
        vec![(50_000, 5.0), (100_000, 1.0)]
    );
    head.close().expect("close");
    drop(head);
    let head = Head::open(dir.path(), o, i64::MIN).expect("reopen");
    assert_eq!(
        all_samples(&head, &name_is("a"))[0].1,
        vec![(50_000, 5.0), (100_000, 1.0)]
    );
}

/// The replay hands samples to worker threads in batches by shard: with many series, many
/// records and series created along the way, every series still gets all of its samples, in
/// order.
#[test]
fn parallel_replay_keeps_every_series_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let want;
    {
        let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
        for step in 0..150i64 {
            // Series join over time (so series records sit between sample records), and each
            // round commits in three appenders over interleaved subsets.
            let live = (100 + step * 2).min(300) as usize;
            for part in 0..3 {
                let mut app = head.appender();
                for i in (part..live).step_by(3) {
                    let t = step * 15_000;
                    app.append(0, &lbls("p", i), t, (step * 1000 + i as i64) as f64)
                        .expect("append");
                }
                app.commit().expect("commit");
            }
        }
        want = all_samples(&head, &name_is("p"));
        assert_eq!(want.len(), 300);
    }
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("reopen");
    assert_eq!(all_samples(&head, &name_is("p")), want);
    let st = head.replay_stats();
    let total: usize = want.iter().map(|(_, s)| s.len()).sum();
    assert_eq!(st.samples, total as u64, "{st:?}");
    assert_eq!(st.unknown_series_samples, 0);
    assert_eq!(st.series, 300);
}

#[test]
fn full_chunks_go_to_disk_and_replay_restores_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let want;
    {
        let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
        for batch in 0..10 {
            let mut app = head.appender();
            for i in 0..20 {
                for k in 0..50 {
                    let t = (batch * 50 + k) as i64 * 15_000;
                    app.append(0, &lbls("m", i), t, (t + i as i64) as f64)
                        .expect("append");
                }
            }
            app.commit().expect("commit");
        }
        let got = all_samples(&head, &name_is("m"));
        assert_eq!(got.len(), 20);
        assert_eq!(got[0].1.len(), 500);
        {
            let shard = head
                .shards
                .iter()
                .map(|s| {
                    s.read()
                        .series
                        .values()
                        .map(|s| s.mmapped.len())
                        .sum::<usize>()
                })
                .sum::<usize>();
            assert!(shard >= 20 * 3, "full chunks are on disk: {shard}");
        }
        want = got;
        // No close: as after a crash.
        head.mapper.flush().expect("flush");
    }
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("reopen");
    assert_eq!(all_samples(&head, &name_is("m")), want);
    let st = head.replay_stats();
    assert!(st.mmapped_chunks > 0, "{st:?}");
    assert_eq!(st.wal_corruption, None);
}

#[test]
fn truncate_drops_old_data_gc_series_and_checkpoints_the_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = HeadOptions {
        wal: Some(WalOptions {
            segment_size: crate::wlog::PAGE_SIZE,
            compression: crate::wlog::Compression::None,
            ..WalOptions::default()
        }),
        ..opts()
    };
    let head = Head::open(dir.path(), o.clone(), i64::MIN).expect("open");
    for batch in 0..300i64 {
        let mut app = head.appender();
        for i in 0..30 {
            // Series "old" stops early; "new" continues.
            if batch < 10 {
                app.append(0, &lbls("old", i), batch * 60_000, 1.0)
                    .expect("append");
            }
            app.append(0, &lbls("new", i), batch * 60_000, batch as f64)
                .expect("append");
        }
        app.commit().expect("commit");
    }
    assert_eq!(head.num_series(), 60);
    let segs_before = crate::wlog::list_segments(&dir.path().join("wal")).expect("list");
    head.truncate(150 * 60_000).expect("truncate");
    assert_eq!(head.num_series(), 30, "series without data are collected");
    assert!(all_samples(&head, &name_is("old")).is_empty());
    let news = all_samples(&head, &name_is("new"));
    assert!(
        news.iter()
            .all(|(_, s)| s.first().map(|x| x.0) == Some(150 * 60_000))
    );
    let cp = crate::checkpoint::last_checkpoint(&dir.path().join("wal")).expect("list");
    assert!(cp.is_some(), "a checkpoint was written");
    let segs_after = crate::wlog::list_segments(&dir.path().join("wal")).expect("list");
    assert!(segs_after[0] > segs_before[0]);
    head.close().expect("close");
    drop(head);
    let head = Head::open(dir.path(), o, 150 * 60_000).expect("reopen");
    assert_eq!(all_samples(&head, &name_is("new")), news);
    assert!(all_samples(&head, &name_is("old")).is_empty());
}

#[test]
fn label_names_and_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
    let mut app = head.appender();
    app.append(0, &lbls("a", 1), 1, 1.0).expect("append");
    app.append(0, &lbls("b", 2), 1, 1.0).expect("append");
    app.commit().expect("commit");
    let q = head.querier(0, 10);
    assert_eq!(q.label_names(None, &[]).expect("names"), ["__name__", "i"]);
    assert_eq!(q.label_values("i", None, &[]).expect("values"), ["1", "2"]);
    assert_eq!(
        q.label_values("i", None, &name_is("b")).expect("values"),
        ["2"]
    );
    let stats = head.stats(10);
    assert_eq!(stats.num_series, 2);
    assert_eq!(stats.series_count_by_metric_name.len(), 2);
}

#[test]
fn tombstones_hide_samples_and_survive_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
        let mut app = head.appender();
        let r = app.append(0, &lbls("a", 1), 1, 1.0).expect("append");
        app.append(r, &lbls("a", 1), 2, 2.0).expect("append");
        app.append(r, &lbls("a", 1), 3, 3.0).expect("append");
        app.commit().expect("commit");
        head.add_tombstones(&[RefTombstone {
            series_ref: r,
            mint: 2,
            maxt: 2,
        }])
        .expect("delete");
        assert_eq!(
            all_samples(&head, &name_is("a"))[0].1,
            vec![(1, 1.0), (3, 3.0)]
        );
    }
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("reopen");
    assert_eq!(
        all_samples(&head, &name_is("a"))[0].1,
        vec![(1, 1.0), (3, 3.0)]
    );
}

#[test]
fn seek_never_moves_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
    let mut app = head.appender();
    for t in 0..300 {
        app.append(0, &lbls("a", 1), t * 10, t as f64)
            .expect("append");
    }
    app.commit().expect("commit");
    let q = head.querier(100, 2000);
    let mut set = q.select(true, None, &name_is("a"));
    let s = set.next().expect("one").expect("ok");
    let mut it = s.iterator();
    assert_eq!(it.seek(1500), ValueType::Float);
    assert_eq!(it.at(), (1500, 150.0));
    assert_eq!(it.seek(10), ValueType::Float);
    assert_eq!(it.at_t(), 1500);
    assert_eq!(it.next(), ValueType::Float);
    assert_eq!(it.at_t(), 1510);
    assert_eq!(it.seek(5000), ValueType::None);
}

#[test]
fn recreated_series_survive_checkpoints_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = HeadOptions {
        wal: Some(WalOptions {
            segment_size: crate::wlog::PAGE_SIZE,
            compression: crate::wlog::Compression::None,
            ..WalOptions::default()
        }),
        ..opts()
    };
    let x = Labels::from_pairs([("__name__", "x")]);
    let fill = |head: &Arc<Head>, from: i64, to: i64, with_x: bool| {
        for m in from..to {
            let mut app = head.appender();
            for i in 0..20 {
                app.append(0, &lbls("f", i), m * 60_000, 1.0)
                    .expect("append");
            }
            if with_x {
                app.append(0, &x, m * 60_000, m as f64).expect("append x");
            }
            app.commit().expect("commit");
        }
    };
    let head = Head::open(dir.path(), o.clone(), i64::MIN).expect("open");
    fill(&head, 0, 50, true);
    fill(&head, 50, 300, false);
    head.truncate(100 * 60_000).expect("truncate");
    fill(&head, 300, 400, true);
    head.close().expect("close");
    drop(head);

    let head = Head::open(dir.path(), o.clone(), 100 * 60_000).expect("reopen");
    let want: Vec<(i64, f64)> = (300..400).map(|m| (m * 60_000, m as f64)).collect();
    assert_eq!(all_samples(&head, &name_is("x"))[0].1, want);
    fill(&head, 400, 700, false);
    head.truncate(250 * 60_000).expect("truncate");
    head.close().expect("close");
    drop(head);

    let head = Head::open(dir.path(), o, 250 * 60_000).expect("reopen again");
    assert_eq!(all_samples(&head, &name_is("x"))[0].1, want);
}

#[test]
fn interleaved_appenders_keep_pending_series_and_log_each_series_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
    let flags = |r: u64| head.shard(r).read().series.get(&r).map(|s| s.flags);
    // `a` holds a new series pending; `b` appends to it too, and non-consecutively, so
    // neither appender owns a single run of it.
    let mut a = head.appender();
    let mut b = head.appender();
    let r1 = a.append(0, &lbls("x", 1), 1000, 1.0).expect("append");
    let r2 = b.append(0, &lbls("x", 2), 1000, 2.0).expect("append");
    assert_eq!(b.append(0, &lbls("x", 1), 2000, 3.0).expect("append"), r1);
    b.append(r2, &lbls("x", 2), 2000, 4.0).expect("append");
    b.append(r1, &lbls("x", 1), 3000, 5.0).expect("append");
    assert!(!b.grouped && a.grouped);
    // Nothing is committed yet: garbage collection must keep both series.
    head.gc(i64::MIN);
    assert_eq!(flags(r1), Some(PENDING));
    assert_eq!(flags(r2), Some(PENDING));
    b.commit().expect("commit b");
    assert_eq!(
        flags(r2),
        Some(LOGGED),
        "b's own series is no longer pending"
    );
    assert_eq!(
        flags(r1),
        Some(LOGGED | PENDING),
        "a still holds its sample"
    );
    // a's sample is now older than b's committed ones: dropped at commit, as Prometheus.
    a.commit().expect("commit a");
    assert_eq!(flags(r1), Some(LOGGED));
    let want = vec![
        (lbls("x", 1), vec![(2000, 3.0), (3000, 5.0)]),
        (lbls("x", 2), vec![(1000, 2.0), (2000, 4.0)]),
    ];
    assert_eq!(all_samples(&head, &name_is("x")), want);
    // A rolled-back appender leaves nothing pending either.
    let mut c = head.appender();
    c.append(r1, &lbls("x", 1), 4000, 6.0).expect("append");
    c.rollback();
    assert_eq!(flags(r1), Some(LOGGED));
    head.close().expect("close");

    // Each series record is in the WAL once, before its samples: the replay rebuilds both.
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("reopen");
    assert_eq!(head.num_series(), 2);
    assert_eq!(all_samples(&head, &name_is("x")), want);
}

#[test]
fn histogram_chunks_are_cut_by_size_as_prometheus() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
    let mut r = 0;
    let mut acc = vec![0i64; 20];
    // Histograms with 20 buckets every 15 s for 4 h: chunks fill up by bytes.
    for k in 0..960i64 {
        // Irregular growth, so that every sample takes a few bytes per bucket.
        for (b, c) in acc.iter_mut().enumerate() {
            *c += 1 + (k * k * 7919 + b as i64 * 104_729) % 997;
        }
        let counts = acc.clone();
        let mut deltas = vec![counts[0]];
        deltas.extend(counts.windows(2).map(|w| w[1] - w[0]));
        let h = model::Histogram {
            schema: 2,
            count: counts.iter().sum::<i64>() as u64,
            sum: k as f64,
            positive_spans: vec![model::Span {
                offset: 0,
                length: 20,
            }],
            positive_buckets: deltas,
            ..model::Histogram::default()
        };
        let mut app = head.appender();
        r = app
            .append_histogram(r, &lbls("h", 0), k * 15_000, Some(&h), None)
            .expect("append");
        app.commit().expect("commit");
    }
    let shard = head.shard(r).read();
    let s = shard.series.get(&r).expect("series");
    let mut sizes = Vec::new();
    for c in &s.mmapped {
        let (enc, data) = head.mapper.chunk(c.chunk_ref).expect("chunk");
        assert_eq!(enc, chunkenc::Encoding::Histogram.as_u8());
        let n = usize::from(u16::from_be_bytes([data[0], data[1]]));
        sizes.push((n, data.len(), c.min_time, c.max_time));
    }
    assert!(sizes.len() > 8, "{sizes:?}");
    for &(n, bytes, mint, maxt) in &sizes {
        // At least 10 samples unless the 2 h range ended; never far past 2 KiB.
        let range_end = chunkenc::range_for_timestamp(mint, DEFAULT_CHUNK_RANGE);
        assert!(n >= 10 || maxt + 15_000 >= range_end, "{sizes:?}");
        assert!(bytes < 2 * 1024 + 256, "{sizes:?}");
        assert!(
            maxt < range_end,
            "a chunk never crosses the 2 h range: {sizes:?}"
        );
    }
}

#[test]
fn start_timestamps_are_kept_in_memory_and_trimmed_by_gc() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
    let l = lbls("c_total", 1);
    let fh = model::FloatHistogram {
        count: 1.0,
        ..model::FloatHistogram::default()
    };
    let mut app = head.appender();
    let r = app.append_with_st(0, &l, 500, 1000, 1.0).expect("append");
    app.append(r, &l, 2000, 2.0).expect("append");
    app.append_with_st(r, &l, 2500, 3000, 1.0).expect("append");
    app.commit().expect("commit");
    let mut app = head.appender();
    app.append_histogram_with_st(0, &lbls("h", 1), 3500, 4000, None, Some(&fh))
        .expect("append");
    app.append_with_st(r, &l, 3500, 3600, 9.0).expect("append");
    app.rollback();

    let read = |head: &Arc<Head>, name: &str| {
        let q = head.querier(i64::MIN, i64::MAX);
        let mut set = q.select(true, None, &name_is(name));
        let mut out = Vec::new();
        if let Some(s) = set.next() {
            let mut it = s.expect("series").iterator();
            while it.next() != ValueType::None {
                out.push((it.at_t(), it.at_st()));
            }
        }
        out
    };
    assert_eq!(
        read(&head, "c_total"),
        vec![(1000, 500), (2000, 0), (3000, 2500)]
    );
    assert!(read(&head, "h").is_empty(), "rolled back");
    // The querier's range cuts the start timestamps with the samples.
    let q = head.querier(2500, 5000);
    let mut set = q.select(true, None, &name_is("c_total"));
    let mut it = set.next().expect("series").expect("series").iterator();
    assert_eq!(it.next(), ValueType::Float);
    assert_eq!((it.at_t(), it.at_st()), (3000, 2500));

    head.truncate(2500).expect("truncate");
    let shard = head.shard(r).read();
    assert!(
        shard
            .sts
            .get(&r)
            .is_none_or(|v| v.iter().all(|&(t, _)| t >= 2500))
    );
}

#[test]
fn created_timestamp_zero_samples_are_never_out_of_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = HeadOptions {
        out_of_order_time_window: 60_000,
        ..opts()
    };
    let head = Head::open(dir.path(), o, i64::MIN).expect("open");
    let l = lbls("c_total", 1);
    let mut app = head.appender();
    assert!(matches!(
        app.append_ct_zero_sample(0, &l, 1000, 1000),
        Err(storage::Error::CtNewerThanSample)
    ));
    let r = app.append_ct_zero_sample(0, &l, 10_000, 5000).expect("ct");
    app.append(r, &l, 10_000, 3.0).expect("append");
    app.commit().expect("commit");
    // Every later scrape repeats the created timestamp; even inside the out-of-order
    // window it is refused rather than inserted behind newer samples.
    let mut app = head.appender();
    assert!(matches!(
        app.append_ct_zero_sample(r, &l, 20_000, 8000),
        Err(storage::Error::OutOfOrderCt)
    ));
    assert!(matches!(
        app.append_ct_zero_sample(0, &l, 20_000, 5000),
        Err(storage::Error::OutOfOrderCt)
    ));
    app.append(r, &l, 20_000, 4.0).expect("append");
    let fh = model::FloatHistogram {
        schema: 1,
        count: 2.0,
        ..model::FloatHistogram::default()
    };
    let h = lbls("h", 1);
    app.append_histogram_ct_zero_sample(0, &h, 20_000, 15_000, None, Some(&fh))
        .expect("histogram ct");
    app.commit().expect("commit");
    assert_eq!(
        all_samples(&head, &name_is("c_total")),
        vec![(l, vec![(5000, 0.0), (10_000, 3.0), (20_000, 4.0)])]
    );
    let q = head.querier(i64::MIN, i64::MAX);
    let mut set = q.select(true, None, &name_is("h"));
    let mut it = set.next().expect("series").expect("series").iterator();
    assert_ne!(it.next(), ValueType::None);
    let (t, zero) = it.at_float_histogram();
    assert_eq!((t, zero.schema, zero.count), (15_000, 1, 0.0));
}

/// The float samples of every samples record in the segments of `dir`, in log order.
fn logged_samples(dir: &std::path::Path) -> Vec<RefSample> {
    logged(dir).0
}

/// The float samples and the `(series, time)` of the integer histograms of every record in
/// the segments of `dir`, in log order.
fn logged(dir: &std::path::Path) -> (Vec<RefSample>, Vec<(u64, i64)>) {
    use crate::wlog::reader::{Reader, SegmentReader};
    let (mut out, mut hists) = (Vec::new(), Vec::new());
    for k in crate::wlog::list_segments(dir).expect("segments") {
        let mut r = Reader::new(SegmentReader::open(dir, Some(k), Some(k)).expect("segment"));
        while let Some(rec) = r.next_record().expect("record") {
            match record::RecordType::of(rec) {
                record::RecordType::Samples => {
                    record::decode_samples(rec, &mut out).expect("samples");
                }
                record::RecordType::HistogramSamples => {
                    let mut hs = Vec::new();
                    record::decode_histogram_samples(rec, &mut hs).expect("histograms");
                    hists.extend(hs.iter().map(|h| (h.series_ref, h.t)));
                }
                _ => {}
            }
        }
    }
    (out, hists)
}

/// As [`commit_by_shard_keeps_series_and_log_order`] for native histograms.
#[test]
fn commit_by_shard_keeps_histogram_series_and_log_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = HeadOptions {
        out_of_order_time_window: 3_600_000,
        ..opts()
    };
    let head = Head::open(dir.path(), o, i64::MIN).expect("open");
    let h = |n: u64| Histogram {
        count: n,
        zero_count: n,
        sum: n as f64,
        ..Histogram::default()
    };
    let n = 2 * SHARDS;
    let mut app = head.appender();
    for i in 0..n {
        app.append_histogram(0, &lbls("h", i), 1_000_000, Some(&h(1)), None)
            .expect("append");
    }
    app.commit().expect("commit");
    let (mut appended, mut ooo) = (Vec::new(), Vec::new());
    let mut app = head.appender();
    for i in (0..n).rev() {
        for (t, k) in [(1_015_000, 2), (1_030_000, 3)] {
            let r = app
                .append_histogram(0, &lbls("h", i), t, Some(&h(k)), None)
                .expect("append");
            appended.push((r, t));
        }
    }
    for i in (0..n).rev() {
        let t = 900_000 + i as i64;
        let r = app
            .append_histogram(0, &lbls("h", i), t, Some(&h(1)), None)
            .expect("ooo");
        appended.push((r, t));
        ooo.push((r, t));
    }
    app.commit().expect("commit");
    let q = head.querier(i64::MIN, i64::MAX);
    let mut set = q.select(true, None, &name_is("h"));
    let mut series = 0;
    while let Some(s) = set.next() {
        let s = s.expect("series");
        let i: i64 = s.labels().get("i").expect("i").parse().expect("number");
        let mut it = s.iterator();
        let mut ts = Vec::new();
        while it.next() == ValueType::Histogram {
            ts.push(it.at_histogram().0);
        }
        assert_eq!(
            ts,
            vec![900_000 + i, 1_000_000, 1_015_000, 1_030_000],
            "{i}"
        );
        series += 1;
    }
    assert_eq!(series, n);
    drop(set);
    drop(q);
    head.close().expect("close");
    let wal = logged(&dir.path().join("wal")).1;
    assert_eq!(wal[n..], appended[..], "WAL order");
    let wbl = logged(&dir.path().join(crate::wlog::WBL_DIR_NAME)).1;
    assert_eq!(wbl, ooo, "WBL order");
}

/// Commit applies a batch shard by shard: with series in every shard, appended in an order
/// that crosses shards back and forth and with several samples per series, each series
/// still gets its samples in order, and the WAL and the WBL get them in append order.
#[test]
fn commit_by_shard_keeps_series_and_log_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = HeadOptions {
        out_of_order_time_window: 3_600_000,
        ..opts()
    };
    let head = Head::open(dir.path(), o, i64::MIN).expect("open");
    let n = 3 * SHARDS;
    let mut app = head.appender();
    let refs: Vec<u64> = (0..n)
        .map(|i| {
            app.append(0, &lbls("s", i), 1_000_000, 0.0)
                .expect("append")
        })
        .collect();
    app.commit().expect("commit");
    // Newest series first, two in-order samples each (a run), then one out-of-order
    // sample per series, again newest first, then one more in-order sample of each.
    let mut appended = Vec::new();
    let mut app = head.appender();
    for i in (0..n).rev() {
        for t in [1_015_000, 1_030_000] {
            let r = app.append(0, &lbls("s", i), t, i as f64).expect("append");
            appended.push((r, t));
        }
    }
    let mut ooo = Vec::new();
    for i in (0..n).rev() {
        let t = 900_000 + i as i64;
        app.append(refs[i], &lbls("s", i), t, -1.0).expect("ooo");
        appended.push((refs[i], t));
        ooo.push((refs[i], t));
    }
    for (i, &r) in refs.iter().enumerate() {
        app.append(r, &lbls("s", i), 1_045_000, i as f64)
            .expect("append");
        appended.push((r, 1_045_000));
    }
    app.commit().expect("commit");
    for i in 0..n {
        let got = &all_samples(
            &head,
            &[Matcher::new(MatchType::Equal, "i", i.to_string()).expect("matcher")],
        )[0]
        .1;
        let x = i as f64;
        assert_eq!(
            got,
            &vec![
                (900_000 + i as i64, -1.0),
                (1_000_000, 0.0),
                (1_015_000, x),
                (1_030_000, x),
                (1_045_000, x)
            ],
            "series {i}"
        );
    }
    head.close().expect("close");
    let order =
        |v: Vec<RefSample>| -> Vec<(u64, i64)> { v.iter().map(|s| (s.series_ref, s.t)).collect() };
    let wal = order(logged_samples(&dir.path().join("wal")));
    assert_eq!(wal[n..], appended[..], "WAL order");
    let wbl = order(logged_samples(&dir.path().join(crate::wlog::WBL_DIR_NAME)));
    assert_eq!(wbl, ooo, "WBL order");
}

/// The head's series hash agrees with label-set equality, however the set was built.
#[test]
fn series_hash_follows_label_equality() {
    let a = Labels::from_pairs([("job", "x"), ("__name__", "up"), ("i", "1")]);
    let b = Labels::from_sorted_pairs(&[("__name__", "up"), ("i", "1"), ("job", "x")]);
    assert_eq!(a, b);
    assert_eq!(series_hash(&a), series_hash(&b));
    let c = Labels::from_sorted_pairs(&[("__name__", "up"), ("i", "2"), ("job", "x")]);
    assert_ne!(series_hash(&a), series_hash(&c));
    assert_ne!(series_hash(&a), series_hash(&Labels::empty()));
}

/// Empty label values are dropped before a series is stored, and labels with them find
/// that series again; a set of only empty values is refused.
#[test]
fn appends_by_labels_drop_empty_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
    let with_empty = Labels::from_pairs([("__name__", "a"), ("x", "")]);
    let clean = Labels::from_pairs([("__name__", "a")]);
    let mut app = head.appender();
    let r = app.append(0, &with_empty, 1000, 1.0).expect("append");
    assert_eq!(app.append(0, &with_empty, 2000, 2.0).expect("append"), r);
    assert_eq!(app.append(0, &clean, 3000, 3.0).expect("append"), r);
    for bad in [Labels::from_pairs([("x", "")]), Labels::empty()] {
        assert!(matches!(
            app.append(0, &bad, 4000, 4.0),
            Err(storage::Error::InvalidLabels { .. })
        ));
    }
    app.commit().expect("commit");
    assert_eq!(
        all_samples(&head, &name_is("a")),
        vec![(clean, vec![(1000, 1.0), (2000, 2.0), (3000, 3.0)])]
    );
    assert_eq!(head.num_series(), 1);
}

/// Within one batch, a histogram series' newest pending sample decides: the same histogram
/// again is accepted, another one at that time is a duplicate, an older one out of order.
#[test]
fn pending_histograms_decide_duplicates_and_order_within_a_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
    let h = |n: u64| Histogram {
        count: n,
        zero_count: n,
        sum: n as f64,
        ..Histogram::default()
    };
    let mut app = head.appender();
    let a = app
        .append_histogram(0, &lbls("h", 1), 10_000, Some(&h(1)), None)
        .expect("append");
    let b = app
        .append_histogram(0, &lbls("h", 2), 30_000, Some(&h(7)), None)
        .expect("append");
    assert_eq!(
        app.append_histogram(a, &lbls("h", 1), 20_000, Some(&h(2)), None)
            .expect("newer"),
        a
    );
    app.append_histogram(0, &lbls("h", 1), 20_000, Some(&h(2)), None)
        .expect("the same histogram again");
    assert!(matches!(
        app.append_histogram(a, &lbls("h", 1), 20_000, Some(&h(3)), None),
        Err(storage::Error::DuplicateSampleForTimestamp)
    ));
    assert!(matches!(
        app.append_histogram(a, &lbls("h", 1), 15_000, Some(&h(3)), None),
        Err(storage::Error::OutOfOrderSample)
    ));
    // Series b's newer sample does not make series a's next one old.
    app.append_histogram(b, &lbls("h", 2), 40_000, Some(&h(8)), None)
        .expect("append");
    app.append_histogram(a, &lbls("h", 1), 25_000, Some(&h(4)), None)
        .expect("append");
    app.commit().expect("commit");
    let q = head.querier(i64::MIN, i64::MAX);
    let mut set = q.select(true, None, &name_is("h"));
    let mut got = Vec::new();
    while let Some(s) = set.next() {
        let s = s.expect("series");
        let mut it = s.iterator();
        let mut ts = Vec::new();
        while it.next() == ValueType::Histogram {
            ts.push(it.at_histogram().0);
        }
        got.push(ts);
    }
    assert_eq!(
        got,
        vec![vec![10_000, 20_000, 25_000], vec![30_000, 40_000]]
    );
}

#[test]
fn select_lists_series_in_creation_order_unless_sorting_is_asked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(dir.path(), opts(), i64::MIN).expect("open");
    // Created c, a, d, b: not label order.
    let created = [3, 1, 4, 2].map(|i| lbls("m", i));
    let mut app = head.appender();
    for (n, l) in created.iter().enumerate() {
        app.append(0, l, 1000, n as f64).expect("append");
    }
    app.commit().expect("commit");
    let listed = |sorted: bool| -> Vec<Labels> {
        let q = head.querier(i64::MIN, i64::MAX);
        let mut set = q.select(sorted, None, &name_is("m"));
        let mut out = Vec::new();
        while let Some(s) = set.next() {
            out.push(s.expect("series").labels().clone());
        }
        out
    };
    assert_eq!(listed(false), created, "Go's head lists series by ref");
    let mut by_labels = created.to_vec();
    by_labels.sort();
    assert_eq!(listed(true), by_labels);
}
