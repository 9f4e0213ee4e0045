//! Persistent blocks: a directory holding meta.json, index, chunk segments and tombstones.
