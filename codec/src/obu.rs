//! Just enough of the AV1 low-overhead bitstream format for the recorder:
//! walk a temporal unit's OBUs, drop temporal delimiters (Matroska wants
//! them out), find the sequence header and build the `av1C` record
//! (CodecPrivate) from it. Input is untrusted: every length is checked.

use crate::error::CodecError;

pub const OBU_SEQUENCE_HEADER: u8 = 1;
pub const OBU_TEMPORAL_DELIMITER: u8 = 2;

/// One OBU inside a temporal unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Obu<'a> {
    pub kind: u8,
    /// The whole OBU: header, size field, payload.
    pub raw: &'a [u8],
    /// The payload alone.
    pub payload: &'a [u8],
}

fn leb128(data: &[u8]) -> Result<(u64, usize), CodecError> {
    let mut value = 0u64;
    for (i, &b) in data.iter().take(8).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err(CodecError::Malformed("bad leb128 size"))
}

/// Splits a temporal unit into its OBUs.
pub fn parse_obus(mut data: &[u8]) -> Result<Vec<Obu<'_>>, CodecError> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let header = data[0];
        if header & 0x80 != 0 {
            return Err(CodecError::Malformed("OBU forbidden bit set"));
        }
        let kind = (header >> 3) & 0x0f;
        let has_extension = header & 0x04 != 0;
        let has_size = header & 0x02 != 0;
        let mut pos = 1 + usize::from(has_extension);
        if data.len() < pos {
            return Err(CodecError::Malformed("truncated OBU header"));
        }
        let size = if has_size {
            let (size, n) = leb128(&data[pos..])?;
            pos += n;
            usize::try_from(size).map_err(|_| CodecError::Malformed("OBU size overflows"))?
        } else {
            data.len() - pos
        };
        let end = pos
            .checked_add(size)
            .filter(|&e| e <= data.len())
            .ok_or(CodecError::Malformed("OBU longer than its temporal unit"))?;
        out.push(Obu {
            kind,
            raw: &data[..end],
            payload: &data[pos..end],
        });
        data = &data[end..];
    }
    Ok(out)
}

/// The temporal unit without its temporal delimiter(s).
pub fn strip_temporal_delimiters(data: &[u8]) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(data.len());
    for obu in parse_obus(data)? {
        if obu.kind != OBU_TEMPORAL_DELIMITER {
            out.extend_from_slice(obu.raw);
        }
    }
    Ok(out)
}

/// The sequence header OBU of a temporal unit (keyframes carry one).
pub fn sequence_header(data: &[u8]) -> Result<Option<Obu<'_>>, CodecError> {
    Ok(parse_obus(data)?
        .into_iter()
        .find(|o| o.kind == OBU_SEQUENCE_HEADER))
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: usize) -> Result<u32, CodecError> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self
                .data
                .get(self.pos / 8)
                .ok_or(CodecError::Malformed("sequence header too short"))?;
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Ok(v)
    }

    fn uvlc(&mut self) -> Result<u32, CodecError> {
        let mut zeros = 0;
        while self.read(1)? == 0 {
            zeros += 1;
            if zeros >= 32 {
                return Err(CodecError::Malformed("bad uvlc"));
            }
        }
        Ok(self.read(zeros)? + ((1u32 << zeros) - 1))
    }
}

/// Profile, level and tier of the first operating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceInfo {
    pub profile: u8,
    pub level: u8,
    pub tier: u8,
}

/// Reads the start of a sequence header payload (AV1 spec 5.5.1).
pub fn sequence_info(payload: &[u8]) -> Result<SequenceInfo, CodecError> {
    let mut b = Bits {
        data: payload,
        pos: 0,
    };
    let profile = b.read(3)? as u8;
    let _still_picture = b.read(1)?;
    if b.read(1)? == 1 {
        // reduced_still_picture_header
        let level = b.read(5)? as u8;
        return Ok(SequenceInfo {
            profile,
            level,
            tier: 0,
        });
    }
    let mut decoder_model_info = false;
    let mut buffer_delay_length = 0;
    if b.read(1)? == 1 {
        // timing_info
        b.read(32)?;
        b.read(32)?;
        if b.read(1)? == 1 {
            b.uvlc()?;
        }
        decoder_model_info = b.read(1)? == 1;
        if decoder_model_info {
            buffer_delay_length = b.read(5)? as usize + 1;
            b.read(32)?;
            b.read(5)?;
            b.read(5)?;
        }
    }
    let initial_display_delay = b.read(1)? == 1;
    let count = b.read(5)? + 1;
    let mut first = None;
    for _ in 0..count {
        b.read(12)?;
        let level = b.read(5)? as u8;
        let tier = if level > 7 { b.read(1)? as u8 } else { 0 };
        if decoder_model_info && b.read(1)? == 1 {
            b.read(buffer_delay_length)?;
            b.read(buffer_delay_length)?;
            b.read(1)?;
        }
        if initial_display_delay && b.read(1)? == 1 {
            b.read(4)?;
        }
        first.get_or_insert(SequenceInfo {
            profile,
            level,
            tier,
        });
    }
    first.ok_or(CodecError::Malformed("no operating point"))
}

/// The `av1C` record (ISO-BMFF and Matroska CodecPrivate) for 8-bit 4:2:0,
/// which is what both encoders are set up to produce, with the sequence
/// header OBU as its configOBUs.
pub fn av1c(sequence_header: &Obu<'_>) -> Result<Vec<u8>, CodecError> {
    let info = sequence_info(sequence_header.payload)?;
    let mut out = vec![
        0x81, // marker, version 1
        (info.profile << 5) | (info.level & 0x1f),
        // tier, high_bitdepth 0, twelve_bit 0, monochrome 0,
        // chroma_subsampling_x 1, _y 1, chroma_sample_position 0
        (info.tier << 7) | 0b0000_1100,
        0, // no initial presentation delay
    ];
    out.extend_from_slice(sequence_header.raw);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sized_obus_and_strips_delimiters() {
        // TD (type 2, sized, empty), then a padding OBU (type 15) of 3 bytes.
        let tu = [0x12, 0x00, 0x7a, 0x03, 1, 2, 3];
        let obus = parse_obus(&tu).unwrap();
        assert_eq!(obus.len(), 2);
        assert_eq!(obus[1].payload, &[1, 2, 3]);
        assert_eq!(
            strip_temporal_delimiters(&tu).unwrap(),
            vec![0x7a, 0x03, 1, 2, 3]
        );
    }

    #[test]
    fn refuses_lies() {
        assert!(parse_obus(&[0x7a, 0x09, 1]).is_err(), "size past the end");
        assert!(parse_obus(&[0xfa, 0x00]).is_err(), "forbidden bit");
        assert!(parse_obus(&[0x7a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(sequence_info(&[]).is_err());
    }
}
