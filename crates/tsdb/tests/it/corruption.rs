//! Damaged block files give clear errors naming the file, never panics.

use std::sync::Arc;

use model::{MatchType, Matcher};
use storage::{Querier, ValueType};
use tsdb::block::{Block, block_dirs};
use tsdb::querier::BlockQuerier;

use super::copy_dir;

fn fixture() -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    let dir = test_support::testdata_dir("prom-2.42/blocks")?;
    let src = block_dirs(&dir).unwrap()[1].clone();
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join(src.file_name().unwrap());
    copy_dir(&src, &dest);
    Some((tmp, dest))
}

/// Opens and reads the whole block, returning the first error.
fn read_all(dir: &std::path::Path) -> Result<usize, String> {
    let block = Block::open(dir).map_err(|e| format!("{e}"))?;
    let q = BlockQuerier::new(Arc::new(block), i64::MIN, i64::MAX);
    let ms = [Matcher::new(MatchType::RegexMatch, "__name__", ".+").unwrap()];
    let mut set = q.select(true, None, &ms);
    let mut n = 0;
    while let Some(s) = set.next() {
        let s = s.map_err(|e| format!("{e}"))?;
        let mut it = s.iterator();
        while it.next() == ValueType::Float {
            n += 1;
        }
        if let Some(e) = it.err() {
            return Err(format!("{e}"));
        }
    }
    Ok(n)
}

#[test]
fn truncated_chunk_segment_names_the_file() {
    let Some((_tmp, dir)) = fixture() else { return };
    let seg = dir.join("chunks/000001");
    let bytes = std::fs::read(&seg).unwrap();
    std::fs::write(&seg, &bytes[..bytes.len() / 2]).unwrap();
    let err = read_all(&dir).unwrap_err();
    assert!(err.contains("000001") && err.contains("offset"), "{err}");
}

#[test]
fn bit_flipped_chunk_fails_its_checksum() {
    let Some((_tmp, dir)) = fixture() else { return };
    let seg = dir.join("chunks/000001");
    let mut bytes = std::fs::read(&seg).unwrap();
    let n = bytes.len();
    bytes[n / 3] ^= 0x20;
    std::fs::write(&seg, &bytes).unwrap();
    let err = read_all(&dir).unwrap_err();
    assert!(err.contains("000001"), "{err}");
}

#[test]
fn damaged_index_names_the_file() {
    let Some((_tmp, dir)) = fixture() else { return };
    let idx = dir.join("index");
    let orig = std::fs::read(&idx).unwrap();
    std::fs::write(&idx, &orig[..orig.len() - 10]).unwrap();
    let err = read_all(&dir).unwrap_err();
    assert!(err.contains("index") && err.contains("TOC"), "{err}");
    // Flip every byte in turn: each either still reads or fails cleanly.
    let mut failures = 0;
    for pos in 0..orig.len() {
        let mut b = orig.clone();
        b[pos] ^= 0x01;
        std::fs::write(&idx, &b).unwrap();
        if let Err(e) = read_all(&dir) {
            assert!(e.contains("index") || e.contains("chunk"), "{e}");
            failures += 1;
        }
    }
    assert!(failures > orig.len() / 2, "{failures} of {}", orig.len());
}

#[test]
fn broken_meta_json_and_tombstones_name_the_file() {
    let Some((_tmp, dir)) = fixture() else { return };
    let meta = dir.join("meta.json");
    let orig = std::fs::read(&meta).unwrap();
    std::fs::write(&meta, &orig[..orig.len() / 2]).unwrap();
    let err = read_all(&dir).unwrap_err();
    assert!(err.contains("meta.json"), "{err}");
    std::fs::write(&meta, &orig).unwrap();
    std::fs::write(
        dir.join("tombstones"),
        [0x01, 0x30, 0xBA, 0x30, 1, 0, 0, 0, 9],
    )
    .unwrap();
    let err = read_all(&dir).unwrap_err();
    assert!(
        err.contains("tombstones") && err.contains("checksum"),
        "{err}"
    );
}

#[test]
fn malformed_chunk_with_valid_checksum_names_segment_and_offset() {
    let Some((_tmp, dir)) = fixture() else { return };
    let seg = dir.join("chunks/000001");
    let mut bytes = std::fs::read(&seg).unwrap();
    // The first chunk: uvarint length, encoding byte, data, CRC. Claim far more samples than
    // the data holds, and fix the CRC so that only the decoder can notice.
    let (mut len, mut shift, mut off) = (0usize, 0, 8);
    loop {
        let b = bytes[off];
        off += 1;
        len |= usize::from(b & 0x7f) << shift;
        shift += 7;
        if b < 0x80 {
            break;
        }
    }
    let (enc_at, end) = (off, off + 1 + len);
    bytes[enc_at + 1] = 0xff;
    bytes[enc_at + 2] = 0xff;
    let crc = crc32c::crc32c(&bytes[enc_at..end]);
    bytes[end..end + 4].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(&seg, &bytes).unwrap();
    let err = read_all(&dir).unwrap_err();
    assert!(
        err.contains("000001") && err.contains("offset 8") && err.contains("XOR chunk"),
        "{err}"
    );
}
