//! Clipboard images between the desktop (RGBA pixels) and the wire (PNG):
//! both peers decode what the other side sent before using it, within
//! bounds, so a hostile PNG (a decompression bomb, a lie about its size)
//! is an error, never an allocation the size of its claim.

use std::path::Path;

use bytes::Bytes;
use secours_protocol::clipboard::ClipboardContent;
use secours_protocol::wire::validate::MAX_CLIPBOARD_IMAGE;

/// Largest side of a clipboard image, pixels.
pub const MAX_IMAGE_SIDE: u32 = 8192;
/// Largest decoded clipboard image, bytes of RGBA.
pub const MAX_IMAGE_PIXELS_BYTES: usize = 64 << 20;

/// Why an image could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// Not a PNG we read, or beyond the limits while decoding.
    #[error("not a usable PNG: {0}")]
    Png(String),
    /// Bigger than the limits.
    #[error("image of {width}x{height} ({bytes} bytes) exceeds the clipboard's limits")]
    TooLarge {
        /// Pixels across.
        width: u32,
        /// Pixels down.
        height: u32,
        /// Bytes (PNG or RGBA).
        bytes: usize,
    },
    /// Reading or writing the file failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Pixels, 8-bit RGBA, rows packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgba {
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
    /// `width * height * 4` bytes.
    pub data: Vec<u8>,
}

fn png_error(e: impl std::fmt::Display) -> ImageError {
    ImageError::Png(e.to_string())
}

/// Decodes a PNG to RGBA within the limits.
pub fn decode_png(png_bytes: &[u8]) -> Result<Rgba, ImageError> {
    if png_bytes.len() > MAX_CLIPBOARD_IMAGE {
        return Err(ImageError::TooLarge {
            width: 0,
            height: 0,
            bytes: png_bytes.len(),
        });
    }
    let mut decoder = png::Decoder::new_with_limits(
        png_bytes,
        png::Limits {
            bytes: MAX_IMAGE_PIXELS_BYTES,
        },
    );
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(png_error)?;
    let (width, height) = {
        let info = reader.info();
        (info.width, info.height)
    };
    let rgba_len = width as usize * height as usize * 4;
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || rgba_len > MAX_IMAGE_PIXELS_BYTES {
        return Err(ImageError::TooLarge {
            width,
            height,
            bytes: rgba_len,
        });
    }
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).map_err(png_error)?;
    let px = &buf[..frame.buffer_size()];
    let data = match frame.color_type {
        png::ColorType::Rgba => px.to_vec(),
        png::ColorType::Rgb => px
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        png::ColorType::GrayscaleAlpha => px
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0], p[1]])
            .collect(),
        png::ColorType::Grayscale => px.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        png::ColorType::Indexed => return Err(png_error("palette left after expansion")),
    };
    Ok(Rgba {
        width,
        height,
        data,
    })
}

/// Encodes RGBA as PNG.
pub fn encode_png(image: &Rgba) -> Result<Bytes, ImageError> {
    let expected = image.width as usize * image.height as usize * 4;
    if image.data.len() != expected {
        return Err(png_error("pixel buffer of the wrong size"));
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, image.width, image.height);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut writer = enc.write_header().map_err(png_error)?;
        writer.write_image_data(&image.data).map_err(png_error)?;
    }
    if out.len() > MAX_CLIPBOARD_IMAGE {
        return Err(ImageError::TooLarge {
            width: image.width,
            height: image.height,
            bytes: out.len(),
        });
    }
    Ok(Bytes::from(out))
}

/// Clipboard content from a PNG file (checked by decoding it).
pub fn content_from_png_file(path: &Path) -> Result<ClipboardContent, ImageError> {
    let len = std::fs::metadata(path)?.len();
    if len > MAX_CLIPBOARD_IMAGE as u64 {
        return Err(ImageError::TooLarge {
            width: 0,
            height: 0,
            bytes: usize::try_from(len).unwrap_or(usize::MAX),
        });
    }
    let bytes = std::fs::read(path)?;
    let image = decode_png(&bytes)?;
    Ok(ClipboardContent::Image {
        width: image.width,
        height: image.height,
        png: Bytes::from(bytes),
    })
}

/// Decodes a PNG from the peer and writes it to `path` re-encoded from its
/// pixels (nothing but pixels survives); returns its size.
pub fn save_png(png_bytes: &[u8], path: &Path) -> Result<(u32, u32), ImageError> {
    let image = decode_png(png_bytes)?;
    std::fs::write(path, encode_png(&image)?)?;
    Ok((image.width, image.height))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_pixels() {
        let image = Rgba {
            width: 3,
            height: 2,
            data: (0..24).collect(),
        };
        let png = encode_png(&image).unwrap();
        assert_eq!(decode_png(&png).unwrap(), image);
    }

    #[test]
    fn a_bomb_is_refused_before_it_is_allocated() {
        // A valid header claiming 100000 x 100000 pixels.
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, 1, 1);
            enc.set_color(png::ColorType::Rgba);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&[0; 4]).unwrap();
        }
        // IHDR's width and height sit at bytes 16..24; its CRC follows.
        out[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        out[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32fast::hash(&out[12..29]);
        out[29..33].copy_from_slice(&crc.to_be_bytes());
        assert!(decode_png(&out).is_err());
        assert!(decode_png(b"not a png").is_err());
    }
}
