//! Recordings checked by the tools players are built on: ffprobe must see
//! the frame count, size and duration written, and ffmpeg must decode every
//! frame, also across a resolution change.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use secours_codec::recording::{EventLog, RecordedEvent, WebmRecorder};
use secours_codec::selftest::scrolling_text;
use secours_codec::{Backend, PipelineSettings, ScreenEncoder};

fn tool(name: &str) -> Command {
    let probe = Command::new(name).arg("-version").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "{name} is needed for this test: run scripts/setup.sh (Debian package ffmpeg)"
    );
    Command::new(name)
}

struct Probe {
    width: u64,
    height: u64,
    frames: u64,
    duration_s: f64,
    codec: String,
}

fn ffprobe(path: &Path) -> Probe {
    let out = tool("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
        ])
        .args(["-show_entries", "format=duration", "-of", "json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["streams"][0];
    Probe {
        width: s["width"].as_u64().unwrap(),
        height: s["height"].as_u64().unwrap(),
        frames: s["nb_read_frames"].as_str().unwrap().parse().unwrap(),
        duration_s: v["format"]["duration"].as_str().unwrap().parse().unwrap(),
        codec: s["codec_name"].as_str().unwrap().to_string(),
    }
}

/// Frames ffmpeg decodes, and whether it complained.
fn ffmpeg_decode(path: &Path) -> (u64, String) {
    let out = tool("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "framemd5", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let frames = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count() as u64;
    (frames, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Records `sizes` (one entry per frame) at irregular capture times.
fn record(path: &Path, backend: Backend, sizes: &[(u32, u32)]) -> Vec<u64> {
    let mut settings = PipelineSettings::new(backend);
    settings.threads = 2;
    settings.adapt_resolution = false;
    let mut enc = ScreenEncoder::new(settings);
    let mut rec = WebmRecorder::create(path).unwrap();
    let mut times = Vec::new();
    let mut t = 1_000_000u64; // an arbitrary monotonic clock
    let mut frames = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        // Variable frame rate: frames come only on change.
        t += 20_000 + (i as u64 % 5) * 37_000;
        times.push(t);
        let (out, _) = enc
            .push(&scrolling_text(size, i as u32).unwrap(), t, None)
            .unwrap();
        frames.extend(out);
    }
    frames.extend(enc.flush().unwrap());
    for f in &frames {
        assert!(
            rec.write(&f.data, f.keyframe, f.width, f.height, f.capture_us)
                .unwrap()
        );
    }
    let summary = rec.finish().unwrap();
    assert_eq!(summary.frames, sizes.len() as u64);
    assert_eq!(summary.span_us, times.last().unwrap() - times[0]);
    times
}

#[test]
fn ffprobe_reads_frame_count_size_and_duration() {
    let dir = tempfile::tempdir().unwrap();
    for backend in Backend::ALL {
        let path = dir.path().join(format!("{backend}.webm"));
        let times = record(&path, backend, &[(320, 240); 24]);
        let p = ffprobe(&path);
        assert_eq!(p.codec, "av1");
        assert_eq!((p.width, p.height, p.frames), (320, 240, 24), "{backend}");
        let span = (times[23] - times[0]) as f64 / 1e6;
        // The container's duration covers the frames' timestamps (the last
        // frame's own display time is not known to a VFR muxer).
        assert!(
            (p.duration_s - span).abs() < 0.1,
            "{backend}: {} s vs {span} s",
            p.duration_s
        );
        let (decoded, complaints) = ffmpeg_decode(&path);
        assert_eq!(decoded, 24, "{backend}: {complaints}");
    }
}

#[test]
fn a_recording_that_changed_resolution_still_plays() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resized.webm");
    let mut sizes = vec![(320, 240); 10];
    sizes.extend([(240, 180); 10]);
    sizes.extend([(320, 240); 5]);
    record(&path, Backend::Aom, &sizes);
    let p = ffprobe(&path);
    assert_eq!(p.frames, 25);
    let (decoded, complaints) = ffmpeg_decode(&path);
    assert_eq!(decoded, 25, "{complaints}");
    assert!(complaints.is_empty(), "{complaints}");
}

#[test]
fn no_keyframe_no_file_and_event_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.webm");
    let rec = WebmRecorder::create(&path).unwrap();
    assert_eq!(rec.finish().unwrap().frames, 0);
    assert!(!path.exists(), "an empty recording leaves nothing behind");

    let log_path = dir.path().join("events.jsonl");
    let mut log = EventLog::create(&log_path).unwrap();
    log.set_origin(1_000);
    log.log(
        1_500,
        &RecordedEvent::Chat {
            from: secours_codec::recording::Side::Customer,
            text: "<script>\"hi\"\n".into(),
        },
    )
    .unwrap();
    log.log(
        2_000,
        &RecordedEvent::File {
            from: secours_codec::recording::Side::Technician,
            name: "../x.txt".into(),
            size: 3,
            md5: "900150983cd24fb0d6963f7d28e17f72".into(),
        },
    )
    .unwrap();
    assert_eq!(log.finish().unwrap(), 2);
    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["t_us"], 500);
    assert_eq!(lines[0]["event"], "chat");
    assert_eq!(lines[0]["text"], "<script>\"hi\"\n");
    assert_eq!(lines[1]["md5"], "900150983cd24fb0d6963f7d28e17f72");
}
