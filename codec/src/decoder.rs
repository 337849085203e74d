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
//!
//! Pictures come out as dav1d's own buffers (`decode_pictures` ->
//! `Picture`, shared, converted to BGRA straight from dav1d's planes) or
//! copied into an `I420Frame` (`decode`). At 1080p the copy alone cost a
//! third of the decoding rate of a screen stream (codecbench), so a viewer
//! takes pictures. Outside release builds dav1d's C would be built at -O0:
//! see `.cargo/config.toml`.
#![allow(unsafe_code)]

use std::ptr::NonNull;

use bytes::Bytes;
use libdav1d_sys as ffi;

use crate::convert::{yuv420_planes_to_bgra, yuv420_planes_to_rgba};
use crate::error::CodecError;
use crate::frame::{BgraFrame, I420Frame, MAX_SIDE, chroma_size};

/// Largest temporal unit accepted (the video channel's frame limit).
pub const MAX_PAYLOAD: usize = 8 << 20;

/// Largest picture dav1d may allocate for, in pixels (8K UHD and a margin):
/// a forged sequence header cannot make it reserve gigabytes.
pub const MAX_PIXELS: u32 = 8192 * 4608;

/// How many times one temporal unit may bounce between "send" and "take
/// pictures" before the decoder is declared stuck.
const MAX_ROUNDS: usize = 16;

/// A decoded picture copied into a tight I420 frame, and the timestamp its
/// payload was sent with (`Decoder::decode`).
#[derive(Debug, Clone)]
pub struct DecodedFrame {
    pub frame: I420Frame,
    pub pts_us: u64,
}

/// A picture as dav1d decoded it, not copied: its planes are dav1d's own
/// buffers, held (reference-counted) until this value is dropped
/// (`Decoder::decode_pictures`). Always 8-bit 4:2:0 within `MAX_SIDE`.
pub struct Picture {
    pic: ffi::Dav1dPicture,
    width: u32,
    height: u32,
}

// SAFETY: once dav1d outputs a picture its planes are never written again;
// the reference is counted atomically and dav1d_picture_unref may run on any
// thread (dav1d's picture pool takes its own lock). Shared access only reads.
unsafe impl Send for Picture {}
// SAFETY: as above, `&Picture` only reads immutable planes.
unsafe impl Sync for Picture {}

impl std::fmt::Debug for Picture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Picture({}x{})", self.width, self.height)
    }
}

/// One plane of a `Picture`: `height` rows `stride` bytes apart, each
/// starting with `width` bytes of pixels.
#[derive(Debug, Clone, Copy)]
pub struct Plane<'a> {
    pub data: &'a [u8],
    pub stride: usize,
    pub width: usize,
    pub height: usize,
}

impl<'a> Plane<'a> {
    /// The pixels of row `y` (without the stride's padding).
    pub fn row(&self, y: usize) -> &'a [u8] {
        let start = y * self.stride;
        &self.data[start..start + self.width]
    }
}

impl Picture {
    /// Takes over a picture dav1d filled; refuses (and releases) anything
    /// but an 8-bit 4:2:0 picture whose planes fit their sizes.
    fn new(mut pic: ffi::Dav1dPicture) -> Result<Self, CodecError> {
        match check_picture(&pic) {
            Ok((width, height)) => Ok(Self { pic, width, height }),
            Err(e) => {
                // SAFETY: filled by dav1d_get_picture, released once here.
                unsafe { ffi::dav1d_picture_unref(&mut pic) };
                Err(e)
            }
        }
    }

    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }
    /// The timestamp its payload was sent with.
    pub fn pts_us(&self) -> u64 {
        u64::try_from(self.pic.m.timestamp).unwrap_or(0)
    }

    fn plane(&self, index: usize, width: u32, height: u32) -> Plane<'_> {
        let stride = self.pic.stride[index.min(1)] as usize;
        let (width, height) = (width as usize, height as usize);
        let len = stride * (height - 1) + width;
        // SAFETY: checked in `new`: the pointer is not null, the stride is
        // at least `width`, and dav1d's plane holds `height` rows of
        // `stride` bytes, alive and unchanged while we hold the reference.
        let data = unsafe { std::slice::from_raw_parts(self.pic.data[index].cast::<u8>(), len) };
        Plane {
            data,
            stride,
            width,
            height,
        }
    }

    pub fn y(&self) -> Plane<'_> {
        self.plane(0, self.width, self.height)
    }
    pub fn u(&self) -> Plane<'_> {
        let (cw, ch) = chroma_size(self.width, self.height);
        self.plane(1, cw, ch)
    }
    pub fn v(&self) -> Plane<'_> {
        let (cw, ch) = chroma_size(self.width, self.height);
        self.plane(2, cw, ch)
    }

    /// A tight copy of the planes.
    pub fn to_i420(&self) -> Result<I420Frame, CodecError> {
        I420Frame::from_planes(
            self.width,
            self.height,
            packed(self.y()),
            packed(self.u()),
            packed(self.v()),
        )
    }

    /// Converts straight from dav1d's planes into `dst` (same size), as a
    /// viewer draws: no I420 copy on the way.
    pub fn to_bgra_into(&self, dst: &mut BgraFrame) -> Result<(), CodecError> {
        let (y, u, v) = (self.y(), self.u(), self.v());
        yuv420_planes_to_bgra(
            [y.data, u.data, v.data],
            [y.stride, u.stride, v.stride],
            (self.width, self.height),
            dst,
        )
    }

    /// Converts into tight RGBA rows in `dst` (resized to fit): what a
    /// window's texture takes.
    pub fn to_rgba_into(&self, dst: &mut Vec<u8>) -> Result<(), CodecError> {
        let (y, u, v) = (self.y(), self.u(), self.v());
        yuv420_planes_to_rgba(
            [y.data, u.data, v.data],
            [y.stride, u.stride, v.stride],
            (self.width, self.height),
            dst,
        )
    }

    /// A fresh BGRA frame of the picture.
    pub fn to_bgra(&self) -> Result<BgraFrame, CodecError> {
        let mut out = BgraFrame::new(self.width, self.height)?;
        self.to_bgra_into(&mut out)?;
        Ok(out)
    }
}

impl Drop for Picture {
    fn drop(&mut self) {
        // SAFETY: filled by dav1d_get_picture, released once here.
        unsafe { ffi::dav1d_picture_unref(&mut self.pic) };
    }
}

/// The rows of `plane` without their padding.
fn packed(plane: Plane<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(plane.width * plane.height);
    for y in 0..plane.height {
        out.extend_from_slice(plane.row(y));
    }
    out
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
    /// a normal frame, none for a unit that shows nothing), each copied into
    /// a tight I420 frame. `decode_pictures` gives them without the copy.
    pub fn decode(
        &mut self,
        payload: impl Into<Bytes>,
        pts_us: u64,
    ) -> Result<Vec<DecodedFrame>, CodecError> {
        self.decode_pictures(payload, pts_us)?
            .iter()
            .map(|p| {
                Ok(DecodedFrame {
                    frame: p.to_i420()?,
                    pts_us: p.pts_us(),
                })
            })
            .collect()
    }

    /// Decodes one temporal unit; returns the pictures it completed as
    /// dav1d's own buffers, shared, not copied.
    pub fn decode_pictures(
        &mut self,
        payload: impl Into<Bytes>,
        pts_us: u64,
    ) -> Result<Vec<Picture>, CodecError> {
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
        out: &mut Vec<Picture>,
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

    fn take_pictures(&mut self, out: &mut Vec<Picture>) -> Result<(), CodecError> {
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
            out.push(Picture::new(pic)?);
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

/// The size of an 8-bit 4:2:0 picture whose planes are all there, or why not.
fn check_picture(p: &ffi::Dav1dPicture) -> Result<(u32, u32), CodecError> {
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
    let cw = chroma_size(w, h).0 as usize;
    let strides = [(p.stride[0], w as usize), (p.stride[1], cw)];
    if p.data.iter().any(|d| d.is_null())
        || strides
            .iter()
            .any(|&(stride, width)| usize::try_from(stride).map_or(true, |s| s < width))
    {
        return Err(CodecError::UnsupportedPicture(
            "plane smaller than its size".into(),
        ));
    }
    Ok((w, h))
}
