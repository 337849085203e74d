//! Colour conversion (BGRA <-> I420, BT.709 limited range, what the encoders
//! signal in their sequence headers) with the `yuv` crate's SIMD paths, and
//! BGRA scaling with `fast_image_resize` for resolution adaptation.

use fast_image_resize as fir;
use yuv::{
    BufferStoreMut, YuvConversionMode, YuvPlanarImage, YuvPlanarImageMut, YuvRange,
    YuvStandardMatrix,
};

use crate::error::CodecError;
use crate::frame::{BgraFrame, I420Frame};

const RANGE: YuvRange = YuvRange::Limited;
const MATRIX: YuvStandardMatrix = YuvStandardMatrix::Bt709;

/// Converts `src` into `dst`, which must have the same size.
pub fn bgra_to_i420(src: &BgraFrame, dst: &mut I420Frame) -> Result<(), CodecError> {
    same_size(src.width(), src.height(), dst.width(), dst.height())?;
    let (width, height) = (dst.width(), dst.height());
    let (y_stride, c_stride) = (dst.y_stride() as u32, dst.chroma_stride() as u32);
    let mut planar = YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(&mut dst.y),
        y_stride,
        u_plane: BufferStoreMut::Borrowed(&mut dst.u),
        u_stride: c_stride,
        v_plane: BufferStoreMut::Borrowed(&mut dst.v),
        v_stride: c_stride,
        width,
        height,
    };
    yuv::bgra_to_yuv420(
        &mut planar,
        src.data(),
        src.stride() as u32,
        RANGE,
        MATRIX,
        YuvConversionMode::Balanced,
    )
    .map_err(|e| CodecError::Convert(e.to_string()))
}

/// Converts a fresh I420 frame out of `src`.
pub fn to_i420(src: &BgraFrame) -> Result<I420Frame, CodecError> {
    let mut out = I420Frame::new(src.width(), src.height())?;
    bgra_to_i420(src, &mut out)?;
    Ok(out)
}

/// Converts `src` into `dst`, which must have the same size.
pub fn i420_to_bgra(src: &I420Frame, dst: &mut BgraFrame) -> Result<(), CodecError> {
    yuv420_planes_to_bgra(
        [&src.y, &src.u, &src.v],
        [src.y_stride(), src.chroma_stride(), src.chroma_stride()],
        (src.width(), src.height()),
        dst,
    )
}

/// The `yuv` crate's view of three planes.
fn planar<'a>(
    planes: [&'a [u8]; 3],
    strides: [usize; 3],
    size: (u32, u32),
) -> Result<YuvPlanarImage<'a, u8>, CodecError> {
    let stride = |s: usize| u32::try_from(s).map_err(|_| CodecError::Convert("stride".into()));
    Ok(YuvPlanarImage {
        y_plane: planes[0],
        y_stride: stride(strides[0])?,
        u_plane: planes[1],
        u_stride: stride(strides[1])?,
        v_plane: planes[2],
        v_stride: stride(strides[2])?,
        width: size.0,
        height: size.1,
    })
}

/// Converts 4:2:0 planes (Y, U, V with their strides) of `size` into `dst`,
/// which must have that size: a decoded picture where the decoder left it.
pub fn yuv420_planes_to_bgra(
    planes: [&[u8]; 3],
    strides: [usize; 3],
    size: (u32, u32),
    dst: &mut BgraFrame,
) -> Result<(), CodecError> {
    same_size(size.0, size.1, dst.width(), dst.height())?;
    let planar = planar(planes, strides, size)?;
    let stride = dst.stride() as u32;
    yuv::yuv420_to_bgra(&planar, dst.data_mut(), stride, RANGE, MATRIX)
        .map_err(|e| CodecError::Convert(e.to_string()))
}

/// Converts 4:2:0 planes of `size` into tight RGBA rows (what a window
/// uploads as a texture); `dst` is resized to fit.
pub fn yuv420_planes_to_rgba(
    planes: [&[u8]; 3],
    strides: [usize; 3],
    size: (u32, u32),
    dst: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let planar = planar(planes, strides, size)?;
    dst.resize(size.0 as usize * size.1 as usize * 4, 0);
    yuv::yuv420_to_rgba(&planar, dst, size.0 * 4, RANGE, MATRIX)
        .map_err(|e| CodecError::Convert(e.to_string()))
}

/// Converts a fresh BGRA frame out of `src`.
pub fn to_bgra(src: &I420Frame) -> Result<BgraFrame, CodecError> {
    let mut out = BgraFrame::new(src.width(), src.height())?;
    i420_to_bgra(src, &mut out)?;
    Ok(out)
}

/// Scales BGRA pixels (bilinear; alpha is carried, not premultiplied).
#[derive(Default)]
pub struct Scaler {
    resizer: fir::Resizer,
}

impl std::fmt::Debug for Scaler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scaler")
    }
}

impl Scaler {
    pub fn scale(
        &mut self,
        src: &BgraFrame,
        width: u32,
        height: u32,
    ) -> Result<BgraFrame, CodecError> {
        if (width, height) == (src.width(), src.height()) {
            return Ok(src.clone());
        }
        let packed = src.packed();
        let from =
            fir::images::ImageRef::new(src.width(), src.height(), &packed, fir::PixelType::U8x4)
                .map_err(|e| CodecError::Scale(e.to_string()))?;
        let mut to = fir::images::Image::new(width, height, fir::PixelType::U8x4);
        let options = fir::ResizeOptions::new()
            .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Bilinear))
            .use_alpha(false);
        self.resizer
            .resize(&from, &mut to, &options)
            .map_err(|e| CodecError::Scale(e.to_string()))?;
        BgraFrame::from_parts(width, height, width as usize * 4, to.into_vec())
    }
}

fn same_size(w: u32, h: u32, dw: u32, dh: u32) -> Result<(), CodecError> {
    if (w, h) != (dw, dh) {
        return Err(CodecError::SizeMismatch {
            want_w: dw,
            want_h: dh,
            got_w: w,
            got_h: h,
        });
    }
    Ok(())
}

/// PSNR of the Y planes of two frames of one size, in dB (capped at 100 for
/// identical planes).
pub fn psnr_y(a: &I420Frame, b: &I420Frame) -> Result<f64, CodecError> {
    same_size(a.width(), a.height(), b.width(), b.height())?;
    let sse: u64 =
        a.y.iter()
            .zip(&b.y)
            .map(|(&p, &q)| {
                let d = i64::from(p) - i64::from(q);
                (d * d) as u64
            })
            .sum();
    if sse == 0 {
        return Ok(100.0);
    }
    let mse = sse as f64 / a.y.len() as f64;
    Ok(10.0 * (255.0f64 * 255.0 / mse).log10())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Rect;

    #[test]
    fn round_trip_keeps_colours_close() {
        let mut f = BgraFrame::new(64, 32).unwrap();
        f.fill_rect(Rect::new(0, 0, 32, 32), [30, 200, 90, 255]);
        f.fill_rect(Rect::new(32, 0, 32, 32), [250, 250, 250, 255]);
        let yuv = to_i420(&f).unwrap();
        let back = to_bgra(&yuv).unwrap();
        for (x, y) in [(5, 5), (40, 20)] {
            let (p, q) = (f.pixel(x, y), back.pixel(x, y));
            for c in 0..3 {
                assert!(
                    (i32::from(p[c]) - i32::from(q[c])).abs() <= 3,
                    "{p:?} vs {q:?}"
                );
            }
        }
    }

    #[test]
    fn strided_source_converts_like_packed() {
        let mut packed = BgraFrame::new(30, 10).unwrap();
        packed.fill_rect(Rect::new(3, 3, 10, 5), [10, 20, 30, 255]);
        let mut data = vec![0u8; 128 * 10];
        for y in 0..10 {
            data[y * 128..y * 128 + 120].copy_from_slice(packed.row(y as u32));
        }
        let strided = BgraFrame::from_parts(30, 10, 128, data).unwrap();
        assert_eq!(to_i420(&packed).unwrap(), to_i420(&strided).unwrap());
    }

    #[test]
    fn scale_halves() {
        let mut f = BgraFrame::new(64, 64).unwrap();
        f.fill_rect(Rect::new(0, 0, 64, 64), [0, 0, 255, 255]);
        let s = Scaler::default().scale(&f, 32, 32).unwrap();
        assert_eq!((s.width(), s.height()), (32, 32));
        assert_eq!(s.pixel(10, 10), [0, 0, 255, 255]);
    }

    #[test]
    fn psnr_of_identical_is_capped() {
        let a = I420Frame::new(16, 16).unwrap();
        assert_eq!(psnr_y(&a, &a).unwrap(), 100.0);
    }
}
