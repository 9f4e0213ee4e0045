//! Fuzz target: loading any bytes as a configuration must return, never panic; whatever
//! loads must print to YAML that loads again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(cfg) = config::Config::load_str(s, "")
    {
        let printed = cfg.to_yaml();
        assert!(config::Config::load_str(&printed, "").is_ok(), "printed config does not reload:\n{printed}");
    }
});
