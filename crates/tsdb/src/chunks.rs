//! Chunk segment files (`chunks/000001`, ...) of a persistent block: reading and writing.
