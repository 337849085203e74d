//! Shared helpers of the transport tests.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use secours_protocol::pb;
use secours_protocol::wire::{self, Channel, Decoded, FrameReader, Message};
use secours_transport::{Link, LinkEvent};

/// A chat frame carrying `n`, for ordering checks.
pub fn chat(n: u64) -> Bytes {
    wire::encode_to_bytes(Message::ChatMessage(pb::ChatMessage {
        id: n,
        text: format!("m{n}"),
        sent_unix_ms: 0,
    }))
    .unwrap()
}

/// One frame of every channel.
pub fn one_of_each() -> Vec<(Channel, Bytes)> {
    let msgs = vec![
        Message::Ping(pb::Ping { id: 7 }),
        Message::PointerMove(pb::PointerMove { x: 1, y: 2 }),
        Message::VideoFrame(pb::VideoFrame {
            frame_number: 1,
            payload: vec![0xAB; 100_000].into(),
            ..Default::default()
        }),
        Message::ClipboardUpdate(pb::ClipboardUpdate {
            seq: 1,
            origin: pb::Role::Console as i32,
            content: Some(pb::clipboard_update::Content::Text("copied".into())),
        }),
        Message::FileChunk(pb::FileChunk {
            id: 1,
            offset: 0,
            data: vec![7; 300_000].into(),
        }),
        Message::ChatMessage(pb::ChatMessage {
            id: 1,
            text: "SECRET-PLAINTEXT-MARKER".into(),
            sent_unix_ms: 0,
        }),
    ];
    msgs.into_iter()
        .map(|m| (Channel::of(&m), wire::encode_to_bytes(m).unwrap()))
        .collect()
}

/// Reads messages from a link until `want` decoded messages arrived.
pub async fn receive(link: &mut Link, want: usize) -> Vec<Message> {
    let mut readers: Vec<FrameReader> = Channel::ALL.iter().map(|c| FrameReader::new(*c)).collect();
    let mut got = Vec::new();
    while got.len() < want {
        let ev = tokio::time::timeout(Duration::from_secs(20), link.recv())
            .await
            .expect("link delivers in time");
        match ev {
            Some(LinkEvent::Data { channel, data }) => {
                let r = readers.iter_mut().find(|r| r.channel() == channel).unwrap();
                r.push(&data);
                while let Some(Decoded::Message(m)) = r.next_frame().expect("valid frames") {
                    got.push(m);
                }
            }
            Some(LinkEvent::VideoDropped { .. }) => {}
            other => panic!("link ended early: {other:?}"),
        }
    }
    got
}
