//! Frames as the pipeline sees them: captured BGRA with a stride, and the
//! planar 4:2:0 the encoders take and the decoder gives back.

use crate::error::CodecError;

/// Largest side accepted anywhere in the pipeline (the protocol's limit).
pub const MAX_SIDE: u32 = 16_384;

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    pub const fn new(x: u32, y: u32, width: u32, height: u32) -> Self {
        Self {
            x,
            y,
            width,
            height,
        }
    }

    pub fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// This rectangle cut to a `width` x `height` screen; `None` when nothing is left.
    pub fn clamp_to(&self, width: u32, height: u32) -> Option<Rect> {
        let x1 = self.x.saturating_add(self.width).min(width);
        let y1 = self.y.saturating_add(self.height).min(height);
        (self.x < x1 && self.y < y1).then(|| Rect::new(self.x, self.y, x1 - self.x, y1 - self.y))
    }
}

fn check_size(width: u32, height: u32) -> Result<(), CodecError> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(CodecError::BadSize { width, height });
    }
    Ok(())
}

/// A screen image, 4 bytes a pixel in B, G, R, A order (X11's and Windows'
/// native order), rows `stride` bytes apart.
#[derive(Clone, PartialEq, Eq)]
pub struct BgraFrame {
    width: u32,
    height: u32,
    stride: usize,
    data: Vec<u8>,
}

impl std::fmt::Debug for BgraFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BgraFrame({}x{}, stride {})",
            self.width, self.height, self.stride
        )
    }
}

impl BgraFrame {
    /// A black, opaque frame.
    pub fn new(width: u32, height: u32) -> Result<Self, CodecError> {
        check_size(width, height)?;
        let stride = width as usize * 4;
        let mut data = vec![0u8; stride * height as usize];
        for px in data.chunks_exact_mut(4) {
            px[3] = 255;
        }
        Ok(Self {
            width,
            height,
            stride,
            data,
        })
    }

    /// Wraps pixels from a capture; refuses a buffer too short for its stride.
    pub fn from_parts(
        width: u32,
        height: u32,
        stride: usize,
        data: Vec<u8>,
    ) -> Result<Self, CodecError> {
        check_size(width, height)?;
        let row = width as usize * 4;
        let needed = stride * (height as usize - 1) + row;
        if stride < row || data.len() < needed {
            return Err(CodecError::BadBuffer {
                expected: needed,
                got: data.len(),
            });
        }
        Ok(Self {
            width,
            height,
            stride,
            data,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }
    pub fn stride(&self) -> usize {
        self.stride
    }
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// The pixels of row `y` (without the stride's padding).
    pub fn row(&self, y: u32) -> &[u8] {
        let start = y as usize * self.stride;
        &self.data[start..start + self.width as usize * 4]
    }

    pub fn row_mut(&mut self, y: u32) -> &mut [u8] {
        let start = y as usize * self.stride;
        let len = self.width as usize * 4;
        &mut self.data[start..start + len]
    }

    /// Bytes `x..x + w` pixels of row `y`.
    pub fn span(&self, x: u32, y: u32, w: u32) -> &[u8] {
        let start = y as usize * self.stride + x as usize * 4;
        &self.data[start..start + w as usize * 4]
    }

    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = y as usize * self.stride + x as usize * 4;
        [
            self.data[i],
            self.data[i + 1],
            self.data[i + 2],
            self.data[i + 3],
        ]
    }

    /// Paints `rect` (cut to the frame) with one BGRA colour.
    pub fn fill_rect(&mut self, rect: Rect, bgra: [u8; 4]) {
        let Some(r) = rect.clamp_to(self.width, self.height) else {
            return;
        };
        for y in r.y..r.y + r.height {
            let start = y as usize * self.stride + r.x as usize * 4;
            for px in self.data[start..start + r.width as usize * 4].chunks_exact_mut(4) {
                px.copy_from_slice(&bgra);
            }
        }
    }

    /// Copies `rect` of `src` (same size as `self`) into `self`.
    pub fn copy_rect_from(&mut self, src: &BgraFrame, rect: Rect) {
        let Some(r) = rect.clamp_to(self.width.min(src.width), self.height.min(src.height)) else {
            return;
        };
        for y in r.y..r.y + r.height {
            let from = src.span(r.x, y, r.width);
            let start = y as usize * self.stride + r.x as usize * 4;
            self.data[start..start + from.len()].copy_from_slice(from);
        }
    }

    /// The same pixels with rows packed (stride = width * 4).
    pub fn packed(&self) -> std::borrow::Cow<'_, [u8]> {
        let row = self.width as usize * 4;
        if self.stride == row {
            return std::borrow::Cow::Borrowed(&self.data[..row * self.height as usize]);
        }
        let mut out = Vec::with_capacity(row * self.height as usize);
        for y in 0..self.height {
            out.extend_from_slice(self.row(y));
        }
        std::borrow::Cow::Owned(out)
    }
}

/// 8-bit planar YUV 4:2:0 with tight strides: Y is `width` wide, U and V are
/// `(width + 1) / 2` wide and `(height + 1) / 2` high.
#[derive(Clone, PartialEq, Eq)]
pub struct I420Frame {
    width: u32,
    height: u32,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl std::fmt::Debug for I420Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "I420Frame({}x{})", self.width, self.height)
    }
}

impl I420Frame {
    pub fn new(width: u32, height: u32) -> Result<Self, CodecError> {
        check_size(width, height)?;
        let (cw, ch) = chroma_size(width, height);
        Ok(Self {
            width,
            height,
            y: vec![16; width as usize * height as usize],
            u: vec![128; cw as usize * ch as usize],
            v: vec![128; cw as usize * ch as usize],
        })
    }

    /// Wraps planes read from elsewhere (a clip, a raw file); sizes must match.
    pub fn from_planes(
        width: u32,
        height: u32,
        y: Vec<u8>,
        u: Vec<u8>,
        v: Vec<u8>,
    ) -> Result<Self, CodecError> {
        check_size(width, height)?;
        let (cw, ch) = chroma_size(width, height);
        let luma = width as usize * height as usize;
        let chroma = cw as usize * ch as usize;
        if y.len() != luma || u.len() != chroma || v.len() != chroma {
            return Err(CodecError::BadBuffer {
                expected: luma + 2 * chroma,
                got: y.len() + u.len() + v.len(),
            });
        }
        Ok(Self {
            width,
            height,
            y,
            u,
            v,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }
    pub fn y_stride(&self) -> usize {
        self.width as usize
    }
    pub fn chroma_stride(&self) -> usize {
        chroma_size(self.width, self.height).0 as usize
    }
    pub fn chroma_height(&self) -> u32 {
        chroma_size(self.width, self.height).1
    }
}

/// Size of a 4:2:0 chroma plane.
pub fn chroma_size(width: u32, height: u32) -> (u32, u32) {
    (width.div_ceil(2), height.div_ceil(2))
}
