//! Decodes a file of `u16 BE length | temporal unit` records (the
//! `av1_decoder` fuzz target's input format) and prints what happened to
//! each unit: for replaying a fuzzer finding outside the fuzzer.
//!
//! `cargo run -p secours-codec --example decode_records -- FILE`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: decode_records FILE")?;
    let data = std::fs::read(path)?;
    let mut decoder = secours_codec::Decoder::new(1)?;
    let mut rest = &data[..];
    let mut pts = 0;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let unit = &rest[2..2 + len];
        rest = &rest[2 + len..];
        match decoder.decode(unit.to_vec(), pts) {
            Ok(f) => println!("unit {pts}: {len} bytes, {} picture(s)", f.len()),
            Err(e) => println!("unit {pts}: {len} bytes, {e}"),
        }
        pts += 1;
    }
    Ok(())
}
