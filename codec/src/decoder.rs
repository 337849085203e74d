//! The AV1 decoder: dav1d, set up for the least delay, behind this one
//! small module.
//!
//! dav1d comes from `libdav1d-sys`, which builds dav1d 1.4.3 from its
//! bundled source (meson, ninja, nasm) and links it statically. Debian
//! bookworm's libdav1d 1.0.0 was the first choice; the `av1_decoder` fuzz
//! target crashed it (SIGSEGV inside libdav1d on a 70-byte temporal unit,
//! fuzz/regressions/av1_decoder/) where 1.4.3 answers EINVAL. The console
//! decodes what a remote machine sends, so that settled it.
//!
//! Everything it reads came from the network: the payload size and the
//! picture size are bounded, and a bad payload is an error, never a panic.
#![allow(unsafe_code)]

use std::ptr::NonNull;

use bytes::Bytes;
use libdav1d_sys as ffi;

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
    ctx: NonNull<ffi::Dav1dContext>,
}

// SAFETY: the context is owned by this value alone and only used through
// `&mut self`; dav1d's worker threads are internal to the context.
unsafe impl Send for Decoder {}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decoder(dav1d)")
    }
}

fn err(what: &str, code: i32) -> CodecError {
    CodecError::Decoder(format!(
        "{what}: {}",
        std::io::Error::from_raw_os_error(-code)
    ))
}

/// The version of the dav1d linked in.
pub fn dav1d_version() -> String {
    // SAFETY: returns a pointer to a static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(ffi::dav1d_version()) }
        .to_string_lossy()
        .into_owned()
}

impl Decoder {
    /// `threads`: 0 = one per core.
    pub fn new(threads: u32) -> Result<Self, CodecError> {
        // SAFETY: zeroed is a valid bit pattern for this plain C struct, and
        // dav1d_default_settings then fills every field.
        let mut s: ffi::Dav1dSettings = unsafe { std::mem::zeroed() };
        // SAFETY: `s` is valid writable memory of the right type.
        unsafe { ffi::dav1d_default_settings(&mut s) };
        s.n_threads = i32::try_from(threads).unwrap_or(0);
        // One frame in, one frame out: the least delay.
        s.max_frame_delay = 1;
        s.frame_size_limit = MAX_PIXELS;
        s.apply_grain = 0;
        // dav1d prints bitstream complaints to stderr by default; a hostile
        // peer must not be able to fill the console's log that way.
        s.logger.callback = None;
        let mut ctx: *mut ffi::Dav1dContext = std::ptr::null_mut();
        // SAFETY: valid settings and out-pointer.
        let rc = unsafe { ffi::dav1d_open(&mut ctx, &s) };
        if rc < 0 {
            return Err(err("dav1d_open", rc));
        }
        let ctx = NonNull::new(ctx)
            .ok_or_else(|| CodecError::Decoder("dav1d_open gave no context".into()))?;
        Ok(Self { ctx })
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
        // SAFETY: an all-zero Dav1dData is the empty state; dav1d_data_create
        // allocates `len` bytes it owns (reference-counted), which we fill.
        let mut data: ffi::Dav1dData = unsafe { std::mem::zeroed() };
        let buf = unsafe { ffi::dav1d_data_create(&mut data, payload.len()) };
        if buf.is_null() {
            return Err(CodecError::Decoder("out of memory".into()));
        }
        // SAFETY: buf has room for payload.len() bytes.
        unsafe { std::ptr::copy_nonoverlapping(payload.as_ptr(), buf, payload.len()) };
        data.m.timestamp = i64::try_from(pts_us).unwrap_or(i64::MAX);

        let mut out = Vec::new();
        let result = self.feed(&mut data, &mut out);
        if data.sz > 0 {
            // SAFETY: what dav1d did not consume is still ours to release.
            unsafe { ffi::dav1d_data_unref(&mut data) };
        }
        match result {
            Ok(()) => Ok(out),
            Err(e) => {
                // Drop what was half-decoded so the next unit starts clean.
                self.reset();
                Err(e)
            }
        }
    }

    fn feed(
        &mut self,
        data: &mut ffi::Dav1dData,
        out: &mut Vec<DecodedFrame>,
    ) -> Result<(), CodecError> {
        for _ in 0..MAX_ROUNDS {
            // SAFETY: context open; data is a valid (possibly partly
            // consumed) buffer dav1d advances as it reads.
            let rc = unsafe { ffi::dav1d_send_data(self.ctx.as_ptr(), data) };
            if rc < 0 && rc != ffi::DAV1D_ERR_AGAIN {
                return Err(err("bitstream", rc));
            }
            self.take_pictures(out)?;
            if data.sz == 0 {
                return Ok(());
            }
        }
        Err(CodecError::Decoder("decoder made no progress".into()))
    }

    /// Forgets every reference (after a loss, before the next keyframe).
    pub fn reset(&mut self) {
        // SAFETY: context open.
        unsafe { ffi::dav1d_flush(self.ctx.as_ptr()) };
    }

    fn take_pictures(&mut self, out: &mut Vec<DecodedFrame>) -> Result<(), CodecError> {
        loop {
            // SAFETY: a zeroed picture is the empty state dav1d fills.
            let mut pic: ffi::Dav1dPicture = unsafe { std::mem::zeroed() };
            let rc = unsafe { ffi::dav1d_get_picture(self.ctx.as_ptr(), &mut pic) };
            if rc == ffi::DAV1D_ERR_AGAIN {
                return Ok(());
            }
            if rc < 0 {
                return Err(err("picture", rc));
            }
            let converted = to_i420(&pic);
            let pts_us = u64::try_from(pic.m.timestamp).unwrap_or(0);
            // SAFETY: the picture was filled by dav1d_get_picture; unref
            // clears it, so nothing is read from it after this.
            unsafe { ffi::dav1d_picture_unref(&mut pic) };
            out.push(DecodedFrame {
                pts_us,
                frame: converted?,
            });
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        let mut ctx = self.ctx.as_ptr();
        // SAFETY: opened in `new`, closed once.
        unsafe { ffi::dav1d_close(&mut ctx) };
    }
}

/// Copies a dav1d picture into a tight I420 frame.
fn to_i420(p: &ffi::Dav1dPicture) -> Result<I420Frame, CodecError> {
    if p.p.layout != ffi::Dav1dPixelLayout::DAV1D_PIXEL_LAYOUT_I420 || p.p.bpc != 8 {
        return Err(CodecError::UnsupportedPicture(format!(
            "{:?}, {} bits",
            p.p.layout, p.p.bpc
        )));
    }
    let (w, h) = (p.p.w, p.p.h);
    let (Ok(w), Ok(h)) = (u32::try_from(w), u32::try_from(h)) else {
        return Err(CodecError::UnsupportedPicture(format!("size {w}x{h}")));
    };
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(CodecError::BadSize {
            width: w,
            height: h,
        });
    }
    let mut frame = I420Frame::new(w, h)?;
    let (cw, ch) = (frame.chroma_stride(), frame.chroma_height() as usize);
    copy_plane(p.data[0], p.stride[0], &mut frame.y, w as usize, h as usize)?;
    copy_plane(p.data[1], p.stride[1], &mut frame.u, cw, ch)?;
    copy_plane(p.data[2], p.stride[1], &mut frame.v, cw, ch)?;
    Ok(frame)
}

fn copy_plane(
    src: *mut std::ffi::c_void,
    stride: isize,
    dst: &mut [u8],
    width: usize,
    height: usize,
) -> Result<(), CodecError> {
    let stride = usize::try_from(stride)
        .map_err(|_| CodecError::UnsupportedPicture("negative stride".into()))?;
    if src.is_null() || stride < width {
        return Err(CodecError::UnsupportedPicture(
            "plane smaller than its size".into(),
        ));
    }
    for (row, out) in dst.chunks_exact_mut(width).take(height).enumerate() {
        // SAFETY: dav1d's plane holds `height` rows of `stride` bytes, each
        // at least `width` bytes of pixels, alive until the picture is
        // unreferenced (after this copy).
        let line = unsafe { std::slice::from_raw_parts(src.cast::<u8>().add(row * stride), width) };
        out.copy_from_slice(line);
    }
    Ok(())
}
