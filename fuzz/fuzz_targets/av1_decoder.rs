//! The console's video decoder input: AV1 temporal units straight from the
//! network, through dav1d and the recorder's OBU walker. Any outcome but a
//! crash, a hang or unbounded memory is fine.
//!
//! Input: a sequence of `u16 BE length | temporal unit` records (the seeds
//! are real keyframes and inter frames), so a run can build references and
//! then break them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secours_codec::{Decoder, obu};

fuzz_target!(|data: &[u8]| {
    let Ok(mut decoder) = Decoder::new(1) else {
        return;
    };
    let mut rest = data;
    let mut pts = 0;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let unit = &rest[2..2 + len];
        rest = &rest[2 + len..];
        if let Ok(obus) = obu::parse_obus(unit) {
            for o in obus {
                if o.kind == obu::OBU_SEQUENCE_HEADER {
                    let _ = obu::av1c(&o);
                }
            }
        }
        let _ = obu::strip_temporal_delimiters(unit);
        if let Ok(frames) = decoder.decode(unit.to_vec(), pts) {
            for f in frames {
                assert_eq!(f.frame.y.len(), f.frame.width() as usize * f.frame.height() as usize);
            }
        }
        pts += 1;
    }
});
