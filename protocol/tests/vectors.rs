//! `spec/vectors/`: byte-exact frames that the spec publishes. Each is decoded
//! and compared with the message built here, and re-encoded to the same bytes.
//! `SECOURS_WRITE_VECTORS=1 cargo test --test vectors` rewrites the files after
//! a deliberate wire change (which must also bump the spec).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::fmt::Write as _;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use secours_protocol::pb::{self, clipboard_update::Content};
use secours_protocol::wire::{self, Channel, Decoded, Message};

fn b(v: &[u8]) -> Bytes {
    Bytes::copy_from_slice(v)
}

fn families() -> Vec<(&'static str, Vec<(&'static str, Message)>)> {
    use Message as M;
    let perms = pb::PermissionSet {
        granted: vec![1, 2, 3, 4, 5, 15],
        prompt: vec![2, 4],
        single_prompt: false,
        chat_mode: pb::ChatMode::On as i32,
    };
    vec![
        (
            "handshake",
            vec![
                (
                    "hello",
                    M::Hello(pb::Hello {
                        version_min: 1,
                        version_max: 1,
                        role: pb::Role::Console as i32,
                        fingerprint: b(&[0xC0; 32]),
                        nonce: b(&[0x01; 32]),
                        software: "secours/0.1.0".into(),
                    }),
                ),
                (
                    "auth",
                    M::Auth(pb::Auth {
                        session_id: "s-42".into(),
                        proof: b(&[0xAA; 32]),
                    }),
                ),
                (
                    "capabilities",
                    M::Capabilities(pb::Capabilities {
                        video_codecs: vec![pb::VideoCodec::Av1 as i32],
                        max_width: 3840,
                        max_height: 2160,
                        clipboard_text: true,
                        clipboard_image: true,
                        file_transfer: true,
                        file_manager: true,
                        system_info: true,
                        reboot: false,
                        max_file_window: 1_048_576,
                    }),
                ),
                ("permissions", M::Permissions(perms.clone())),
                ("ready", M::Ready(pb::Ready { version: 1 })),
                (
                    "error",
                    M::Error(pb::Error {
                        code: pb::ErrorCode::VersionMismatch as i32,
                        message: "protocol version mismatch: we speak v1, the peer speaks v2"
                            .into(),
                    }),
                ),
            ],
        ),
        (
            "consent",
            vec![
                (
                    "request",
                    M::ConsentRequest(pb::ConsentRequest {
                        id: 1,
                        actions: vec![pb::Permission::RemoteControl as i32],
                        detail: String::new(),
                    }),
                ),
                (
                    "answer",
                    M::ConsentAnswer(pb::ConsentAnswer {
                        id: 1,
                        allow: true,
                        reason: String::new(),
                    }),
                ),
                (
                    "revoke",
                    M::ConsentRevoke(pb::ConsentRevoke {
                        action: pb::Permission::RemoteControl as i32,
                    }),
                ),
            ],
        ),
        (
            "video",
            vec![
                (
                    "frame",
                    M::VideoFrame(pb::VideoFrame {
                        frame_number: 7,
                        capture_time_us: 1_000_000,
                        keyframe: true,
                        width: 1920,
                        height: 1080,
                        codec: pb::VideoCodec::Av1 as i32,
                        // A temporal delimiter OBU then a padding OBU.
                        payload: b(&[0x12, 0x00, 0x7A, 0x02, 0xFF, 0xFF]),
                    }),
                ),
                (
                    "keyframe_request",
                    M::KeyframeRequest(pb::KeyframeRequest { last_good_frame: 6 }),
                ),
                (
                    "cursor_shape",
                    M::CursorShape(pb::CursorShape {
                        id: 3,
                        width: 2,
                        height: 1,
                        hotspot_x: 0,
                        hotspot_y: 0,
                        rgba: b(&[0, 0, 0, 255, 255, 255, 255, 255]),
                    }),
                ),
                (
                    "cursor_position",
                    M::CursorPosition(pb::CursorPosition {
                        shape_id: 3,
                        x: 640,
                        y: -2,
                        visible: true,
                    }),
                ),
            ],
        ),
        (
            "input",
            vec![
                (
                    "pointer_move",
                    M::PointerMove(pb::PointerMove { x: 100, y: 200 }),
                ),
                (
                    "pointer_button",
                    M::PointerButton(pb::PointerButton {
                        button: pb::Button::Left as i32,
                        pressed: true,
                        x: 100,
                        y: 200,
                    }),
                ),
                (
                    "pointer_wheel",
                    M::PointerWheel(pb::PointerWheel { dx: 0, dy: -120 }),
                ),
                (
                    "key",
                    M::Key(pb::Key {
                        keysym: 0x61,
                        scancode: 4,
                        pressed: true,
                        modifiers: 1,
                    }),
                ),
                (
                    "text",
                    M::Text(pb::Text {
                        text: "héllo".into(),
                    }),
                ),
                (
                    "whiteboard_stroke",
                    M::WhiteboardStroke(pb::WhiteboardStroke {
                        id: 1,
                        points: vec![10, 20, 30, -4],
                        rgb: 0xe0_1b_24,
                        width: 4,
                    }),
                ),
                (
                    "whiteboard_clear",
                    M::WhiteboardClear(pb::WhiteboardClear {}),
                ),
            ],
        ),
        (
            "clipboard",
            vec![
                (
                    "text",
                    M::ClipboardUpdate(pb::ClipboardUpdate {
                        seq: 5,
                        origin: pb::Role::Applet as i32,
                        content: Some(Content::Text("ticket #4521".into())),
                    }),
                ),
                (
                    "image",
                    M::ClipboardUpdate(pb::ClipboardUpdate {
                        seq: 6,
                        origin: pb::Role::Console as i32,
                        content: Some(Content::Image(pb::ClipboardImage {
                            width: 1,
                            height: 1,
                            png: b(b"\x89PNG\r\n\x1a\n"),
                        })),
                    }),
                ),
            ],
        ),
        (
            "file",
            vec![
                (
                    "offer",
                    M::FileOffer(pb::FileOffer {
                        id: 1,
                        name: "report.pdf".into(),
                        size: 1_048_576,
                        modified_unix: 1_764_000_000,
                        target_dir: String::new(),
                    }),
                ),
                (
                    "answer",
                    M::FileAnswer(pb::FileAnswer {
                        id: 1,
                        accept: true,
                        resume_offset: 65_536,
                        credit: 1_048_576,
                        reason: String::new(),
                    }),
                ),
                (
                    "chunk",
                    M::FileChunk(pb::FileChunk {
                        id: 1,
                        offset: 65_536,
                        data: b(b"%PDF-1.7"),
                    }),
                ),
                (
                    "credit",
                    M::FileCredit(pb::FileCredit {
                        id: 1,
                        bytes: 262_144,
                    }),
                ),
                (
                    "complete",
                    M::FileComplete(pb::FileComplete {
                        id: 1,
                        // MD5 of the empty string.
                        md5: b(&[
                            0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04, 0xe9, 0x80, 0x09, 0x98,
                            0xec, 0xf8, 0x42, 0x7e,
                        ]),
                    }),
                ),
                (
                    "result",
                    M::FileResult(pb::FileResult {
                        id: 1,
                        ok: false,
                        md5: b(&[0x11; 16]),
                    }),
                ),
                (
                    "cancel",
                    M::FileCancel(pb::FileCancel {
                        id: 1,
                        reason: pb::CancelReason::User as i32,
                        detail: String::new(),
                    }),
                ),
                (
                    "list_request",
                    M::FileListRequest(pb::FileListRequest {
                        id: 2,
                        path: "Documents".into(),
                    }),
                ),
                (
                    "list",
                    M::FileList(pb::FileList {
                        id: 2,
                        path: "Documents".into(),
                        entries: vec![
                            pb::FileEntry {
                                name: "a.txt".into(),
                                directory: false,
                                size: 12,
                                modified_unix: 0,
                                symlink: false,
                            },
                            pb::FileEntry {
                                name: "Photos".into(),
                                directory: true,
                                size: 0,
                                modified_unix: 0,
                                symlink: false,
                            },
                        ],
                        truncated: false,
                        error: String::new(),
                    }),
                ),
                (
                    "action_rename",
                    M::FileAction(pb::FileAction {
                        id: 3,
                        kind: pb::FileActionKind::Rename as i32,
                        path: "Documents/a.txt".into(),
                        new_path: "Documents/b.txt".into(),
                    }),
                ),
                (
                    "action_refused",
                    M::FileActionResult(pb::FileActionResult {
                        id: 3,
                        ok: false,
                        error: "\"../x\" leaves the shared folder".into(),
                        transfer_id: 0,
                    }),
                ),
            ],
        ),
        (
            "chat",
            vec![
                (
                    "message",
                    M::ChatMessage(pb::ChatMessage {
                        id: 1,
                        text: "Bonjour !".into(),
                        sent_unix_ms: 1_764_000_000_000,
                    }),
                ),
                ("state", M::ChatState(pb::ChatState { enabled: false })),
            ],
        ),
        (
            "control",
            vec![
                (
                    "url_push",
                    M::UrlPush(pb::UrlPush {
                        url: "https://example.org/help".into(),
                    }),
                ),
                (
                    "system_info_request",
                    M::SystemInfoRequest(pb::SystemInfoRequest { id: 1 }),
                ),
                (
                    "system_info",
                    M::SystemInfo(pb::SystemInfo {
                        id: 1,
                        items: vec![pb::SystemInfoItem {
                            section: "os".into(),
                            key: "name".into(),
                            value: "Debian GNU/Linux 12".into(),
                        }],
                    }),
                ),
                (
                    "reboot_request",
                    M::RebootRequest(pb::RebootRequest {
                        mode: pb::RebootMode::Safe as i32,
                    }),
                ),
                (
                    "reconnect_token",
                    M::ReconnectToken(pb::ReconnectToken {
                        token: b(&[0x42; 32]),
                        valid_for_s: 600,
                    }),
                ),
                (
                    "recording_notice",
                    M::RecordingNotice(pb::RecordingNotice { recording: true }),
                ),
                (
                    "session_control",
                    M::SessionControl(pb::SessionControl {
                        action: pb::ControlAction::End as i32,
                        reason: pb::EndReason::ByTechnician as i32,
                        target_group: String::new(),
                        message: "Thank you".into(),
                    }),
                ),
                (
                    "link_stats",
                    M::LinkStats(pb::LinkStats {
                        rtt_ms: 42,
                        loss_permille: 3,
                        bandwidth_bps: 8_000_000,
                        relayed: true,
                    }),
                ),
                ("ping", M::Ping(pb::Ping { id: 9 })),
                ("pong", M::Pong(pb::Pong { id: 9 })),
            ],
        ),
    ]
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors")
}

fn render(family: &str, vectors: &[(&str, Message)]) -> String {
    let mut out = format!(
        "# Secours protocol v{} test vectors: {family}\n\
         # Each vector: name, channel, the message (informative), then the whole\n\
         # frame in hex: 4-byte big-endian length, then the protobuf Envelope.\n",
        wire::PROTOCOL_VERSION
    );
    for (name, message) in vectors {
        let frame = wire::encode_to_bytes(message.clone()).expect("vector encodes");
        let _ = write!(
            out,
            "\nname: {name}\nchannel: {}\nmessage: {message:?}\nframe: {}\n",
            Channel::of(message),
            hex::encode(&frame)
        );
    }
    out
}

/// (name, channel, frame bytes) of each vector in a file.
fn parse(text: &str) -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    let (mut name, mut channel) = (String::new(), String::new());
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("name: ") {
            name = v.to_owned();
        } else if let Some(v) = line.strip_prefix("channel: ") {
            channel = v.to_owned();
        } else if let Some(v) = line.strip_prefix("frame: ") {
            out.push((name.clone(), channel.clone(), hex::decode(v).expect("hex")));
        }
    }
    out
}

#[test]
fn vectors_decode_and_reencode_byte_exact() {
    let write = std::env::var_os("SECOURS_WRITE_VECTORS").is_some();
    for (family, vectors) in families() {
        let path = vectors_dir().join(format!("{family}.txt"));
        let expected = render(family, &vectors);
        if write {
            std::fs::write(&path, &expected).expect("write vectors");
        }
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let parsed = parse(&text);
        assert_eq!(parsed.len(), vectors.len(), "{family}: vector count");
        for ((name, channel, frame), (want_name, want)) in parsed.into_iter().zip(vectors) {
            assert_eq!(name, want_name);
            let ch = Channel::ALL
                .into_iter()
                .find(|c| c.to_string() == channel)
                .expect("channel");
            let mut buf = BytesMut::from(&frame[..]);
            let decoded = wire::decode(ch, &mut buf)
                .expect("decodes")
                .expect("whole frame");
            assert!(buf.is_empty(), "{family}/{name}: trailing bytes");
            assert_eq!(decoded, Decoded::Message(want.clone()), "{family}/{name}");
            let again = wire::encode_to_bytes(want).expect("encodes");
            assert_eq!(
                hex::encode(&again),
                hex::encode(&frame),
                "{family}/{name}: re-encoding differs"
            );
        }
        assert_eq!(
            text, expected,
            "{family}: the file is not what this version writes"
        );
    }
}

#[test]
fn unknown_message_vector_is_skipped() {
    let text = std::fs::read_to_string(vectors_dir().join("unknown.txt")).expect("unknown.txt");
    let parsed = parse(&text);
    assert!(!parsed.is_empty());
    for (name, channel, frame) in parsed {
        let ch = Channel::ALL
            .into_iter()
            .find(|c| c.to_string() == channel)
            .expect("channel");
        let mut buf = BytesMut::from(&frame[..]);
        assert_eq!(
            wire::decode(ch, &mut buf),
            Ok(Some(Decoded::Unknown)),
            "{name}"
        );
    }
}
