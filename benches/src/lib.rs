//! Benchmarks live in `benches/` and `src/bin/`; this library holds what they
//! share: the packet-level emulated link of `netbench`, codecbench's
//! decoding reference (an IVF file, ffmpeg + libdav1d timed on it), and the
//! real programs run as processes (`programs`).
#![forbid(unsafe_code)]

pub mod decode_reference;
pub mod packet_link;
pub mod programs;
