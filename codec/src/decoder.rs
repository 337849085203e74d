//! The AV1 decoder: dav1d (Debian's libdav1d 1.0 through the `dav1d` 0.9
//! crate), set up for the least delay, behind this one small module.
//!
//! Everything it reads came from the network: the payload size and the
//! picture size are bounded, and a bad payload is an error, never a panic.

use bytes::Bytes;
use dav1d::{PixelLayout, PlanarImageComponent};

use crate::error::CodecError;
use crate::frame::{I420Frame, MAX_SIDE};

/// Largest temporal unit accepted (the video channel's frame limit).
pub const MAX_PAYLOAD: usize = 8 << 20;

/// Largest picture dav1d may allocate for, in pixels (8K UHD and a margin):
/// a forged sequence header cannot make it reserve gigabytes.
pub const MAX_PIXELS: u32 = 8192 * 4608;

/// How many times one temporal unit may bounce between "send" and "take
/// pictures" before the decoder is declared stuck.
const MAX_ROUNDS: usize = 16;

/// A decoded picture and the timestamp its payload was sent with.
#[derive(Debug, Clone)]
pub struct DecodedFrame {
    pub frame: I420Frame,
    pub pts_us: u64,
}

/// dav1d with a frame delay of one: each temporal unit in, its picture out.
pub struct Decoder {
    inner: dav1d::Decoder,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decoder(dav1d)")
    }
}

impl Decoder {
    /// `threads`: 0 = one per core.
    pub fn new(threads: u32) -> Result<Self, CodecError> {
        let mut settings = dav1d::Settings::new();
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get() as u32)
        } else {
            threads
        };
        settings.set_n_threads(threads);
        settings.set_max_frame_delay(1);
        settings.set_frame_size_limit(MAX_PIXELS);
        settings.set_apply_grain(false);
        let inner = dav1d::Decoder::with_settings(&settings)
            .map_err(|e| CodecError::Decoder(e.to_string()))?;
        Ok(Self { inner })
    }

    /// Decodes one temporal unit; returns the pictures it completed (one for
    /// a normal frame, none for a unit that shows nothing).
    pub fn decode(
        &mut self,
        payload: impl Into<Bytes>,
        pts_us: u64,
    ) -> Result<Vec<DecodedFrame>, CodecError> {
        let payload: Bytes = payload.into();
        if payload.is_empty() {
            return Err(CodecError::Malformed("empty temporal unit"));
        }
        if payload.len() > MAX_PAYLOAD {
            return Err(CodecError::Malformed("temporal unit over 8 MiB"));
        }
        let ts = i64::try_from(pts_us).unwrap_or(i64::MAX);
        let mut out = Vec::new();
        let mut sent = self.inner.send_data(payload, None, Some(ts), None);
        for _ in 0..MAX_ROUNDS {
            match sent {
                Ok(()) => {
                    self.take_pictures(&mut out)?;
                    return Ok(out);
                }
                Err(dav1d::Error::Again) => {
                    self.take_pictures(&mut out)?;
                    sent = self.inner.send_pending_data();
                }
                Err(e) => {
                    // Drop what was half-sent so the next unit starts clean.
                    self.inner.flush();
                    return Err(CodecError::Decoder(e.to_string()));
                }
            }
        }
        self.inner.flush();
        Err(CodecError::Decoder("decoder made no progress".into()))
    }

    /// Forgets every reference (after a loss, before the next keyframe).
    pub fn reset(&mut self) {
        self.inner.flush();
    }

    fn take_pictures(&mut self, out: &mut Vec<DecodedFrame>) -> Result<(), CodecError> {
        loop {
            match self.inner.get_picture() {
                Ok(p) => out.push(DecodedFrame {
                    pts_us: p
                        .timestamp()
                        .and_then(|t| u64::try_from(t).ok())
                        .unwrap_or(0),
                    frame: to_i420(&p)?,
                }),
                Err(dav1d::Error::Again) => return Ok(()),
                Err(e) => {
                    self.inner.flush();
                    return Err(CodecError::Decoder(e.to_string()));
                }
            }
        }
    }
}

/// Copies a dav1d picture into a tight I420 frame.
fn to_i420(p: &dav1d::Picture) -> Result<I420Frame, CodecError> {
    if p.pixel_layout() != PixelLayout::I420 || p.bit_depth() != 8 {
        return Err(CodecError::UnsupportedPicture(format!(
            "{:?}, {} bits",
            p.pixel_layout(),
            p.bit_depth()
        )));
    }
    let (w, h) = (p.width(), p.height());
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(CodecError::BadSize {
            width: w,
            height: h,
        });
    }
    let mut frame = I420Frame::new(w, h)?;
    let (cw, ch) = (frame.chroma_stride(), frame.chroma_height() as usize);
    copy_plane(
        p,
        PlanarImageComponent::Y,
        &mut frame.y,
        w as usize,
        h as usize,
    )?;
    copy_plane(p, PlanarImageComponent::U, &mut frame.u, cw, ch)?;
    copy_plane(p, PlanarImageComponent::V, &mut frame.v, cw, ch)?;
    Ok(frame)
}

fn copy_plane(
    p: &dav1d::Picture,
    component: PlanarImageComponent,
    dst: &mut [u8],
    width: usize,
    height: usize,
) -> Result<(), CodecError> {
    let stride = p.stride(component) as usize;
    let plane = p.plane(component);
    let src: &[u8] = &plane;
    if stride < width || src.len() < stride * (height.saturating_sub(1)) + width {
        return Err(CodecError::UnsupportedPicture(
            "plane smaller than its size".into(),
        ));
    }
    for (row, out) in dst.chunks_exact_mut(width).take(height).enumerate() {
        out.copy_from_slice(&src[row * stride..row * stride + width]);
    }
    Ok(())
}
