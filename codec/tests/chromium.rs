//! A recording opens in Chromium's `<video>`: served over HTTP (with byte
//! ranges, so it is seekable), Chromium reads its size and duration, then
//! seeks to the last frame, which decodes every frame from the keyframe,
//! across two resolution changes.
//! The page reports what it saw to the test's server (`/result?...`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secours_codec::recording::WebmRecorder;
use secours_codec::selftest::scrolling_text;
use secours_codec::{Backend, PipelineSettings, ScreenEncoder};

const PAGE: &str = r#"<!doctype html><html><body><video id=v src="rec.webm" muted preload=auto></video>
<script>
const v = document.getElementById('v');
function report(s) { fetch('/result?' + encodeURIComponent(s)); }
v.addEventListener('error', () => report('error ' + (v.error && v.error.code)));
v.addEventListener('loadeddata', () => {
  const first = `size=${v.videoWidth}x${v.videoHeight} duration=${v.duration.toFixed(3)}`;
  // First into the stretch coded at 240x180, then to the last frame.
  v.addEventListener('seeked', () => {
    const middle = `middle=${v.currentTime.toFixed(3)}/${v.readyState}`;
    v.addEventListener('seeked', () => {
      report(`${first} ${middle} seeked=${v.currentTime.toFixed(3)} ready=${v.readyState} last=${v.videoWidth}x${v.videoHeight}`);
    }, {once: true});
    v.currentTime = v.duration - 0.005;
  }, {once: true});
  v.currentTime = 1.21;
}, {once: true});
</script></body></html>"#;

/// Serves the page and the recording, honouring `Range: bytes=a-b`, and
/// keeps what the page reports.
fn serve(video: Arc<Vec<u8>>, result: Arc<Mutex<Option<String>>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let video = video.clone();
            let result = result.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                let mut range = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some(r) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                        let (a, b) = r.trim().split_once('-').unwrap_or(("0", ""));
                        let start: usize = a.parse().unwrap_or(0);
                        let end: usize = b.parse().unwrap_or(video.len() - 1);
                        range = Some((start.min(video.len()), end.min(video.len() - 1)));
                    }
                }
                if let Some(q) = request.strip_prefix("GET /result?") {
                    let q = q.split_whitespace().next().unwrap_or("");
                    *result.lock().unwrap() = Some(percent_decode(q));
                }
                let (status, kind, body, extra) = if request.starts_with("GET /rec.webm") {
                    match range {
                        Some((a, b)) if a <= b => (
                            "206 Partial Content",
                            "video/webm",
                            video[a..=b].to_vec(),
                            format!("Content-Range: bytes {a}-{b}/{}\r\n", video.len()),
                        ),
                        _ => ("200 OK", "video/webm", video.to_vec(), String::new()),
                    }
                } else {
                    (
                        "200 OK",
                        "text/html",
                        PAGE.as_bytes().to_vec(),
                        String::new(),
                    )
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n{extra}Connection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            });
        }
    });
    port
}

#[test]
fn chromium_opens_and_seeks_through_a_recording() {
    let probe = Command::new("chromium").arg("--version").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "chromium is needed for this test: run scripts/setup.sh (Debian package chromium)"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.webm");
    let mut settings = PipelineSettings::new(Backend::Aom);
    settings.threads = 2;
    settings.adapt_resolution = false;
    let mut enc = ScreenEncoder::new(settings);
    let mut rec = WebmRecorder::create(&path).unwrap();
    let mut last_us = 0;
    for i in 0..40u32 {
        // Variable frame rate, as captured on change.
        let t = u64::from(i) * 50_000 + u64::from(i % 3) * 7_000;
        let (frames, _) = enc
            .push(&scrolling_text((320, 240), i).unwrap(), t, None)
            .unwrap();
        for f in frames {
            rec.write(&f.data, f.keyframe, f.width, f.height, f.capture_us)
                .unwrap();
            last_us = f.capture_us;
        }
    }
    rec.finish().unwrap();
    let result = Arc::new(Mutex::new(None));
    let port = serve(Arc::new(std::fs::read(&path).unwrap()), result.clone());

    let profile = dir.path().join("profile");
    let mut chromium = Command::new("chromium")
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("http://127.0.0.1:{port}/page.html"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Not a timing assertion: a deadline for a browser that never answers.
    let deadline = Instant::now() + Duration::from_secs(60);
    let title = loop {
        if let Some(r) = result.lock().unwrap().clone() {
            break r;
        }
        if Instant::now() > deadline || chromium.try_wait().unwrap().is_some() {
            break "no answer from the page".to_string();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = chromium.kill();
    let _ = chromium.wait();
    let duration = last_us as f64 / 1e6;
    println!("chromium: {title} (recorded span {duration:.3} s)");
    assert!(
        title.starts_with("size=320x240 duration="),
        "chromium said: {title:?}"
    );
    let field = |name: &str| -> f64 {
        title
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    assert!((field("duration=") - duration).abs() < 0.1, "{title}");
    assert!(
        field("seeked=") > duration - 0.2,
        "the last frame decoded: {title}"
    );
    assert_eq!(field("ready="), 4.0, "{title}");
    // The 240x180 stretch decodes too. (Chromium keeps reporting the
    // track's 320x240 as the natural size there and scales the picture.)
    assert!(title.contains("middle=1.210/4"), "{title}");
    assert!(title.ends_with("last=320x240"), "{title}");
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
