//! Benchmarks live in `benches/` and `src/bin/`; this library holds what they
//! share: the packet-level emulated link of `netbench`, codecbench's
//! decoding reference (an IVF file, ffmpeg + libdav1d timed on it), and the
//! real programs run as processes (`programs`), the NAT lab of network
//! namespaces (`natlab`) and the path matrix run through it (`path_matrix`).
#![forbid(unsafe_code)]

pub mod decode_reference;
pub mod natlab;
pub mod packet_link;
pub mod path_matrix;
pub mod programs;
pub mod turn_pair;
