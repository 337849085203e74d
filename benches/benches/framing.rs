//! Framing throughput: a 256 KiB video-frame message and a batch of small
//! input messages, encoded and decoded, each beside `memcpy` of the same bytes
//! measured in the same run (the reference: framing cannot beat a copy on
//! encode; decode of a video frame should not copy at all).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use secours_protocol::pb;
use secours_protocol::wire::{self, Channel, Decoded, Message};

const FRAME: usize = 256 * 1024;
const BATCH: usize = 1000;

fn video_message(payload: &Bytes) -> Message {
    Message::VideoFrame(pb::VideoFrame {
        frame_number: 123_456,
        capture_time_us: 987_654_321,
        keyframe: false,
        width: 1920,
        height: 1080,
        codec: pb::VideoCodec::Av1 as i32,
        payload: payload.clone(),
    })
}

fn input_batch() -> Vec<Message> {
    (0..BATCH as i32)
        .map(|i| match i % 4 {
            0 => Message::PointerMove(pb::PointerMove {
                x: 100 + i,
                y: 200 + i / 2,
            }),
            1 => Message::PointerButton(pb::PointerButton {
                button: 1,
                pressed: i % 8 == 1,
                x: i,
                y: i,
            }),
            2 => Message::Key(pb::Key {
                keysym: 0x61 + (i as u32 % 26),
                scancode: 4,
                pressed: true,
                modifiers: 0,
            }),
            _ => Message::PointerWheel(pb::PointerWheel { dx: 0, dy: -120 }),
        })
        .collect()
}

fn video(c: &mut Criterion) {
    let payload = Bytes::from((0..FRAME).map(|i| (i * 31) as u8).collect::<Vec<u8>>());
    let frame = wire::encode_to_bytes(video_message(&payload)).expect("encodes");
    let mut g = c.benchmark_group("video_frame_256KiB");
    g.throughput(Throughput::Bytes(frame.len() as u64));
    let mut dst = vec![0u8; frame.len()];
    g.bench_function("memcpy (reference)", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&frame));
            black_box(&dst);
        })
    });
    let mut out = BytesMut::with_capacity(frame.len() * 2);
    g.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            wire::encode(video_message(black_box(&payload)), &mut out).expect("encodes");
            black_box(&out);
        })
    });
    g.bench_function("decode (zero-copy payload)", |b| {
        b.iter_batched_ref(
            || BytesMut::from(&frame[..]),
            |buf| {
                let Ok(Some(Decoded::Message(Message::VideoFrame(v)))) =
                    wire::decode(Channel::Video, buf)
                else {
                    panic!("decodes")
                };
                black_box(v.payload.len())
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn input(c: &mut Criterion) {
    let batch = input_batch();
    let mut encoded = BytesMut::new();
    for m in &batch {
        wire::encode(m.clone(), &mut encoded).expect("encodes");
    }
    let encoded = encoded.freeze();
    let mut g = c.benchmark_group("input_batch_1000");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut dst = vec![0u8; encoded.len()];
    g.bench_function("memcpy (reference)", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&encoded));
            black_box(&dst);
        })
    });
    let mut out = BytesMut::with_capacity(encoded.len() * 2);
    g.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            for m in &batch {
                wire::encode(black_box(m.clone()), &mut out).expect("encodes");
            }
            black_box(&out);
        })
    });
    g.bench_function("decode", |b| {
        b.iter_batched_ref(
            || BytesMut::from(&encoded[..]),
            |buf| {
                let mut n = 0;
                while let Ok(Some(_)) = wire::decode(Channel::Input, buf) {
                    n += 1;
                }
                assert_eq!(n, BATCH);
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    println!(
        "input batch: {BATCH} messages, {} bytes framed ({:.1} bytes each)",
        encoded.len(),
        encoded.len() as f64 / BATCH as f64
    );
}

criterion_group!(benches, video, input);
criterion_main!(benches);
