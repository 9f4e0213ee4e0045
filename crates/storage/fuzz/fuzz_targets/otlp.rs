//! Fuzz target: any body posted to the OTLP receiver, as protobuf, JSON or gzip (chosen by
//! the first byte), must decode to an error or a request that translates and appends
//! without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storage::remote::otlp::{
    DeltaTemporality, DeltaToCumulative, OtlpOptions, TranslationStrategy, append_otlp_request,
    append_otlp_request_cumulative, decode_otlp_request,
};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let content_type = if mode & 1 == 0 {
        "application/x-protobuf"
    } else {
        "application/json"
    };
    let encoding = (mode & 2 != 0).then_some("gzip");
    let Ok((req, _)) = decode_otlp_request(body, Some(content_type), encoding) else {
        return;
    };
    let opts = OtlpOptions {
        translation_strategy: match mode >> 2 & 3 {
            0 => TranslationStrategy::UnderscoreEscapingWithSuffixes,
            1 => TranslationStrategy::UnderscoreEscapingWithoutSuffixes,
            2 => TranslationStrategy::NoUTF8EscapingWithSuffixes,
            _ => TranslationStrategy::NoTranslation,
        },
        promote_all_resource_attributes: mode & 16 != 0,
        promote_scope_metadata: mode & 32 != 0,
        label_name_preserve_multiple_underscores: mode & 64 != 0,
        // The feature flags: start timestamps, type and unit labels, deltas as they are.
        ingest_ct_zero_sample: mode & 128 != 0,
        type_and_unit_labels: mode & 128 != 0,
        delta: if mode & 128 != 0 {
            DeltaTemporality::Ingest
        } else {
            DeltaTemporality::Refuse
        },
        ..OtlpOptions::default()
    };
    let db = storage::MemStorage::new();
    let _ = append_otlp_request(&req, &opts, &db);
    // Deltas made cumulative, twice so that totals accumulate and merge.
    let d2c = DeltaToCumulative::default();
    let cumulative = OtlpOptions {
        delta: DeltaTemporality::Refuse,
        ..opts
    };
    for _ in 0..2 {
        let _ = append_otlp_request_cumulative(&req, &cumulative, &db, &d2c);
    }
});
