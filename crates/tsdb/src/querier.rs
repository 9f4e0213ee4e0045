//! Querying persistent blocks: postings for matchers, series sets, label names and values.
