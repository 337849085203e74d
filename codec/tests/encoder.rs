//! Both encoders against the decoder: keyframes on request, run-time
//! bitrate, and what a corrupted payload does to the decoder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use secours_codec::convert::{to_bgra, to_i420};
use secours_codec::selftest::scrolling_text;
use secours_codec::{Backend, Decoder, EncoderSettings, I420Frame, Packet, new_encoder};

const FRAME_US: u64 = 33_333;

fn clip(size: (u32, u32), n: u32) -> Vec<I420Frame> {
    (0..n)
        .map(|i| to_i420(&scrolling_text(size, i).unwrap()).unwrap())
        .collect()
}

fn settings(size: (u32, u32), kbps: u32) -> EncoderSettings {
    let mut s = EncoderSettings::new(size.0, size.1);
    s.bitrate_kbps = kbps;
    s.threads = 2;
    s
}

#[test]
fn keyframe_request_is_honoured_on_the_next_frame() {
    let size = (320, 240);
    let frames = clip(size, 12);
    for backend in Backend::ALL {
        let mut enc = new_encoder(backend, settings(size, 1_000)).unwrap();
        let mut packets: Vec<Packet> = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            packets.extend(
                enc.encode(f, i as u64 * FRAME_US, i == 0 || i == 7)
                    .unwrap(),
            );
        }
        packets.extend(enc.flush().unwrap());
        assert_eq!(packets.len(), frames.len(), "{backend}");
        let keys: Vec<u64> = packets
            .iter()
            .filter(|p| p.keyframe)
            .map(|p| p.pts_us / FRAME_US)
            .collect();
        assert_eq!(keys, vec![0, 7], "{backend}: keyframes exactly where asked");
        // And the requested keyframe decodes alone, on a fresh decoder.
        let key = packets.iter().find(|p| p.pts_us == 7 * FRAME_US).unwrap();
        let mut dec = Decoder::new(1).unwrap();
        assert_eq!(
            dec.decode(key.data.clone(), key.pts_us).unwrap().len(),
            1,
            "{backend}"
        );
    }
}

#[test]
fn bitrate_change_takes_effect_within_a_few_frames() {
    let size = (640, 360);
    let frames = clip(size, 48);
    // 1.5 Mbit/s, down to 150 kbit/s at frame 16, back up at frame 32.
    let rate_at = |i: usize| if (16..32).contains(&i) { 150 } else { 1_500 };
    for backend in Backend::ALL {
        let mut enc = new_encoder(backend, settings(size, rate_at(0))).unwrap();
        let mut bytes_at: Vec<(u64, usize)> = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            if rate_at(i) != enc.bitrate_kbps() {
                enc.set_bitrate(rate_at(i)).unwrap();
                assert_eq!(enc.bitrate_kbps(), rate_at(i));
            }
            for p in enc.encode(f, i as u64 * FRAME_US, i == 0).unwrap() {
                // libaom changes rate in place; rav1e starts a new sequence.
                let n = p.pts_us / FRAME_US;
                let key_expected = n == 0 || (backend == Backend::Rav1e && (n == 16 || n == 32));
                assert_eq!(p.keyframe, key_expected, "{backend}: frame {n}");
                bytes_at.push((p.pts_us / FRAME_US, p.data.len()));
            }
        }
        for p in enc.flush().unwrap() {
            bytes_at.push((p.pts_us / FRAME_US, p.data.len()));
        }
        let mean = |from: u64, to: u64| {
            let v: Vec<usize> = bytes_at
                .iter()
                .filter(|(i, _)| (from..to).contains(i))
                .map(|&(_, b)| b)
                .collect();
            v.iter().sum::<usize>() as f64 / v.len().max(1) as f64
        };
        // "Within a few frames": judged from the 4th frame after each change.
        let (high, low, again) = (mean(6, 16), mean(20, 32), mean(36, 48));
        println!(
            "{backend}: bytes/frame {high:.0} at 1.5 Mbit/s, {low:.0} at 150 kbit/s, {again:.0} back at 1.5"
        );
        // The first phase follows the first keyframe, which spent the
        // buffer; the third is the fair comparison for going down.
        assert!(
            low < again * 0.5,
            "{backend}: {low:.0} at 150 kbit/s vs {again:.0}"
        );
        assert!(again > low * 2.0, "{backend}: up {low:.0} -> {again:.0}");
        // 150 kbit/s at 30 fps is 625 bytes a frame.
        assert!(
            low < 625.0 * 1.6,
            "{backend}: {low:.0} bytes/frame at 150 kbit/s"
        );
    }
}

#[test]
fn corrupted_payloads_are_errors_not_crashes() {
    let size = (320, 240);
    let frames = clip(size, 3);
    let mut enc = new_encoder(Backend::Aom, settings(size, 1_000)).unwrap();
    let key = enc.encode(&frames[0], 0, true).unwrap().remove(0);
    let inter = enc.encode(&frames[1], FRAME_US, false).unwrap().remove(0);

    let mut dec = Decoder::new(1).unwrap();
    assert!(dec.decode(Vec::new(), 0).is_err(), "empty");
    assert!(dec.decode(vec![0xff; 64], 0).is_err(), "garbage");
    assert!(
        dec.decode(vec![0u8; 9 << 20], 0).is_err(),
        "over the size bound"
    );
    let truncated = key.data[..key.data.len() / 2].to_vec();
    assert!(dec.decode(truncated, 0).is_err(), "truncated keyframe");

    // Bit flips: any outcome but a panic; then a clean keyframe recovers.
    for i in (0..key.data.len()).step_by(7) {
        let mut bad = key.data.clone();
        bad[i] ^= 0x5a;
        let _ = dec.decode(bad, 0);
    }
    let mut dec = Decoder::new(1).unwrap();
    // An inter frame with no reference: an error or a grey picture, no panic.
    let _ = dec.decode(inter.data.clone(), 1);
    dec.reset();
    assert_eq!(
        dec.decode(key.data.clone(), 0).unwrap().len(),
        1,
        "a keyframe recovers"
    );
    assert_eq!(dec.decode(inter.data, 1).unwrap().len(), 1);
}

#[test]
fn every_frame_of_a_long_clip_decodes() {
    let size = (320, 240);
    let frames = clip(size, 30);
    for backend in Backend::ALL {
        let mut enc = new_encoder(backend, settings(size, 2_000)).unwrap();
        let mut dec = Decoder::new(2).unwrap();
        let mut packets = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            packets.extend(enc.encode(f, i as u64 * FRAME_US, i == 0).unwrap());
        }
        packets.extend(enc.flush().unwrap());
        let mut decoded = 0;
        for p in &packets {
            match dec.decode(p.data.clone(), p.pts_us) {
                Ok(pics) => decoded += pics.len(),
                Err(e) => panic!("{backend}: frame {}: {e}", p.pts_us / FRAME_US),
            }
        }
        assert_eq!(decoded, frames.len(), "{backend}");
    }
}

#[test]
fn pictures_without_copies_match_the_copied_frames() {
    // Odd sides: the chroma planes round up, dav1d's strides pad.
    let size = (321, 241);
    let frames = clip(size, 4);
    let mut enc = new_encoder(Backend::Aom, settings(size, 1_000)).unwrap();
    let mut packets = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        packets.extend(enc.encode(f, i as u64 * FRAME_US, i == 0).unwrap());
    }
    packets.extend(enc.flush().unwrap());
    let (mut copies, mut shared) = (Decoder::new(1).unwrap(), Decoder::new(2).unwrap());
    for p in &packets {
        let copied = copies.decode(p.data.clone(), p.pts_us).unwrap();
        let pictures = shared.decode_pictures(p.data.clone(), p.pts_us).unwrap();
        assert_eq!((copied.len(), pictures.len()), (1, 1));
        let (frame, picture) = (&copied[0].frame, &pictures[0]);
        assert_eq!(picture.pts_us(), p.pts_us);
        assert_eq!((picture.width(), picture.height()), size);
        assert!(picture.y().stride >= 321 && picture.u().width == 161);
        assert_eq!(&picture.to_i420().unwrap(), frame);
        for y in 0..241 {
            assert_eq!(picture.y().row(y), &frame.y[y * 321..(y + 1) * 321]);
        }
        assert_eq!(picture.to_bgra().unwrap(), to_bgra(frame).unwrap());
    }
    // A picture outlives its decoder and moves to another thread.
    let last = shared.decode_pictures(packets[0].data.clone(), 0).unwrap();
    drop(shared);
    let size = std::thread::spawn(move || (last[0].width(), last[0].height()))
        .join()
        .unwrap();
    assert_eq!(size, (321, 241));
}
