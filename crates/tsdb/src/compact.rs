//! Writing blocks and leveled compaction of blocks.
