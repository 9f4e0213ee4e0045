//! Chunk encodings; Prometheus's XOR (Gorilla) float chunk.
