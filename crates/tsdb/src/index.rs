//! The index file of a block (formats v1 and v2): reading and writing.
