//! Chunk encodings, bit-exact with Go's `tsdb/chunkenc`: Prometheus's XOR (Gorilla) float
//! chunk, and the native histogram chunks ([`HistogramChunk`], encoding 2, integer counts;
//! [`FloatHistogramChunk`], encoding 3). [`Chunk`] and [`ChunkIterator`] cover all three.
//!
//! An XOR chunk's bytes are exactly what Prometheus writes into a block's chunk segment (after
//! the length and encoding byte): a big-endian `u16` sample count, then a bit stream. The
//! first sample holds a varint timestamp and the raw 64 bits of its value, the second a
//! uvarint timestamp delta and a value XOR, every later one a delta-of-delta timestamp (1 to
//! 68 bits) and a value XOR (leading-zero count in 5 bits, significant bits in 6). Values are
//! kept as bits, so the stale marker's NaN pattern survives a round trip.
//!
//! A histogram chunk has a third header byte whose top two bits say why it was cut
//! ([`CounterResetHeader`]); its first sample writes the bucket layout (zero threshold,
//! schema, spans, custom bounds), later ones varbit delta-of-deltas (integer counts) or XORs
//! (float counts) of every field.

#![warn(missing_docs)]

mod bstream;
mod error;
mod float_histogram;
mod histogram;
mod histogram_meta;
mod varbit;
mod xor;

pub use error::{Error, Result};
pub use float_histogram::{FloatHistogramChunk, FloatHistogramIterator};
pub use histogram::{HistogramAppend, HistogramChunk, HistogramIterator};
pub use histogram_meta::CounterResetHeader;
pub use xor::{XorAppender, XorChunk, XorIterator};

use model::ValueType;
use model::{FloatHistogram, Histogram};

/// How many samples Prometheus aims to put in one float chunk before cutting a new one.
pub const SAMPLES_PER_CHUNK: usize = 120;

/// The encoding byte stored before every chunk on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// No encoding (never valid on disk).
    None,
    /// Prometheus's XOR float chunk.
    Xor,
    /// Native histogram chunk (integer counts).
    Histogram,
    /// Native float histogram chunk.
    FloatHistogram,
}

impl Encoding {
    /// The byte this encoding is stored as.
    pub fn as_u8(self) -> u8 {
        match self {
            Encoding::None => 0,
            Encoding::Xor => 1,
            Encoding::Histogram => 2,
            Encoding::FloatHistogram => 3,
        }
    }

    /// The encoding stored as `b`, or [`Error::UnknownEncoding`].
    pub fn from_u8(b: u8) -> Result<Encoding> {
        match b {
            0 => Ok(Encoding::None),
            1 => Ok(Encoding::Xor),
            2 => Ok(Encoding::Histogram),
            3 => Ok(Encoding::FloatHistogram),
            other => Err(Error::UnknownEncoding(other)),
        }
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Encoding::None => "none",
            Encoding::Xor => "XOR",
            Encoding::Histogram => "histogram",
            Encoding::FloatHistogram => "floathistogram",
        })
    }
}

/// Decodes a float chunk read from disk: `encoding` is the stored encoding byte, `data` the
/// chunk bytes. Only XOR chunks are float chunks; every other encoding gives an error (see
/// [`Chunk::from_data`] for any encoding).
pub fn chunk_from_data(encoding: u8, data: Vec<u8>) -> Result<XorChunk> {
    match Encoding::from_u8(encoding)? {
        Encoding::Xor => XorChunk::from_bytes(data),
        other => Err(Error::CorruptChunk(format!(
            "chunk encoding {other} ({}) is not a float chunk",
            other.as_u8()
        ))),
    }
}

/// A sample of any kind, as the head iterator holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A float sample.
    Float(f64),
    /// An integer native histogram.
    Histogram(Histogram),
    /// A float native histogram.
    FloatHistogram(FloatHistogram),
}

impl Value {
    /// The sample's kind.
    pub fn kind(&self) -> ValueType {
        match self {
            Value::Float(_) => ValueType::Float,
            Value::Histogram(_) => ValueType::Histogram,
            Value::FloatHistogram(_) => ValueType::FloatHistogram,
        }
    }
}

/// A chunk of any encoding.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    /// Float samples.
    Xor(XorChunk),
    /// Integer native histograms.
    Histogram(HistogramChunk),
    /// Float native histograms.
    FloatHistogram(FloatHistogramChunk),
}

impl Chunk {
    /// Decodes a chunk read from disk (encoding byte and chunk bytes).
    pub fn from_data(encoding: u8, data: Vec<u8>) -> Result<Chunk> {
        match Encoding::from_u8(encoding)? {
            Encoding::Xor => XorChunk::from_bytes(data).map(Chunk::Xor),
            Encoding::Histogram => HistogramChunk::from_bytes(data).map(Chunk::Histogram),
            Encoding::FloatHistogram => {
                FloatHistogramChunk::from_bytes(data).map(Chunk::FloatHistogram)
            }
            Encoding::None => Err(Error::CorruptChunk("chunk encoding none".into())),
        }
    }

    /// The chunk's encoding.
    pub fn encoding(&self) -> Encoding {
        match self {
            Chunk::Xor(_) => Encoding::Xor,
            Chunk::Histogram(_) => Encoding::Histogram,
            Chunk::FloatHistogram(_) => Encoding::FloatHistogram,
        }
    }

    /// The bytes Prometheus stores for the chunk.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Xor(c) => c.bytes(),
            Chunk::Histogram(c) => c.bytes(),
            Chunk::FloatHistogram(c) => c.bytes(),
        }
    }

    /// The number of samples in the chunk.
    pub fn num_samples(&self) -> usize {
        match self {
            Chunk::Xor(c) => c.num_samples(),
            Chunk::Histogram(c) => c.num_samples(),
            Chunk::FloatHistogram(c) => c.num_samples(),
        }
    }

    /// An iterator over the chunk's samples.
    pub fn iter(&self) -> ChunkIterator<&[u8]> {
        ChunkIterator::new(self.encoding(), self.bytes())
    }
}

/// Reads every sample of a chunk iterator into `out`.
pub fn decode_all<B: AsRef<[u8]>>(
    mut it: ChunkIterator<B>,
    out: &mut Vec<(i64, Value)>,
) -> Result<()> {
    loop {
        match it.next() {
            ValueType::Float => {
                let (t, v) = it.at();
                out.push((t, Value::Float(v)));
            }
            ValueType::Histogram => {
                let (t, h) = it.at_histogram();
                out.push((t, Value::Histogram(h)));
            }
            ValueType::FloatHistogram => {
                let (t, h) = it.at_float_histogram();
                out.push((t, Value::FloatHistogram(h)));
            }
            _ => break,
        }
    }
    match it.err() {
        Some(e) => Err(Error::CorruptChunk(e.to_string())),
        None => Ok(()),
    }
}

/// An iterator over a chunk of any encoding, yielding `model::ValueType`s like a
/// storage `SampleIterator`.
#[derive(Debug)]
pub enum ChunkIterator<B> {
    /// Over a float chunk.
    Xor(XorIterator<B>),
    /// Over an integer histogram chunk.
    Histogram(HistogramIterator<B>),
    /// Over a float histogram chunk.
    FloatHistogram(FloatHistogramIterator<B>),
}

impl<B: AsRef<[u8]>> ChunkIterator<B> {
    /// An iterator over chunk bytes of the given encoding (`Encoding::None` iterates as an
    /// XOR chunk, which then reports corruption).
    pub fn new(encoding: Encoding, data: B) -> ChunkIterator<B> {
        match encoding {
            Encoding::Histogram => ChunkIterator::Histogram(HistogramIterator::new(data)),
            Encoding::FloatHistogram => {
                ChunkIterator::FloatHistogram(FloatHistogramIterator::new(data))
            }
            _ => ChunkIterator::Xor(XorIterator::new(data)),
        }
    }

    fn kind(&self, ok: bool) -> ValueType {
        match (ok, self) {
            (false, _) => ValueType::None,
            (true, ChunkIterator::Xor(_)) => ValueType::Float,
            (true, ChunkIterator::Histogram(_)) => ValueType::Histogram,
            (true, ChunkIterator::FloatHistogram(_)) => ValueType::FloatHistogram,
        }
    }

    /// Advances to the next sample.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> ValueType {
        let ok = match self {
            ChunkIterator::Xor(it) => it.next(),
            ChunkIterator::Histogram(it) => it.next(),
            ChunkIterator::FloatHistogram(it) => it.next(),
        };
        self.kind(ok)
    }

    /// Advances to the first sample at or after `t`.
    pub fn seek(&mut self, t: i64) -> ValueType {
        let ok = match self {
            ChunkIterator::Xor(it) => it.seek(t),
            ChunkIterator::Histogram(it) => it.seek(t),
            ChunkIterator::FloatHistogram(it) => it.seek(t),
        };
        self.kind(ok)
    }

    /// The current sample's time.
    pub fn at_t(&self) -> i64 {
        match self {
            ChunkIterator::Xor(it) => it.at_t(),
            ChunkIterator::Histogram(it) => it.at_t(),
            ChunkIterator::FloatHistogram(it) => it.at_t(),
        }
    }

    /// The current float sample (`(t, 0.0)` on histogram chunks).
    pub fn at(&self) -> (i64, f64) {
        match self {
            ChunkIterator::Xor(it) => it.at(),
            _ => (self.at_t(), 0.0),
        }
    }

    /// The current integer histogram (empty on other chunks).
    pub fn at_histogram(&self) -> (i64, Histogram) {
        match self {
            ChunkIterator::Histogram(it) => it.at_histogram(),
            _ => (self.at_t(), Histogram::default()),
        }
    }

    /// The current histogram as a float histogram (converting integer ones).
    pub fn at_float_histogram(&self) -> (i64, FloatHistogram) {
        match self {
            ChunkIterator::Histogram(it) => it.at_float_histogram(),
            ChunkIterator::FloatHistogram(it) => it.at_float_histogram(),
            ChunkIterator::Xor(it) => (it.at_t(), FloatHistogram::default()),
        }
    }

    /// The first error met, if any.
    pub fn err(&self) -> Option<&Error> {
        match self {
            ChunkIterator::Xor(it) => it.err(),
            ChunkIterator::Histogram(it) => it.err(),
            ChunkIterator::FloatHistogram(it) => it.err(),
        }
    }
}

/// Where Prometheus's head ends a chunk early so that the remaining chunks up to `max` come
/// out equally sized, given that the chunk started at `start` and reached `cur` after
/// `1/ratio_to_full` of its target sample count (Go's `computeChunkEndTime`; the head calls
/// it with ratio 4 once a float chunk holds `SAMPLES_PER_CHUNK / 4` samples).
pub fn compute_chunk_end_time(start: i64, cur: i64, max: i64, ratio_to_full: f64) -> i64 {
    let n = (max - start) as f64 / ((cur - start + 1) as f64 * ratio_to_full);
    if n <= 1.0 {
        return max;
    }
    (start as f64 + (max - start) as f64 / n.floor()) as i64
}

/// The end of the `width`-aligned range holding `t` (Go's `rangeForTimestamp`): the latest
/// time a head chunk started at `t` may reach.
pub fn range_for_timestamp(t: i64, width: i64) -> i64 {
    (t / width) * width + width
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_encodings_are_errors() {
        assert!(matches!(
            Encoding::from_u8(9),
            Err(Error::UnknownEncoding(9))
        ));
        assert!(chunk_from_data(2, vec![0, 0]).is_err());
        assert!(chunk_from_data(200, vec![0, 0]).is_err());
        assert!(chunk_from_data(1, vec![0, 0]).is_ok());
    }

    #[test]
    fn chunk_end_time_spreads_remaining_range() {
        // 30 samples at 15 s span 435 s of a 2 h range: the chunk ends early.
        let end = compute_chunk_end_time(0, 435_000, 7_200_000, 4.0);
        assert_eq!(end, 1_800_000);
        assert_eq!(
            compute_chunk_end_time(0, 7_000_000, 7_200_000, 4.0),
            7_200_000
        );
        assert_eq!(range_for_timestamp(7_199_999, 7_200_000), 7_200_000);
        assert_eq!(range_for_timestamp(7_200_000, 7_200_000), 14_400_000);
    }
}
