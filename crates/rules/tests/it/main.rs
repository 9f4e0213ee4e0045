//! rules end to end: upstream rule files (rulefmt good and bad, rule-manager fixtures) and
//! groups evaluated with the PromQL engine over `storage::MemStorage` at explicit
//! timestamps (no sleeping).

mod eval;
mod rulefmt_data;
