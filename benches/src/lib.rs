//! Benchmarks live in `benches/`; this library only exists so Cargo has a target.
#![forbid(unsafe_code)]
