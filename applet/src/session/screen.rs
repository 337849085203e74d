//! The customer's screen as the session sends it: a thread captures (X11
//! or a synthetic scene), encodes with the screen pipeline and hands the
//! driver ready messages (video frames, the cursor apart). It captures
//! nothing until the customer allows viewing or control, and stops when
//! that is withdrawn.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use secours_codec::selftest::{self, Overrides};
use secours_codec::{Backend, PipelineSettings, ScreenEncoder};
use secours_protocol::{Message, pb};
use tokio::sync::{Notify, mpsc};

use crate::capture::ScreenCapture;
use crate::error::AppletError;

/// Frames per second aimed at.
pub const FPS: u32 = 30;
/// Bounds of the video's share of the link, kbit/s.
const MIN_KBPS: u32 = 150;
const MAX_KBPS: u32 = 8_000;

/// What the driver tells the capture thread.
#[derive(Debug, Default)]
struct Control {
    allowed: AtomicBool,
    keyframe: AtomicBool,
    bitrate_kbps: AtomicU32,
    stop: AtomicBool,
    /// Coded width << 32 | height of the newest frame.
    video_size: AtomicU64,
}

/// Opens the screen inside the capture thread (an X connection belongs
/// to the thread that uses it).
pub type OpenScreen = Box<dyn FnOnce() -> Result<Box<dyn ScreenCapture>, AppletError> + Send>;

/// The capture thread's handle.
#[derive(Debug)]
pub struct ScreenStream {
    frames: mpsc::Receiver<Vec<Message>>,
    control: Arc<Control>,
    thread: Option<JoinHandle<()>>,
}

impl ScreenStream {
    /// Starts the thread: it opens the screen, runs the encoder self-test
    /// (or takes `backend`), then waits for [`ScreenStream::allow`].
    pub fn start(open: OpenScreen, backend: Option<Backend>, wake: Arc<Notify>) -> Self {
        let (tx, frames) = mpsc::channel(4);
        let control = Arc::new(Control::default());
        control.bitrate_kbps.store(1_500, Ordering::Relaxed);
        let c = control.clone();
        let thread = std::thread::Builder::new()
            .name("secours-screen".into())
            .spawn(move || {
                if let Err(e) = capture_loop(open, backend, &c, &tx, &wake) {
                    tracing::warn!(error = %e, "screen capture stopped");
                }
                // The channel closes with the thread: the driver sees it.
                drop(tx);
                wake.notify_one();
            })
            .ok();
        Self {
            frames,
            control,
            thread,
        }
    }

    /// Starts or stops sending the screen (the customer's consent).
    pub fn allow(&self, on: bool) {
        if on && !self.control.allowed.swap(true, Ordering::Relaxed) {
            self.control.keyframe.store(true, Ordering::Relaxed);
        } else if !on {
            self.control.allowed.store(false, Ordering::Relaxed);
        }
    }

    /// The console lost a frame's references: the next frame is a keyframe.
    pub fn keyframe(&self) {
        self.control.keyframe.store(true, Ordering::Relaxed);
    }

    /// Follows the link's sending-rate estimate: the video may use most of
    /// it (files and input share the rest).
    pub fn follow_link(&self, send_rate_bps: u64) {
        if send_rate_bps == 0 {
            return;
        }
        let kbps = (send_rate_bps * 7 / 10 / 1000).clamp(u64::from(MIN_KBPS), u64::from(MAX_KBPS));
        self.control
            .bitrate_kbps
            .store(u32::try_from(kbps).unwrap_or(MAX_KBPS), Ordering::Relaxed);
    }

    /// The coded size of the newest frame (what the console's pointer
    /// positions refer to).
    pub fn video_size(&self) -> (u32, u32) {
        let v = self.control.video_size.load(Ordering::Relaxed);
        ((v >> 32) as u32, v as u32)
    }

    /// Messages ready to send, oldest first; `Err` once the thread ended.
    pub fn try_next(&mut self) -> Result<Option<Vec<Message>>, AppletError> {
        match self.frames.try_recv() {
            Ok(m) => Ok(Some(m)),
            Err(mpsc::error::TryRecvError::Empty) => Ok(None),
            Err(mpsc::error::TryRecvError::Disconnected) => {
                Err(AppletError::Closed("the screen capture stopped".into()))
            }
        }
    }
}

impl Drop for ScreenStream {
    fn drop(&mut self) {
        self.control.stop.store(true, Ordering::Relaxed);
        self.frames.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Chosen {
    backend: Backend,
    size: (u32, u32),
}

fn capture_loop(
    open: OpenScreen,
    backend: Option<Backend>,
    control: &Control,
    tx: &mpsc::Sender<Vec<Message>>,
    wake: &Notify,
) -> Result<(), AppletError> {
    let mut screen = open()?;
    let native = screen.size();
    let overrides = Overrides {
        backend,
        size: None,
    };
    let (backend, size) = match super::encoder_cache::recall(native, backend) {
        Some(known) => known,
        None => {
            let choice = selftest::choose(native, FPS, overrides)?;
            super::encoder_cache::remember(native, choice.backend, choice.size);
            (choice.backend, choice.size)
        }
    };
    let choice = Chosen { backend, size };
    let mut settings = PipelineSettings::new(choice.backend);
    settings.bitrate_kbps = control.bitrate_kbps.load(Ordering::Relaxed);
    settings.fps = FPS;
    settings.start_size = Some(choice.size);
    let mut encoder = ScreenEncoder::new(settings);
    tracing::info!(backend = %choice.backend, size = ?choice.size, "screen encoder chosen");
    let interval = Duration::from_secs_f64(1.0 / f64::from(FPS));
    let origin = Instant::now();
    let mut shape: Option<Message> = None;
    let mut last_cursor = None;
    while !control.stop.load(Ordering::Relaxed) {
        if !control.allowed.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let started = Instant::now();
        if control.keyframe.swap(false, Ordering::Relaxed) {
            encoder.request_keyframe();
        }
        let kbps = control.bitrate_kbps.load(Ordering::Relaxed);
        // Ignore small wobbles: an encoder may restart its sequence.
        let current = encoder.bitrate_kbps();
        if kbps.abs_diff(current) * 5 > current {
            encoder.set_bitrate(kbps)?;
        }
        let cap = screen.capture()?;
        let capture_us = started.duration_since(origin).as_micros() as u64;
        let (frames, _) = encoder.push(&cap.frame, capture_us, cap.damage_hints.as_deref())?;
        if let Some(s) = cap.cursor_shape {
            shape = Some(Message::CursorShape(pb::CursorShape {
                id: s.id,
                width: s.width,
                height: s.height,
                hotspot_x: s.hotspot_x,
                hotspot_y: s.hotspot_y,
                rgba: Bytes::from(s.rgba),
            }));
        }
        let mut out: Vec<Message> = shape.take().into_iter().collect();
        for f in frames {
            control.video_size.store(
                (u64::from(f.width) << 32) | u64::from(f.height),
                Ordering::Relaxed,
            );
            out.push(Message::VideoFrame(pb::VideoFrame {
                frame_number: f.frame_number,
                capture_time_us: f.capture_us,
                keyframe: f.keyframe,
                width: f.width,
                height: f.height,
                codec: pb::VideoCodec::Av1.into(),
                payload: Bytes::from(f.data),
            }));
        }
        if last_cursor != Some(cap.cursor) {
            last_cursor = Some(cap.cursor);
            // In the video's pixels, like the technician's input.
            let video = control.video_size.load(Ordering::Relaxed);
            let (vw, vh) = ((video >> 32) as i64, (video & 0xffff_ffff) as i64);
            let (sw, sh) = (
                i64::from(cap.frame.width().max(1)),
                i64::from(cap.frame.height().max(1)),
            );
            let scale = |v: i32, to: i64, from: i64| {
                if to == 0 {
                    v
                } else {
                    i32::try_from(i64::from(v) * to / from).unwrap_or(v)
                }
            };
            out.push(Message::CursorPosition(pb::CursorPosition {
                shape_id: cap.cursor.shape_id,
                x: scale(cap.cursor.x, vw, sw),
                y: scale(cap.cursor.y, vh, sh),
                visible: cap.cursor.visible,
            }));
        }
        if !out.is_empty() {
            // Waits while the driver is behind: the capture slows down
            // rather than piling frames up.
            if tx.blocking_send(out).is_err() {
                return Ok(());
            }
            wake.notify_one();
        }
        if let Some(rest) = interval.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    Ok(())
}
