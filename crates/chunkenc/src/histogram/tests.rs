//! Tests of both histogram chunk encodings, after Go's `histogram_test.go` and
//! `float_histogram_test.go`.

use model::histogram::CUSTOM_BUCKETS_SCHEMA;
use model::value::stale_nan;
use model::{CounterResetHint, FloatHistogram, Histogram, Span};

use crate::histogram_meta::{ChunkHistogram, HistogramChunkOps, append_histogram};
use crate::{
    Chunk, ChunkIterator, CounterResetHeader, Encoding, FloatHistogramChunk, HistogramAppend,
    HistogramChunk,
};
use model::ValueType;

fn sp(v: &[(i32, u32)]) -> Vec<Span> {
    v.iter()
        .map(|&(offset, length)| Span { offset, length })
        .collect()
}

/// Go's `TestHistogramChunkSameBuckets` start histogram.
fn base() -> Histogram {
    Histogram {
        count: 15,
        zero_count: 2,
        sum: 18.4,
        zero_threshold: 1e-100,
        schema: 1,
        positive_spans: sp(&[(0, 2), (1, 2)]),
        positive_buckets: vec![1, 1, -1, 0],
        negative_spans: sp(&[(0, 1), (2, 2)]),
        negative_buckets: vec![2, 1, -1],
        ..Histogram::default()
    }
}

fn read_all(c: &HistogramChunk) -> Vec<(i64, Histogram)> {
    let mut it = c.iter();
    let mut out = Vec::new();
    while it.next() {
        out.push(it.at_histogram());
    }
    assert!(it.err().is_none(), "{:?}", it.err());
    out
}

fn appended(r: HistogramAppend<HistogramChunk>) {
    assert!(matches!(r, HistogramAppend::Appended), "{r:?}");
}

#[test]
fn same_buckets_round_trip_and_reopen() {
    let mut c = HistogramChunk::new();
    let mut want = Vec::new();
    let mut h = base();
    for i in 0..5i64 {
        appended(c.append(None, 1234 + i * 15_000, &h).unwrap());
        want.push((1234 + i * 15_000, h.clone()));
        h.count += 9;
        h.zero_count += 1;
        h.sum += 23.7 * i as f64;
        h.positive_buckets = vec![2, 1, -1, 3 + i];
        h.negative_buckets = vec![2 + i, 1, -1];
    }
    assert_eq!(c.num_samples(), 5);
    let got = read_all(&c);
    assert_eq!(got.len(), want.len());
    for (k, ((gt, gh), (wt, wh))) in got.iter().zip(&want).enumerate() {
        assert_eq!(gt, wt);
        let mut wh = wh.clone();
        wh.counter_reset_hint = if k == 0 {
            CounterResetHint::Unknown
        } else {
            CounterResetHint::NotCounterReset
        };
        assert_eq!(gh, &wh, "sample {k}");
    }
    // A chunk rebuilt from its bytes appends as the original one (Go's reopened appender
    // starts without XOR windows, so only the decoded samples are compared).
    let mut reopened = HistogramChunk::from_bytes(c.bytes().to_vec()).unwrap();
    appended(reopened.append(None, 100_000, &h).unwrap());
    appended(c.append(None, 100_000, &h).unwrap());
    assert_eq!(read_all(&reopened), read_all(&c));
    // Float histograms come out as the integer ones converted.
    let mut it = c.iter();
    assert!(it.next());
    assert_eq!(
        it.at_float_histogram().1.positive_buckets,
        [1.0, 2.0, 1.0, 1.0]
    );
}

#[test]
fn new_buckets_recode_the_chunk() {
    let mut c = HistogramChunk::new();
    let h1 = base();
    appended(c.append(None, 0, &h1).unwrap());
    // Add bucket 2 (between 1 and 3) and a new span at 10.
    let h2 = Histogram {
        count: 20,
        positive_spans: sp(&[(0, 5), (5, 1)]),
        // absolute 1 2 0 1 1 | 3
        positive_buckets: vec![1, 1, -2, 1, 0, 2],
        ..base()
    };
    assert!(matches!(
        c.append(None, 1, &h2).unwrap(),
        HistogramAppend::Recoded
    ));
    let got = read_all(&c);
    assert_eq!(got[0].1.positive_spans, h2.positive_spans);
    assert_eq!(got[0].1.positive_buckets, [1, 1, -2, 1, 0, -1]);
    assert_eq!(got[1].1.positive_buckets, h2.positive_buckets);
    assert_eq!(got[1].1.count, 20);
}

#[test]
fn counter_resets_and_layout_changes_cut_chunks() {
    let h1 = base();
    let cases: Vec<(&str, Histogram, CounterResetHeader)> = vec![
        (
            "count down",
            Histogram {
                count: 14,
                ..base()
            },
            CounterResetHeader::CounterReset,
        ),
        (
            "zero count down",
            Histogram {
                count: 16,
                zero_count: 1,
                ..base()
            },
            CounterResetHeader::CounterReset,
        ),
        (
            "schema change",
            Histogram {
                count: 16,
                schema: 2,
                ..base()
            },
            CounterResetHeader::Unknown,
        ),
        (
            "zero threshold change",
            Histogram {
                count: 16,
                zero_threshold: 1e-90,
                ..base()
            },
            CounterResetHeader::Unknown,
        ),
        (
            "bucket down",
            Histogram {
                count: 16,
                positive_buckets: vec![1, 0, -1, 0],
                ..base()
            },
            CounterResetHeader::CounterReset,
        ),
        (
            "used bucket gone",
            Histogram {
                count: 16,
                positive_spans: sp(&[(0, 2), (1, 1)]),
                positive_buckets: vec![1, 1, -1],
                ..base()
            },
            CounterResetHeader::CounterReset,
        ),
        (
            "explicit reset hint",
            Histogram {
                count: 99,
                counter_reset_hint: CounterResetHint::CounterReset,
                ..base()
            },
            CounterResetHeader::CounterReset,
        ),
    ];
    for (name, h2, header) in cases {
        let mut c = HistogramChunk::new();
        appended(c.append(None, 0, &h1).unwrap());
        let HistogramAppend::NewChunk(next) = c.append(None, 1, &h2).unwrap() else {
            panic!("{name}: expected a new chunk");
        };
        assert_eq!(next.counter_reset_header(), header, "{name}");
        assert_eq!(next.num_samples(), 1, "{name}");
        assert_eq!(c.num_samples(), 1, "{name}");
        // The same verdict when a chunk continues the previous one after a size cut.
        let mut fresh = HistogramChunk::new();
        appended(fresh.append(Some(&mut c), 1, &h2).unwrap());
        if h2.counter_reset_hint != CounterResetHint::CounterReset {
            assert_eq!(fresh.counter_reset_header(), header, "{name} via prev");
        }
    }
}

#[test]
fn missing_empty_bucket_is_backfilled() {
    let mut c = HistogramChunk::new();
    // Buckets 0..3 with bucket 1 empty.
    let h1 = Histogram {
        count: 2,
        zero_count: 0,
        sum: 1.0,
        schema: 0,
        positive_spans: sp(&[(0, 3)]),
        positive_buckets: vec![1, -1, 1],
        ..Histogram::default()
    };
    appended(c.append(None, 0, &h1).unwrap());
    let h2 = Histogram {
        count: 4,
        positive_spans: sp(&[(0, 1), (1, 1)]),
        positive_buckets: vec![2, 0],
        ..h1.clone()
    };
    appended(c.append(None, 1, &h2).unwrap());
    let got = read_all(&c);
    assert_eq!(got[1].1.positive_spans, sp(&[(0, 3)]));
    assert_eq!(got[1].1.positive_buckets, [2, -2, 2]);
}

#[test]
fn stale_markers_and_the_sample_after() {
    let mut c = HistogramChunk::new();
    appended(c.append(None, 0, &base()).unwrap());
    let stale = Histogram {
        sum: stale_nan(),
        ..Histogram::default()
    };
    appended(c.append(None, 1, &stale).unwrap());
    appended(c.append(None, 2, &stale).unwrap());
    let HistogramAppend::NewChunk(next) = c.append(None, 3, &base()).unwrap() else {
        panic!("a sample after a stale marker starts a new chunk");
    };
    assert_eq!(next.counter_reset_header(), CounterResetHeader::Unknown);
    let got = read_all(&c);
    assert_eq!(got.len(), 3);
    assert!(model::value::is_stale_nan(got[1].1.sum));
    assert!(got[1].1.positive_buckets.is_empty());
    assert!(model::value::is_stale_nan(got[2].1.sum));
}

#[test]
fn gauge_histograms_may_shrink_and_grow() {
    let g = |count, spans: &[(i32, u32)], buckets: Vec<i64>| Histogram {
        counter_reset_hint: CounterResetHint::Gauge,
        count,
        sum: 1.0,
        schema: 0,
        positive_spans: sp(spans),
        positive_buckets: buckets,
        ..Histogram::default()
    };
    let mut c = HistogramChunk::new();
    appended(c.append(None, 0, &g(5, &[(0, 2)], vec![2, 1])).unwrap());
    assert_eq!(c.counter_reset_header(), CounterResetHeader::Gauge);
    // Fewer observations and bucket 1 missing: fine for a gauge (backfilled with 0).
    appended(c.append(None, 1, &g(1, &[(0, 1)], vec![1])).unwrap());
    // Bucket 2 new: recoded.
    assert!(matches!(
        c.append(None, 2, &g(3, &[(0, 3)], vec![1, 0, 1])).unwrap(),
        HistogramAppend::Recoded
    ));
    let got = read_all(&c);
    let buckets: Vec<Vec<i64>> = got
        .iter()
        .map(|(_, h)| h.positive_buckets.clone())
        .collect();
    assert_eq!(buckets, [vec![2, 1, -3], vec![1, -1, 0], vec![1, 0, 1]]);
    assert!(
        got.iter()
            .all(|(_, h)| h.counter_reset_hint == CounterResetHint::Gauge)
    );
    // A counter histogram after gauges starts a new chunk.
    assert!(matches!(
        c.append(None, 3, &base()).unwrap(),
        HistogramAppend::NewChunk(_)
    ));
}

#[test]
fn custom_buckets_keep_their_bounds() {
    let h = Histogram {
        schema: CUSTOM_BUCKETS_SCHEMA,
        count: 3,
        sum: 2.0,
        positive_spans: sp(&[(0, 3)]),
        positive_buckets: vec![1, 0, 0],
        custom_values: vec![0.5, 1.0, 33_554.431],
        ..Histogram::default()
    };
    let mut c = HistogramChunk::new();
    appended(c.append(None, 0, &h).unwrap());
    assert_eq!(read_all(&c)[0].1.custom_values, h.custom_values);
    let other = Histogram {
        count: 4,
        custom_values: vec![0.5, 2.0, 3.0],
        ..h.clone()
    };
    let HistogramAppend::NewChunk(next) = c.append(None, 1, &other).unwrap() else {
        panic!("changed bounds start a new chunk");
    };
    assert_eq!(
        next.counter_reset_header(),
        CounterResetHeader::CounterReset
    );
}

fn fbase() -> FloatHistogram {
    base().to_float()
}

#[test]
fn float_histograms_round_trip_recode_and_reset() {
    let mut c = FloatHistogramChunk::new();
    let mut want = Vec::new();
    let mut h = fbase();
    for i in 0..4 {
        assert!(matches!(
            c.append(None, i * 10, &h).unwrap(),
            HistogramAppend::Appended
        ));
        want.push(h.clone());
        h.count += 3.5;
        h.sum *= 1.5;
        h.positive_buckets[3] += 3.5;
    }
    let mut reopened = FloatHistogramChunk::from_bytes(c.bytes().to_vec()).unwrap();
    let mut it = c.iter();
    let mut k = 0;
    while it.next() {
        let (_, got) = it.at_float_histogram();
        assert_eq!(got.count, want[k].count);
        assert_eq!(got.sum, want[k].sum);
        assert_eq!(got.positive_buckets, want[k].positive_buckets);
        k += 1;
    }
    assert_eq!(k, 4);
    assert!(matches!(
        reopened.append(None, 50, &h).unwrap(),
        HistogramAppend::Appended
    ));
    assert!(matches!(
        c.append(None, 50, &h).unwrap(),
        HistogramAppend::Appended
    ));
    let (mut a, mut b) = (reopened.iter(), c.iter());
    while a.next() {
        assert!(b.next());
        assert_eq!(a.at_float_histogram(), b.at_float_histogram());
    }
    assert!(!b.next());

    // A new bucket recodes; a lower count cuts a counter-reset chunk.
    let mut grown = h.clone();
    grown.count += 1.0;
    grown.positive_spans = sp(&[(0, 5)]);
    grown.positive_buckets = vec![1.0, 2.0, 1.0, 1.0, h.positive_buckets[3]];
    assert!(matches!(
        c.append(None, 60, &grown).unwrap(),
        HistogramAppend::Recoded
    ));
    let mut it = c.iter();
    assert!(it.next());
    assert_eq!(
        it.at_float_histogram().1.positive_buckets,
        [1.0, 2.0, 0.0, 1.0, 1.0]
    );
    let reset = FloatHistogram {
        count: 1.0,
        ..grown.clone()
    };
    let HistogramAppend::NewChunk(next) = c.append(None, 70, &reset).unwrap() else {
        panic!("a lower count is a counter reset");
    };
    assert_eq!(
        next.counter_reset_header(),
        CounterResetHeader::CounterReset
    );
}

#[test]
fn chunk_iterator_dispatches_on_encoding() {
    let mut hc = HistogramChunk::new();
    appended(hc.append(None, 5, &base()).unwrap());
    let chunk = Chunk::from_data(Encoding::Histogram.as_u8(), hc.bytes().to_vec()).unwrap();
    assert_eq!(chunk.num_samples(), 1);
    let mut it = chunk.iter();
    assert_eq!(it.next(), ValueType::Histogram);
    assert_eq!(it.at_float_histogram().1.count, 15.0);
    assert_eq!(it.next(), ValueType::None);
    let mut fc = FloatHistogramChunk::new();
    fc.append(None, 5, &fbase()).unwrap();
    let mut it = ChunkIterator::new(Encoding::FloatHistogram, fc.bytes());
    assert_eq!(it.seek(5), ValueType::FloatHistogram);
    // Truncated bytes are reported, not panicked on.
    for cut in 0..hc.bytes().len() {
        let mut it = ChunkIterator::new(Encoding::Histogram, &hc.bytes()[..cut]);
        assert_eq!(it.next(), ValueType::None, "cut at {cut}");
        assert!(it.err().is_some());
    }
}

// Ports of Go's `histogram_test.go` cases.

/// Go's `TestHistogramChunkAppendable` setup histogram (chunk cut with an unknown header).
fn go_h1(gauge: bool) -> Histogram {
    Histogram {
        counter_reset_hint: if gauge {
            CounterResetHint::Gauge
        } else {
            CounterResetHint::Unknown
        },
        count: 5,
        zero_count: 2,
        sum: 18.4,
        zero_threshold: 1e-125,
        schema: 1,
        positive_spans: sp(&[(0, 2), (2, 1), (3, 2), (3, 1), (1, 1)]),
        positive_buckets: vec![6, -3, 0, -1, 2, 1, -4],
        ..Histogram::default()
    }
}

/// What appending `h2` at ts+1 did: a new chunk (with its header), a recode, or a plain
/// append.
#[derive(Debug, PartialEq)]
enum Outcome {
    New(CounterResetHeader),
    Recoded,
    Appended,
}

/// Go's appendable tests for either encoding: `h1` starts a chunk (gauge or unknown
/// header), then `h2` is appended one millisecond later.
fn go_append_to<C: HistogramChunkOps>(h1: &C::H, h2: &C::H) -> Outcome {
    let mut c = C::empty();
    let r = append_histogram(&mut c, None, 1_234_567_890, h1).unwrap();
    assert!(matches!(r, HistogramAppend::Appended));
    let want = if h1.hint() == CounterResetHint::Gauge {
        CounterResetHeader::Gauge
    } else {
        CounterResetHeader::Unknown
    };
    assert_eq!(c.header(), want);
    let before = c.stream().bytes().to_vec();
    match append_histogram(&mut c, None, 1_234_567_891, h2).unwrap() {
        HistogramAppend::NewChunk(n) => {
            assert_eq!(c.stream().bytes(), before, "the old chunk stays untouched");
            assert_eq!(n.samples(), 1);
            Outcome::New(n.header())
        }
        HistogramAppend::Recoded => {
            assert_eq!(c.samples(), 2);
            Outcome::Recoded
        }
        HistogramAppend::Appended => Outcome::Appended,
    }
}

/// Go's `TestHistogramChunkAppendable` and `TestFloatHistogramChunkAppendable` with their
/// gauge variants, for either encoding (`conv` makes the chunk's histogram type): each
/// histogram appended after `go_h1` as a counter and as a gauge (where a missing bucket is
/// no reset).
fn check_go_appendable<C: HistogramChunkOps>(conv: impl Fn(&Histogram) -> C::H) {
    use CounterResetHeader::{CounterReset, Gauge, Unknown};
    use Outcome::{Appended, New, Recoded};
    let more_buckets = Histogram {
        positive_spans: sp(&[(0, 3), (1, 1), (1, 4), (3, 3)]),
        count: 14,
        zero_count: 3,
        sum: 30.0,
        positive_buckets: vec![7, -2, -4, 2, -2, -1, 2, 3, 0, -5, 1],
        ..go_h1(false)
    };
    let bucket_missing = Histogram {
        positive_spans: sp(&[(0, 2), (5, 2), (3, 1), (1, 1)]),
        sum: 21.0,
        positive_buckets: vec![6, -3, -1, 2, 1, -4],
        ..go_h1(false)
    };
    let reset_same_buckets = Histogram {
        sum: 23.0,
        positive_buckets: vec![6, -4, 1, -1, 2, 1, -4],
        ..go_h1(false)
    };
    let reset_new_buckets = Histogram {
        sum: 29.0,
        positive_buckets: vec![7, -2, -4, 2, -2, -1, 2, 3, 0, -5, 0],
        ..more_buckets.clone()
    };
    let reset_before_first = Histogram {
        positive_spans: sp(&[(-3, 2), (1, 2), (2, 1), (3, 2), (3, 1), (1, 1)]),
        sum: 26.0,
        positive_buckets: vec![1, 1, 3, -2, 0, -1, 2, 1, -4],
        ..go_h1(false)
    };
    let cases = [
        (
            "schema change",
            Histogram {
                schema: 2,
                ..go_h1(false)
            },
            New(Unknown),
            New(Gauge),
        ),
        (
            "zero threshold change",
            Histogram {
                zero_threshold: 1e-125 + 0.1,
                ..go_h1(false)
            },
            New(Unknown),
            New(Gauge),
        ),
        (
            "count drop",
            Histogram {
                count: 4,
                ..go_h1(false)
            },
            New(CounterReset),
            Appended,
        ),
        ("more buckets", more_buckets, Recoded, Recoded),
        ("bucket missing", bucket_missing, New(CounterReset), Recoded),
        (
            "reset, same buckets",
            reset_same_buckets,
            New(CounterReset),
            Appended,
        ),
        (
            "reset, new buckets",
            reset_new_buckets,
            New(CounterReset),
            Recoded,
        ),
        (
            "reset before first bucket",
            reset_before_first,
            New(CounterReset),
            Recoded,
        ),
    ];
    let gauge = |h: &Histogram| Histogram {
        counter_reset_hint: CounterResetHint::Gauge,
        ..h.clone()
    };
    for (name, h2, as_counter, as_gauge) in cases {
        let counter = go_append_to::<C>(&conv(&go_h1(false)), &conv(&h2));
        assert_eq!(counter, as_counter, "counter: {name}");
        let g = go_append_to::<C>(&conv(&go_h1(true)), &conv(&gauge(&h2)));
        assert_eq!(g, as_gauge, "gauge: {name}");
    }
    let shrunk = Histogram {
        positive_spans: sp(&[(0, 2), (2, 1), (3, 1), (4, 1), (1, 1)]),
        count: 1,
        sum: 17.4,
        positive_buckets: vec![6, -3, 0, -1, 3, -4],
        ..go_h1(true)
    };
    let got = go_append_to::<C>(&conv(&go_h1(true)), &conv(&shrunk));
    assert_eq!(got, Appended, "gauge: buckets missing");
}

#[test]
fn go_histogram_chunk_appendable() {
    check_go_appendable::<HistogramChunk>(Histogram::clone);
}

#[test]
fn go_float_histogram_chunk_appendable() {
    check_go_appendable::<FloatHistogramChunk>(Histogram::to_float);
}

#[test]
fn go_histogram_chunk_bucket_changes() {
    let h1 = Histogram {
        count: 27,
        zero_count: 2,
        sum: 18.4,
        zero_threshold: 1e-125,
        schema: 1,
        positive_spans: sp(&[(0, 2), (2, 1), (3, 2), (3, 1), (1, 1)]),
        positive_buckets: vec![6, -3, 0, -1, 2, 1, -4],
        negative_spans: sp(&[(1, 1)]),
        negative_buckets: vec![1],
        ..Histogram::default()
    };
    let h2 = Histogram {
        positive_spans: sp(&[(0, 3), (1, 1), (1, 4), (3, 3)]),
        negative_spans: sp(&[(0, 2)]),
        count: 35,
        zero_count: 3,
        sum: 30.0,
        positive_buckets: vec![7, -2, -4, 2, -2, -1, 2, 3, 0, -5, 1],
        negative_buckets: vec![2, -1],
        ..h1.clone()
    };
    let mut c = HistogramChunk::new();
    appended(c.append(None, 1_234_567_890, &h1).unwrap());
    assert!(matches!(
        c.append(None, 1_234_567_906, &h2).unwrap(),
        HistogramAppend::Recoded
    ));
    let got = read_all(&c);
    let want1 = Histogram {
        positive_spans: h2.positive_spans.clone(),
        positive_buckets: vec![6, -3, -3, 3, -3, 0, 2, 2, 1, -5, 1],
        negative_spans: h2.negative_spans.clone(),
        negative_buckets: vec![0, 1],
        ..h1
    };
    let want2 = Histogram {
        counter_reset_hint: CounterResetHint::NotCounterReset,
        ..h2
    };
    assert_eq!(got, [(1_234_567_890, want1), (1_234_567_906, want2)]);
}

/// Go's `TestHistogramChunkAppendableWithEmptySpan` and `TestAtFloatHistogram`.
#[test]
fn go_empty_spans_and_float_view() {
    let mk = |count, zero_count, sum, p: Vec<i64>, n: Vec<i64>| Histogram {
        schema: 0,
        count,
        sum,
        zero_threshold: 0.001,
        zero_count,
        positive_spans: sp(&[(0, 4), (0, 0), (0, 3)]),
        positive_buckets: p,
        negative_spans: sp(&[(1, 4), (2, 0), (2, 3)]),
        negative_buckets: n,
        ..Histogram::default()
    };
    let input = [
        mk(
            21,
            4,
            1234.5,
            vec![1, 1, -1, 0, 0, 0, 0],
            vec![1, 1, -1, 1, 0, 0, 0],
        ),
        mk(
            36,
            5,
            2345.6,
            vec![1, 2, -2, 1, -1, 0, 0],
            vec![1, 3, -2, 5, -2, 0, -3],
        ),
        mk(
            36,
            5,
            1111.1,
            vec![1, 2, -2, 2, -1, 0, 0],
            vec![1, 3, -2, 5, -1, 0, -3],
        ),
    ];
    let mut c = HistogramChunk::new();
    for (i, h) in input.iter().enumerate() {
        appended(c.append(None, i as i64, h).unwrap());
    }
    let want_p: [[f64; 7]; 3] = [
        [1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        [1.0, 3.0, 1.0, 2.0, 1.0, 1.0, 1.0],
        [1.0, 3.0, 1.0, 3.0, 2.0, 2.0, 2.0],
    ];
    let want_n: [[f64; 7]; 3] = [
        [1.0, 2.0, 1.0, 2.0, 2.0, 2.0, 2.0],
        [1.0, 4.0, 2.0, 7.0, 5.0, 5.0, 2.0],
        [1.0, 4.0, 2.0, 7.0, 6.0, 6.0, 3.0],
    ];
    let mut it = c.iter();
    let mut i = 0;
    while it.next() {
        let (t, fh) = it.at_float_histogram();
        assert_eq!(t, i as i64);
        assert_eq!(fh.positive_buckets, want_p[i], "histogram {i}");
        assert_eq!(fh.negative_buckets, want_n[i], "histogram {i}");
        assert_eq!(fh.positive_spans, input[i].positive_spans);
        let hint = if i == 0 {
            CounterResetHint::Unknown
        } else {
            CounterResetHint::NotCounterReset
        };
        assert_eq!(fh.counter_reset_hint, hint);
        i += 1;
    }
    assert_eq!(i, 3);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the bytes, decoding a histogram chunk fails cleanly, never panics.
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200), enc in 2u8..4) {
            let mut it = ChunkIterator::new(Encoding::from_u8(enc).unwrap(), data.as_slice());
            let mut n = 0;
            while it.next() != ValueType::None && n < 70_000 {
                let _ = it.at_float_histogram();
                n += 1;
            }
        }

        /// Histograms with random growth, resets and layout changes: every sample comes back
        /// with its counts from the chunk it went into (recoding only adds empty buckets).
        #[test]
        fn appended_histograms_come_back(steps in proptest::collection::vec((0u64..5, 0u8..4, any::<bool>()), 1..60)) {
            let mut chunks: Vec<HistogramChunk> = vec![HistogramChunk::new()];
            let mut want: Vec<Histogram> = Vec::new();
            let mut counts = vec![1i64, 2, 3];
            let mut offset = 0i32;
            for (k, (inc, action, neg)) in steps.iter().enumerate() {
                match action {
                    0 => counts.iter_mut().for_each(|c| *c += *inc as i64),
                    1 => counts.push(*inc as i64),
                    2 => offset -= 1,
                    _ => counts = counts.iter().map(|c| c / 2).collect(),
                }
                if *action == 2 {
                    counts.insert(0, 0);
                }
                let mut deltas = Vec::new();
                let mut prev = 0;
                for c in &counts {
                    deltas.push(c - prev);
                    prev = *c;
                }
                let total: i64 = counts.iter().sum();
                let h = Histogram {
                    schema: 0,
                    count: total as u64 + u64::from(*neg),
                    zero_count: u64::from(*neg),
                    sum: total as f64,
                    positive_spans: sp(&[(offset, counts.len() as u32)]),
                    positive_buckets: deltas,
                    ..Histogram::default()
                };
                let cur = chunks.last_mut().unwrap();
                if let HistogramAppend::NewChunk(n) = cur.append(None, k as i64, &h).unwrap() {
                    chunks.push(n);
                }
                want.push(h);
            }
            let mut got = Vec::new();
            for c in &chunks {
                got.extend(read_all(c));
            }
            prop_assert_eq!(got.len(), want.len());
            for ((t, g), w) in got.iter().zip(&want) {
                let (g, w) = (g.to_float(), w.to_float());
                prop_assert_eq!(g.count, w.count, "count at {}", t);
                prop_assert_eq!(g.zero_count, w.zero_count);
                let nonzero = |h: &FloatHistogram| -> Vec<(i64, f64)> {
                    let mut out = Vec::new();
                    let mut idx = 0i64;
                    let mut k = 0;
                    for s in &h.positive_spans {
                        idx += i64::from(s.offset);
                        for _ in 0..s.length {
                            if h.positive_buckets[k] != 0.0 {
                                out.push((idx, h.positive_buckets[k]));
                            }
                            idx += 1;
                            k += 1;
                        }
                    }
                    out
                };
                prop_assert_eq!(nonzero(&g), nonzero(&w), "buckets at {}", t);
            }
        }
    }
}

#[test]
fn any_chunk_is_no_larger_than_a_float_chunk() {
    // The head keeps one open `Chunk` per series, mostly float ones.
    let xor = std::mem::size_of::<crate::XorChunk>();
    assert!(std::mem::size_of::<HistogramChunk>() <= xor);
    assert!(std::mem::size_of::<FloatHistogramChunk>() <= xor);
    // The enum's tag fits a niche: floats' open chunks cost nothing extra.
    assert_eq!(std::mem::size_of::<Chunk>(), xor);
}
