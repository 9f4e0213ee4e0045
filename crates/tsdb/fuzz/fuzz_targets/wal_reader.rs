//! Fuzzes the WAL reader and the record decoders with arbitrary segment bytes: they must
//! report damage as errors, never panic or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb::record::{self, RecordType};
use tsdb::wlog::reader::read_all;

fuzz_target!(|data: &[u8]| {
    let (records, _err) = read_all(data);
    for rec in records {
        match RecordType::of(&rec) {
            RecordType::Series => {
                let _ = record::decode_series(&rec, &mut Vec::new());
            }
            RecordType::Samples | RecordType::SamplesV2 => {
                let _ = record::decode_samples(&rec, &mut Vec::new());
            }
            RecordType::Tombstones => {
                let _ = record::decode_tombstones(&rec, &mut Vec::new());
            }
            RecordType::MmapMarkers => {
                let _ = record::decode_mmap_markers(&rec, &mut Vec::new());
            }
            RecordType::Exemplars => {
                let _ = record::decode_exemplars(&rec, &mut Vec::new());
            }
            RecordType::Metadata => {
                let _ = record::decode_metadata(&rec, &mut Vec::new());
            }
            _ => {}
        }
    }
});
