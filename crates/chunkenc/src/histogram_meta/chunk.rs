//! The parts of a histogram chunk that do not depend on its encoding: the header and bit
//! stream, the appender state's frame, the iterator's frame, and the public methods both
//! chunk and iterator types share.

use model::CounterResetHint;
use model::histogram::CUSTOM_BUCKETS_SCHEMA;

use super::{
    ChunkHistogram, CounterResetHeader, HISTOGRAM_FLAG_POS, HISTOGRAM_HEADER_SIZE, Layout,
    count_spans, counter_reset_hint, read_layout, set_header,
};
use crate::bstream::{BitReader, BitWriter};
use crate::{Error, Result};

/// A histogram chunk's bytes, a way to make an empty one, and its samples (implemented by
/// `histogram_chunk_common!`).
pub(crate) trait HistogramChunkBase: Sized {
    /// The histogram type the chunk holds.
    type H: ChunkHistogram;
    /// The encoding's values of the last sample, as the appender continues from them.
    type Values;
    /// "histogram" or "float histogram", for error messages.
    const KIND: &'static str;
    fn empty() -> Self;
    fn stream(&self) -> &ChunkStream;
    fn stream_mut(&mut self) -> &mut ChunkStream;
    /// Calls `f` with every sample of the chunk, in order.
    fn for_each_sample(&self, f: impl FnMut(i64, Self::H) -> Result<()>) -> Result<()>;
    /// The stream and the appender state (rebuilt from the samples of a chunk read from
    /// disk, the stream then cut after the last sample).
    fn parts(&mut self) -> Result<(&mut ChunkStream, &mut AppendState<Self::Values>)>;
}

/// The bytes of a histogram chunk of either encoding: the header (big-endian sample count,
/// counter-reset flags) and the bit stream after it.
#[derive(Debug, Clone)]
pub(crate) struct ChunkStream {
    pub(crate) w: BitWriter,
}

impl ChunkStream {
    /// The header of an empty chunk.
    pub(crate) fn new() -> ChunkStream {
        ChunkStream {
            w: BitWriter::with_bytes(vec![0; HISTOGRAM_HEADER_SIZE], 0),
        }
    }

    /// Stored bytes (after the encoding byte) of a `kind` chunk ("histogram", "float
    /// histogram"); fails when the header is missing.
    pub(crate) fn from_bytes(data: Vec<u8>, kind: &str) -> Result<ChunkStream> {
        if data.len() < HISTOGRAM_HEADER_SIZE {
            return Err(Error::CorruptChunk(format!(
                "{kind} chunk of {} bytes has no header",
                data.len()
            )));
        }
        Ok(ChunkStream {
            w: BitWriter::with_bytes(data, 0),
        })
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.w.stream
    }

    pub(crate) fn num_samples(&self) -> usize {
        usize::from(u16::from_be_bytes([self.w.stream[0], self.w.stream[1]]))
    }

    pub(crate) fn counter_reset_header(&self) -> CounterResetHeader {
        CounterResetHeader::from_flags(self.w.stream[HISTOGRAM_FLAG_POS])
    }

    pub(crate) fn set_counter_reset_header(&mut self, h: CounterResetHeader) {
        set_header(&mut self.w.stream, h);
    }

    /// The number of samples before the one about to be written; an error when the count
    /// cannot grow.
    pub(crate) fn room(&self, kind: &str) -> Result<usize> {
        let num = self.num_samples();
        if num >= usize::from(u16::MAX) {
            return Err(Error::CorruptChunk(format!(
                "{kind} chunk is full (65535 samples)"
            )));
        }
        Ok(num)
    }

    /// Counts the sample written after `num` others.
    pub(crate) fn count_sample(&mut self, num: usize) {
        let n = (num as u16 + 1).to_be_bytes();
        self.w.stream[0] = n[0];
        self.w.stream[1] = n[1];
    }
}

/// The appender's state: the chunk's layout, its last time and time delta, and the
/// encoding's values of the last sample.
#[derive(Debug, Clone, Default)]
pub(crate) struct AppendState<V> {
    pub(crate) layout: Layout,
    pub(crate) t: i64,
    pub(crate) t_delta: i64,
    pub(crate) v: V,
}

/// What both chunk iterators track besides the encoded values: the bit reader, the header,
/// the layout, time and time delta, and the first error.
#[derive(Debug)]
pub(crate) struct IterCore {
    pub(crate) br: BitReader,
    pub(crate) num_total: u16,
    pub(crate) num_read: u16,
    pub(crate) header: CounterResetHeader,
    pub(crate) layout: Layout,
    pub(crate) t: i64,
    pub(crate) t_delta: i64,
    pub(crate) err: Option<Error>,
    /// "histogram" or "float histogram", for error messages.
    kind: &'static str,
}

impl IterCore {
    /// Reads the header of a `kind` chunk's bytes.
    pub(crate) fn new(d: &[u8], kind: &'static str) -> IterCore {
        let (num_total, header, err) = if d.len() < HISTOGRAM_HEADER_SIZE {
            (
                0,
                CounterResetHeader::Unknown,
                Some(Error::CorruptChunk(format!("{kind} chunk has no header"))),
            )
        } else {
            (
                u16::from_be_bytes([d[0], d[1]]),
                CounterResetHeader::from_flags(d[HISTOGRAM_FLAG_POS]),
                None,
            )
        };
        let mut br = BitReader::new();
        if err.is_none() {
            br.read_bits(d, 24);
        }
        IterCore {
            br,
            num_total,
            num_read: 0,
            header,
            layout: Layout::default(),
            t: i64::MIN,
            t_delta: 0,
            err,
            kind,
        }
    }

    /// Whether `next` has nothing more to read.
    pub(crate) fn done(&self) -> bool {
        self.err.is_some() || self.num_read >= self.num_total
    }

    /// The counter-reset hint of the current sample.
    pub(crate) fn hint(&self) -> CounterResetHint {
        counter_reset_hint(self.header, self.num_read)
    }

    /// Records that `what` of the sample being read is cut short or invalid; false.
    pub(crate) fn fail(&mut self, what: &str) -> bool {
        self.err = Some(Error::CorruptChunk(format!(
            "{} chunk: {what} of sample {} is cut short or invalid",
            self.kind,
            self.num_read + 1
        )));
        false
    }

    /// Records that a value (`what`) of a later sample is cut short; false.
    pub(crate) fn cut_short(&mut self, what: &str) -> bool {
        self.err = Some(Error::CorruptChunk(format!(
            "{} chunk: {what} is cut short",
            self.kind
        )));
        false
    }

    /// Reads the layout before the first sample and counts its positive and negative
    /// buckets, which must fit the chunk at `bucket_bits` bits each at least (the error is
    /// recorded when anything fails).
    pub(crate) fn read_layout(
        &mut self,
        data: &[u8],
        bucket_bits: usize,
    ) -> Option<(Layout, usize, usize)> {
        let Some(layout) = read_layout(&mut self.br, data) else {
            self.fail("layout");
            return None;
        };
        if !(layout.schema == CUSTOM_BUCKETS_SCHEMA || (-4..=8).contains(&layout.schema)) {
            self.err = Some(Error::CorruptChunk(format!(
                "{} chunk has unknown schema {}",
                self.kind, layout.schema
            )));
            return None;
        }
        let (np, nn) = (
            count_spans(&layout.positive_spans),
            count_spans(&layout.negative_spans),
        );
        if (np + nn).saturating_mul(bucket_bits) > data.len().saturating_mul(8) {
            self.fail("bucket count");
            return None;
        }
        Some((layout, np, nn))
    }

    /// The appender's state after the last sample, the iterator having read them all (its
    /// error, if any, is returned instead); `s` is cut right after the last sample's bits,
    /// where appending continues.
    pub(crate) fn into_state<V>(self, v: V, s: &mut ChunkStream) -> Result<AppendState<V>> {
        if let Some(e) = self.err {
            return Err(e);
        }
        let bits = self.br.bits_read();
        let len = bits.div_ceil(8);
        s.w.truncate(len, (len * 8 - bits) as u8);
        Ok(AppendState {
            layout: self.layout,
            t: self.t,
            t_delta: self.t_delta,
            v,
        })
    }
}

/// What both histogram chunk types share (they hold `s: ChunkStream` and `app` (an
/// `AppendState<Values>` built by `state()`), have `new()`, implement `HistogramChunkOps` for
/// the histogram type `$h`, and their iterator `$iter` reads a sample with `$at`): the public `from_bytes`, header and sample count
/// accessors, `iter`, `header_for_next` and `append`, and [`HistogramChunkBase`].
macro_rules! histogram_chunk_common {
    ($chunk:ident, $iter:ident, $h:ty, $at:ident, $kind:literal) => {
        impl HistogramChunkBase for $chunk {
            type H = $h;
            type Values = Values;
            const KIND: &'static str = $kind;
            fn empty() -> Self {
                $chunk::new()
            }
            fn stream(&self) -> &ChunkStream {
                &self.s
            }
            fn stream_mut(&mut self) -> &mut ChunkStream {
                &mut self.s
            }
            fn for_each_sample(
                &self,
                mut f: impl FnMut(i64, $h) -> $crate::Result<()>,
            ) -> $crate::Result<()> {
                let mut it = self.iter();
                while it.next() {
                    let (t, h) = it.$at();
                    f(t, h)?;
                }
                match it.core.err.take() {
                    Some(e) => Err(e),
                    None => Ok(()),
                }
            }
            fn parts(&mut self) -> $crate::Result<(&mut ChunkStream, &mut AppendState<Values>)> {
                self.state()?;
                let app = self.app.as_mut().expect("append state was just built");
                Ok((&mut self.s, app))
            }
        }

        impl Default for $chunk {
            fn default() -> Self {
                $chunk::new()
            }
        }

        impl PartialEq for $chunk {
            fn eq(&self, other: &Self) -> bool {
                self.s.bytes() == other.s.bytes()
            }
        }

        impl $chunk {
            /// An empty chunk.
            pub fn new() -> $chunk {
                $chunk {
                    s: ChunkStream::new(),
                    app: Some(Box::new(AppendState {
                        t: i64::MIN,
                        v: Values::fresh(),
                        ..AppendState::default()
                    })),
                }
            }

            /// The appender's state, rebuilt from the samples of a chunk read from disk
            /// (the stream is then cut after the last sample, where appending continues).
            fn state(&mut self) -> $crate::Result<&mut AppendState<Values>> {
                if self.app.is_none() {
                    let mut it = $iter::new(self.s.bytes());
                    while it.next() {}
                    let (core, v) = it.into_parts();
                    self.app = Some(Box::new(core.into_state(v, &mut self.s)?));
                }
                Ok(self.app.as_mut().expect("append state was just built"))
            }

            /// A chunk over stored bytes (after the encoding byte). Fails when the header is
            /// missing; samples are checked as they are read.
            pub fn from_bytes(data: Vec<u8>) -> $crate::Result<$chunk> {
                Ok($chunk {
                    s: ChunkStream::from_bytes(data, $kind)?,
                    app: None,
                })
            }

            /// The bytes Prometheus stores for this chunk.
            pub fn bytes(&self) -> &[u8] {
                self.s.bytes()
            }

            /// The number of histograms in the chunk.
            pub fn num_samples(&self) -> usize {
                self.s.num_samples()
            }

            /// Why the chunk was started.
            pub fn counter_reset_header(&self) -> CounterResetHeader {
                self.s.counter_reset_header()
            }

            /// Sets the header bits.
            pub fn set_counter_reset_header(&mut self, h: CounterResetHeader) {
                self.s.set_counter_reset_header(h);
            }

            /// An iterator over the chunk's histograms.
            pub fn iter(&self) -> $iter<&[u8]> {
                $iter::new(self.bytes())
            }

            /// The header a new chunk starting with `h` gets when it continues this one
            /// (Go's `appendable` verdict: a reset or not; for integer histograms also
            /// unknown after a layout change).
            pub fn header_for_next(&mut self, h: &$h) -> $crate::Result<CounterResetHeader> {
                HistogramChunkOps::header_for_next(self, h)
            }

            /// Appends a histogram at `t` (after the chunk's last sample; the head checks
            /// order), following Prometheus's rules: a gauge histogram goes to a gauge
            /// chunk, a counter histogram starts a new chunk on a counter reset or a
            /// schema, zero-threshold or custom-bounds change, and new buckets recode the
            /// chunk to the larger layout. `prev` is the series' previous chunk when this
            /// one is empty and continues it (its header then says whether `h` is a reset).
            ///
            /// # Errors
            /// When a chunk read from disk turns out corrupt.
            pub fn append(
                &mut self,
                prev: Option<&mut $chunk>,
                t: i64,
                h: &$h,
            ) -> $crate::Result<HistogramAppend<$chunk>> {
                append_histogram(self, prev, t, h)
            }
        }
    };
}
pub(crate) use histogram_chunk_common;

/// The public methods both histogram iterator types share (they hold `core: IterCore` and
/// have `next()`).
macro_rules! histogram_iterator_common {
    ($iter:ident) => {
        impl<B: AsRef<[u8]>> $iter<B> {
            /// The chunk's counter-reset header.
            pub fn counter_reset_header(&self) -> CounterResetHeader {
                self.core.header
            }

            /// The number of histograms in the chunk.
            pub fn num_samples(&self) -> usize {
                usize::from(self.core.num_total)
            }

            /// The current sample's time.
            pub fn at_t(&self) -> i64 {
                self.core.t
            }

            /// The first error met, if any.
            pub fn err(&self) -> Option<&$crate::Error> {
                self.core.err.as_ref()
            }

            /// Advances to the first sample at or after `t`; false when there is none.
            pub fn seek(&mut self, t: i64) -> bool {
                if self.core.err.is_some() {
                    return false;
                }
                while self.core.num_read == 0 || t > self.core.t {
                    if !self.next() {
                        return false;
                    }
                }
                true
            }
        }
    };
}
pub(crate) use histogram_iterator_common;
