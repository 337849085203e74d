//! The customer's screen on the technician's side: dav1d decodes every
//! frame (everything in it came from the network and is bounded by the
//! decoder), the newest picture is kept, and a snapshot writes it as PNG.

use std::path::Path;

use secours_codec::convert::to_bgra;
use secours_codec::{CodecError, Decoder, I420Frame};
use secours_protocol::pb;

/// Why a picture could not be shown or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ViewerError {
    /// The decoder refused a frame.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Nothing was decoded yet.
    #[error("no picture decoded yet")]
    NoPicture,
    /// Writing the PNG failed.
    #[error("writing the snapshot: {0}")]
    Png(String),
}

/// Decoder and newest picture of one session.
#[derive(Debug)]
pub struct Viewer {
    decoder: Decoder,
    newest: Option<I420Frame>,
    /// Pictures decoded.
    pub decoded: u64,
    /// Bytes of video received.
    pub bytes: u64,
}

impl Viewer {
    /// A viewer with dav1d on `threads` threads (0: one per core).
    pub fn new(threads: u32) -> Result<Self, ViewerError> {
        Ok(Self {
            decoder: Decoder::new(threads)?,
            newest: None,
            decoded: 0,
            bytes: 0,
        })
    }

    /// Decodes one video frame; the size of the picture it made, if any.
    pub fn on_frame(&mut self, v: &pb::VideoFrame) -> Result<Option<(u32, u32)>, ViewerError> {
        self.bytes += v.payload.len() as u64;
        let mut size = None;
        for p in self.decoder.decode(v.payload.clone(), v.capture_time_us)? {
            self.decoded += 1;
            size = Some((p.frame.width(), p.frame.height()));
            self.newest = Some(p.frame);
        }
        Ok(size)
    }

    /// The newest picture's size.
    pub fn size(&self) -> Option<(u32, u32)> {
        self.newest.as_ref().map(|f| (f.width(), f.height()))
    }

    /// Writes the newest picture as an RGBA PNG.
    pub fn snapshot(&self, path: &Path) -> Result<(u32, u32), ViewerError> {
        let frame = self.newest.as_ref().ok_or(ViewerError::NoPicture)?;
        let bgra = to_bgra(frame)?;
        let (w, h) = (bgra.width(), bgra.height());
        let mut rgba = Vec::with_capacity(w as usize * h as usize * 4);
        for row in bgra.data().chunks(bgra.stride()).take(h as usize) {
            for px in row[..w as usize * 4].chunks_exact(4) {
                rgba.extend_from_slice(&[px[2], px[1], px[0], 255]);
            }
        }
        let file = std::fs::File::create(path).map_err(|e| ViewerError::Png(e.to_string()))?;
        let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc
            .write_header()
            .map_err(|e| ViewerError::Png(e.to_string()))?;
        writer
            .write_image_data(&rgba)
            .map_err(|e| ViewerError::Png(e.to_string()))?;
        Ok((w, h))
    }
}
