//! The tombstones file of a block: deleted time ranges per series.
