//! Against a real X server (Xvfb): a window drawn by another X client shows
//! up in the captured, encoded and decoded frames; XDamage reports where it
//! changed; an XTest click reaches that client; the cursor is reported apart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use x11rb::connection::Connection;
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{
    ChangeWindowAttributesAux, ConnectionExt as _, CreateWindowAux, EventMask, WindowClass,
};
use x11rb::rust_connection::RustConnection;

use secours_applet::{InputInjector, MouseButton, ScreenCapture, X11Capture, X11Injector};
use secours_codec::convert::to_bgra;
use secours_codec::{Backend, Decoder, PipelineSettings, ScreenEncoder};

struct Xvfb {
    child: Child,
    display: String,
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Xvfb on the first free display number.
fn xvfb() -> Xvfb {
    let found = Command::new("Xvfb")
        .arg("-help")
        .stderr(Stdio::null())
        .status();
    assert!(
        found.is_ok(),
        "Xvfb is needed for this test: run scripts/setup.sh (Debian package xvfb)"
    );
    for n in 91..160 {
        if secours_applet::x_display_in_use(n) {
            continue;
        }
        let mut child = Command::new("Xvfb")
            .arg(format!(":{n}"))
            .args([
                "-screen",
                "0",
                "800x600x24",
                "-nolisten",
                "tcp",
                "-br",
                "-noreset",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let socket = format!("/tmp/.X11-unix/X{n}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break; // lost a race for this display: try the next
            }
            if Path::new(&socket).exists() && x11rb::connect(Some(&format!(":{n}"))).is_ok() {
                return Xvfb {
                    child,
                    display: format!(":{n}"),
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("no display number free for Xvfb");
}

const RED: u32 = 0x00ff_0000;
const GREEN: u32 = 0x0000_ff00;

/// Another X client: one window of a solid colour that listens for clicks.
struct Client {
    conn: RustConnection,
    window: u32,
}

impl Client {
    fn open(display: &str) -> Self {
        let (conn, screen_num) = x11rb::connect(Some(display)).unwrap();
        let root = conn.setup().roots[screen_num].root;
        let window = conn.generate_id().unwrap();
        conn.create_window(
            0,
            window,
            root,
            100,
            100,
            200,
            150,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &CreateWindowAux::new()
                .background_pixel(RED)
                .override_redirect(1)
                .event_mask(EventMask::BUTTON_PRESS | EventMask::EXPOSURE),
        )
        .unwrap();
        conn.map_window(window).unwrap();
        conn.flush().unwrap();
        let client = Self { conn, window };
        client.wait_for(|e| matches!(e, Event::Expose(_)));
        client
    }

    fn paint(&self, pixel: u32) {
        self.conn
            .change_window_attributes(
                self.window,
                &ChangeWindowAttributesAux::new().background_pixel(pixel),
            )
            .unwrap();
        self.conn
            .clear_area(false, self.window, 0, 0, 0, 0)
            .unwrap();
        self.conn.get_input_focus().unwrap().reply().unwrap();
    }

    fn wait_for(&self, want: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(e) = self.conn.poll_for_event().unwrap() {
                if want(&e) {
                    return e;
                }
            } else {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        panic!("the client never got the event");
    }
}

fn near(p: [u8; 4], bgr: [u8; 3], tolerance: i32) -> bool {
    (0..3).all(|c| (i32::from(p[c]) - i32::from(bgr[c])).abs() <= tolerance)
}

#[test]
fn a_real_window_is_captured_encoded_decoded_and_clicked() {
    let x = xvfb();
    let client = Client::open(&x.display);
    let mut capture = X11Capture::connect(Some(&x.display)).unwrap();
    assert_eq!(capture.size(), (800, 600));
    assert!(capture.uses_shm() && capture.uses_xdamage(), "{capture:?}");

    // The window is in the captured frame, and in the decoded video.
    let first = capture.capture().unwrap();
    assert!(
        first.damage_hints.is_none(),
        "the first frame is compared whole"
    );
    assert!(
        near(first.frame.pixel(200, 175), [0, 0, 255], 0),
        "captured red window"
    );
    assert!(
        near(first.frame.pixel(50, 50), [0, 0, 0], 0),
        "black root (-br)"
    );

    let mut settings = PipelineSettings::new(Backend::Aom);
    settings.threads = 2;
    settings.adapt_resolution = false;
    let mut encoder = ScreenEncoder::new(settings);
    let mut decoder = Decoder::new(2).unwrap();
    let (frames, _) = encoder.push(&first.frame, 0, None).unwrap();
    assert_eq!(frames.len(), 1);
    let decoded = decoder.decode(frames[0].data.clone(), 0).unwrap();
    let picture = to_bgra(&decoded[0].frame).unwrap();
    assert!(
        near(picture.pixel(200, 175), [0, 0, 255], 24),
        "{:?}",
        picture.pixel(200, 175)
    );
    assert!(
        near(picture.pixel(50, 50), [0, 0, 0], 24),
        "{:?}",
        picture.pixel(50, 50)
    );

    // Nothing changed: nothing is sent.
    let same = capture.capture().unwrap();
    let (frames, report) = encoder
        .push(&same.frame, 33_000, same.damage_hints.as_deref())
        .unwrap();
    assert!(frames.is_empty() && report.skipped);

    // The client repaints: XDamage says where, the video follows.
    client.paint(GREEN);
    let changed = capture.capture().unwrap();
    let hints = changed.damage_hints.clone().expect("XDamage is on Xvfb");
    assert!(
        hints
            .iter()
            .any(|r| r.x <= 200 && 200 < r.x + r.width && r.y <= 175 && 175 < r.y + r.height),
        "damage covers the window: {hints:?}"
    );
    let (frames, _) = encoder.push(&changed.frame, 66_000, Some(&hints)).unwrap();
    assert_eq!(frames.len(), 1);
    let decoded = decoder.decode(frames[0].data.clone(), 66_000).unwrap();
    let picture = to_bgra(&decoded[0].frame).unwrap();
    assert!(
        near(picture.pixel(200, 175), [0, 255, 0], 24),
        "{:?}",
        picture.pixel(200, 175)
    );

    // An XTest click lands in the client's window at the right place.
    let mut input = X11Injector::connect(Some(&x.display)).unwrap();
    input.pointer_move(150, 160).unwrap();
    input.button(MouseButton::Left, true).unwrap();
    input.button(MouseButton::Left, false).unwrap();
    let Event::ButtonPress(press) = client.wait_for(|e| matches!(e, Event::ButtonPress(_))) else {
        unreachable!()
    };
    assert_eq!((press.detail, press.event_x, press.event_y), (1, 50, 60));

    // The cursor is reported beside the frame, at the pointer.
    let after = capture.capture().unwrap();
    assert_eq!((after.cursor.x, after.cursor.y), (150, 160));
    assert!(input.pointer_move(800, 10).is_err(), "outside the screen");
}
