//! Builds remote write 2.0 requests from a shard's batch (Prometheus's
//! `populateV2TimeSeries` + `buildV2WriteRequest`, grouping each series' items).

use std::collections::HashMap;

use model::Labels;
use prompb::write_v2::{Exemplar, Metadata, Request, Sample, TimeSeries};

use super::Queued;
use crate::remote::histogram::{HistogramSample, float_histogram_to_proto, histogram_to_proto};

/// The request's symbol table, keyed by strings borrowed from the batch (no allocation for a
/// string already seen; [`prompb::write_v2::SymbolTable`] owns its keys instead).
struct Symbols<'b> {
    index: HashMap<&'b str, u32>,
    list: Vec<String>,
}

impl<'b> Symbols<'b> {
    fn new() -> Self {
        Symbols {
            index: HashMap::from([("", 0)]),
            list: vec![String::new()],
        }
    }

    fn symbolize(&mut self, s: &'b str) -> u32 {
        *self.index.entry(s).or_insert_with(|| {
            self.list.push(s.to_owned());
            u32::try_from(self.list.len() - 1)
                .expect("a request holds fewer than 2^32 distinct strings")
        })
    }

    /// Name and value references of every label.
    fn labels(&mut self, labels: &'b Labels) -> Vec<u32> {
        let mut refs = Vec::with_capacity(labels.len() * 2);
        for (name, value) in labels.iter() {
            refs.push(self.symbolize(name));
            refs.push(self.symbolize(value));
        }
        refs
    }
}

/// One request for a batch: a time series per label set and kind (float samples, or native
/// histograms: 2.0 keeps them in separate series), in first-seen order, each item in batch
/// order; every string once in the symbol table. Exemplars join their series' float
/// samples, else its histograms, else a series of their own.
pub(super) fn build(batch: &[Queued]) -> Request {
    let mut symbols = Symbols::new();
    let mut timeseries: Vec<TimeSeries> = Vec::new();
    // (labels, holds histograms) -> index in `timeseries`.
    let mut index: HashMap<(&Labels, bool), usize> = HashMap::new();
    for q in batch {
        match (&q.exemplar, q.histogram.as_deref()) {
            (Some(e), _) => {
                let floats = index.get(&(&q.labels, false)).copied();
                let hists = index.get(&(&q.labels, true)).copied();
                let i = match floats.or(hists) {
                    Some(i) => i,
                    None => slot(&mut index, q, false, &mut symbols, &mut timeseries),
                };
                let labels_refs = symbols.labels(e);
                timeseries[i].exemplars.push(Exemplar {
                    labels_refs,
                    value: q.v,
                    timestamp: q.t,
                });
            }
            (None, Some(h)) => {
                let i = slot(&mut index, q, true, &mut symbols, &mut timeseries);
                timeseries[i].histograms.push(match h {
                    HistogramSample::Int(h) => histogram_to_proto(q.t, h),
                    HistogramSample::Float(fh) => float_histogram_to_proto(q.t, fh),
                });
            }
            (None, None) => {
                let i = slot(&mut index, q, false, &mut symbols, &mut timeseries);
                timeseries[i].samples.push(Sample {
                    value: q.v,
                    timestamp: q.t,
                });
            }
        }
    }
    Request {
        symbols: symbols.list,
        timeseries,
    }
}

/// The index of the series of `q`'s labels and kind, added when new: labels symbolized,
/// then the help and unit of its metadata from the WAL, when it has some (Go's
/// `populateV2TimeSeries`).
fn slot<'b>(
    index: &mut HashMap<(&'b Labels, bool), usize>,
    q: &'b Queued,
    histograms: bool,
    symbols: &mut Symbols<'b>,
    timeseries: &mut Vec<TimeSeries>,
) -> usize {
    *index.entry((&q.labels, histograms)).or_insert_with(|| {
        let labels_refs = symbols.labels(&q.labels);
        let metadata = q.metadata.as_deref().map(|m| Metadata {
            r#type: i32::from(m.metric_type.wal_code()),
            help_ref: symbols.symbolize(&m.help),
            unit_ref: symbols.symbolize(&m.unit),
        });
        timeseries.push(TimeSeries {
            labels_refs,
            metadata,
            ..Default::default()
        });
        timeseries.len() - 1
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Histogram;

    fn q(labels: &Labels, t: i64, v: f64) -> Queued {
        Queued {
            labels: labels.clone(),
            t,
            v,
            exemplar: None,
            histogram: None,
            metadata: None,
        }
    }

    #[test]
    fn series_share_symbols_and_keep_kinds_apart() {
        let a = Labels::from_pairs([("__name__", "a"), ("job", "x")]);
        let b = Labels::from_pairs([("__name__", "b"), ("job", "x")]);
        let h = Histogram {
            count: 2,
            zero_count: 2,
            ..Default::default()
        };
        let batch = [
            q(&a, 1, 1.0),
            Queued {
                histogram: Some(Box::new(HistogramSample::Int(h.clone()))),
                ..q(&b, 1, 0.0)
            },
            Queued {
                exemplar: Some(Labels::from_pairs([("trace_id", "x")])),
                ..q(&a, 1, 0.5)
            },
            Queued {
                exemplar: Some(Labels::from_pairs([("trace_id", "y")])),
                ..q(&b, 1, 0.25)
            },
            q(&a, 2, 2.0),
            q(&b, 3, 3.0),
        ];
        let req = build(&batch);
        assert_eq!(
            req.symbols,
            ["", "__name__", "a", "job", "x", "b", "trace_id", "y"]
        );
        assert_eq!(req.timeseries.len(), 3);
        let [fa, hb, fb] = &req.timeseries[..] else {
            unreachable!("three series")
        };
        assert_eq!(fa.labels_refs, [1, 2, 3, 4]);
        assert_eq!(
            fa.samples,
            [
                Sample {
                    value: 1.0,
                    timestamp: 1
                },
                Sample {
                    value: 2.0,
                    timestamp: 2
                }
            ]
        );
        assert_eq!(
            fa.exemplars,
            [Exemplar {
                labels_refs: vec![6, 4],
                value: 0.5,
                timestamp: 1
            }]
        );
        assert_eq!(hb.labels_refs, [1, 5, 3, 4]);
        assert_eq!(hb.histograms, [histogram_to_proto(1, &h)]);
        assert!(hb.samples.is_empty());
        // The exemplar of b arrived before b's float sample: it joined the histograms.
        assert_eq!(hb.exemplars[0].labels_refs, [6, 7]);
        assert_eq!(fb.labels_refs, [1, 5, 3, 4]);
        assert_eq!(fb.samples.len(), 1);
        assert!(fb.histograms.is_empty() && fb.exemplars.is_empty());
    }
}
