//! Benchmarks live in `benches/` and `src/bin/`; this library holds what they
//! share: the packet-level emulated link of `netbench`.
#![forbid(unsafe_code)]

pub mod packet_link;
