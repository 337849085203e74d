//! libaom in real-time mode (what WebRTC and RustDesk use): no lag, screen
//! content tuning with palette, row multithreading, CBR with the target
//! bitrate changeable between frames, keyframes on request.
//!
//! This is the crate's one FFI module; every `unsafe` block says why it holds.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::raw::{c_int, c_long, c_ulong};

use libaom_sys as ffi;

use super::{Backend, Encoder, EncoderSettings, Packet, check_frame};
use crate::error::CodecError;
use crate::frame::I420Frame;

/// Real-time speed: 10 is the fastest libaom 3.11 offers in real-time mode.
const CPU_USED: c_int = 10;

pub(crate) struct AomEncoder {
    // Boxed: libaom's private state is reached through the context, which
    // must not move once initialised.
    ctx: Box<ffi::aom_codec_ctx_t>,
    cfg: ffi::aom_codec_enc_cfg_t,
    settings: EncoderSettings,
    last_pts: Option<i64>,
}

// SAFETY: the context is owned by this value alone and only used through
// `&mut self`; libaom keeps no thread-local state.
unsafe impl Send for AomEncoder {}

impl std::fmt::Debug for AomEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AomEncoder({:?})", self.settings)
    }
}

fn err(message: impl Into<String>) -> CodecError {
    CodecError::Encoder {
        backend: "aom",
        message: message.into(),
    }
}

impl AomEncoder {
    pub(crate) fn new(settings: EncoderSettings) -> Result<Self, CodecError> {
        // SAFETY: returns a pointer to a static interface table.
        let iface = unsafe { ffi::aom_codec_av1_cx() };
        let mut cfg = MaybeUninit::<ffi::aom_codec_enc_cfg_t>::zeroed();
        // SAFETY: `cfg` is valid writable memory of the right type.
        let rc = unsafe {
            ffi::aom_codec_enc_config_default(iface, cfg.as_mut_ptr(), ffi::AOM_USAGE_REALTIME)
        };
        if rc != ffi::AOM_CODEC_OK {
            return Err(err(format!("no default configuration (error {rc})")));
        }
        // SAFETY: filled in by aom_codec_enc_config_default, which succeeded.
        let mut cfg = unsafe { cfg.assume_init() };
        let threads = settings.thread_count();
        cfg.g_w = settings.width;
        cfg.g_h = settings.height;
        cfg.g_threads = threads as u32;
        cfg.g_timebase = ffi::aom_rational {
            num: 1,
            den: 1_000_000,
        };
        cfg.g_lag_in_frames = 0;
        cfg.g_pass = ffi::AOM_RC_ONE_PASS;
        cfg.g_error_resilient = 0;
        cfg.rc_end_usage = ffi::AOM_CBR;
        cfg.rc_target_bitrate = settings.bitrate_kbps.max(1);
        cfg.rc_min_quantizer = 4;
        cfg.rc_max_quantizer = 56;
        cfg.rc_undershoot_pct = 50;
        cfg.rc_overshoot_pct = 50;
        cfg.rc_buf_initial_sz = 600;
        cfg.rc_buf_optimal_sz = 600;
        cfg.rc_buf_sz = 1000;
        // Never drop a frame: the pipeline only encodes frames that changed.
        cfg.rc_dropframe_thresh = 0;
        // Keyframes come on request (KeyframeRequest, a new viewer, a
        // recording); a periodic one bounds how far a recording must be read
        // back to seek.
        cfg.kf_mode = ffi::AOM_KF_AUTO;
        cfg.kf_min_dist = 0;
        cfg.kf_max_dist = 3000;

        // SAFETY: an all-zero context is the documented "uninitialised" state.
        let mut ctx: Box<ffi::aom_codec_ctx_t> =
            Box::new(unsafe { MaybeUninit::zeroed().assume_init() });
        // SAFETY: ctx, iface and cfg are valid for the call.
        let rc = unsafe {
            ffi::aom_codec_enc_init_ver(
                &mut *ctx,
                iface,
                &cfg,
                0,
                ffi::AOM_ENCODER_ABI_VERSION as c_int,
            )
        };
        if rc != ffi::AOM_CODEC_OK {
            return Err(err(format!("initialisation failed (error {rc})")));
        }
        let mut enc = Self {
            ctx,
            cfg,
            settings,
            last_pts: None,
        };
        // Tiles let row-mt and the decoder use both cores at 1080p.
        let tile_cols_log2 = if settings.width >= 1280 && threads >= 2 {
            1
        } else {
            0
        };
        enc.control(ffi::AOME_SET_CPUUSED, CPU_USED)?;
        enc.control(ffi::AV1E_SET_TUNE_CONTENT, ffi::AOM_CONTENT_SCREEN as c_int)?;
        enc.control(ffi::AV1E_SET_ENABLE_PALETTE, 1)?;
        enc.control(ffi::AV1E_SET_ROW_MT, 1)?;
        enc.control(ffi::AV1E_SET_TILE_COLUMNS, tile_cols_log2)?;
        // Cyclic refresh: the adaptive quantisation real-time CBR is built for.
        enc.control(ffi::AV1E_SET_AQ_MODE, 3)?;
        enc.control(ffi::AV1E_SET_ENABLE_TPL_MODEL, 0)?;
        enc.control(ffi::AV1E_SET_DELTAQ_MODE, 0)?;
        enc.control(ffi::AV1E_SET_ENABLE_ORDER_HINT, 0)?;
        enc.control(ffi::AV1E_SET_ENABLE_GLOBAL_MOTION, 0)?;
        enc.control(ffi::AV1E_SET_ENABLE_WARPED_MOTION, 0)?;
        enc.control(ffi::AV1E_SET_ENABLE_OBMC, 0)?;
        enc.control(ffi::AV1E_SET_ENABLE_REF_FRAME_MVS, 0)?;
        enc.control(ffi::AV1E_SET_NOISE_SENSITIVITY, 0)?;
        // Signal what convert.rs produces: BT.709, limited range.
        enc.control(ffi::AV1E_SET_COLOR_PRIMARIES, 1)?;
        enc.control(ffi::AV1E_SET_TRANSFER_CHARACTERISTICS, 1)?;
        enc.control(ffi::AV1E_SET_MATRIX_COEFFICIENTS, 1)?;
        enc.control(ffi::AV1E_SET_COLOR_RANGE, 0)?;
        Ok(enc)
    }

    fn control(&mut self, id: ffi::aome_enc_control_id, value: c_int) -> Result<(), CodecError> {
        // SAFETY: every control used here takes one int argument.
        let rc = unsafe { ffi::aom_codec_control(&mut *self.ctx, id as c_int, value) };
        if rc != ffi::AOM_CODEC_OK {
            return Err(err(format!(
                "control {id} = {value}: {}",
                self.last_error()
            )));
        }
        Ok(())
    }

    fn last_error(&self) -> String {
        // SAFETY: the context is initialised; the strings are static or owned
        // by the context and copied before the next call.
        unsafe {
            let detail = ffi::aom_codec_error_detail(&*self.ctx);
            let text = if detail.is_null() {
                ffi::aom_codec_error(&*self.ctx)
            } else {
                detail
            };
            if text.is_null() {
                return "unknown error".into();
            }
            CStr::from_ptr(text).to_string_lossy().into_owned()
        }
    }

    fn drain(&mut self, pts_us: u64) -> Vec<Packet> {
        let mut out = Vec::new();
        let mut iter: ffi::aom_codec_iter_t = std::ptr::null();
        loop {
            // SAFETY: the context is initialised; the iterator is libaom's.
            let pkt = unsafe { ffi::aom_codec_get_cx_data(&mut *self.ctx, &mut iter) };
            if pkt.is_null() {
                break;
            }
            // SAFETY: libaom returned a valid packet, alive until the next
            // call on the context; its data is copied out before that.
            let pkt = unsafe { &*pkt };
            if pkt.kind != ffi::AOM_CODEC_CX_FRAME_PKT {
                continue;
            }
            // SAFETY: `kind` says the union holds a frame.
            let frame = unsafe { pkt.data.frame };
            if frame.buf.is_null() || frame.sz == 0 {
                continue;
            }
            // SAFETY: buf points to sz bytes owned by the encoder.
            let data = unsafe { std::slice::from_raw_parts(frame.buf.cast::<u8>(), frame.sz) };
            out.push(Packet {
                data: data.to_vec(),
                keyframe: frame.flags & ffi::AOM_FRAME_IS_KEY != 0,
                // Lag 0: what comes out encodes the frame just given.
                pts_us,
            });
        }
        out
    }
}

impl Encoder for AomEncoder {
    fn backend(&self) -> Backend {
        Backend::Aom
    }

    fn size(&self) -> (u32, u32) {
        (self.settings.width, self.settings.height)
    }

    fn encode(
        &mut self,
        frame: &I420Frame,
        pts_us: u64,
        keyframe: bool,
    ) -> Result<Vec<Packet>, CodecError> {
        check_frame(&self.settings, frame)?;
        let mut img = MaybeUninit::<ffi::aom_image_t>::zeroed();
        // SAFETY: wraps (does not copy) the Y plane; planes and strides are
        // then pointed at this frame's three planes, alive for the call.
        // libaom only reads an input image.
        let wrapped = unsafe {
            ffi::aom_img_wrap(
                img.as_mut_ptr(),
                ffi::AOM_IMG_FMT_I420,
                frame.width(),
                frame.height(),
                1,
                frame.y.as_ptr().cast_mut(),
            )
        };
        if wrapped.is_null() {
            return Err(err("cannot wrap the input image"));
        }
        // SAFETY: initialised by aom_img_wrap, which succeeded.
        let mut img = unsafe { img.assume_init() };
        img.planes = [
            frame.y.as_ptr().cast_mut(),
            frame.u.as_ptr().cast_mut(),
            frame.v.as_ptr().cast_mut(),
        ];
        img.stride = [
            frame.y_stride() as c_int,
            frame.chroma_stride() as c_int,
            frame.chroma_stride() as c_int,
        ];
        // libaom wants strictly increasing timestamps.
        let pts = i64::try_from(pts_us).unwrap_or(i64::MAX);
        let pts = match self.last_pts {
            Some(last) if pts <= last => last + 1,
            _ => pts,
        };
        self.last_pts = Some(pts);
        let duration = (1_000_000 / self.settings.fps.max(1)) as c_ulong;
        let flags: c_long = if keyframe {
            ffi::AOM_EFLAG_FORCE_KF as c_long
        } else {
            0
        };
        // SAFETY: context initialised, image valid for the call.
        let rc = unsafe { ffi::aom_codec_encode(&mut *self.ctx, &img, pts, duration, flags) };
        if rc != ffi::AOM_CODEC_OK {
            return Err(err(self.last_error()));
        }
        Ok(self.drain(pts_us))
    }

    fn set_bitrate(&mut self, kbps: u32) -> Result<(), CodecError> {
        self.cfg.rc_target_bitrate = kbps.max(1);
        // SAFETY: context initialised; cfg is the one it was made with.
        let rc = unsafe { ffi::aom_codec_enc_config_set(&mut *self.ctx, &self.cfg) };
        if rc != ffi::AOM_CODEC_OK {
            return Err(err(self.last_error()));
        }
        self.settings.bitrate_kbps = kbps.max(1);
        Ok(())
    }

    fn bitrate_kbps(&self) -> u32 {
        self.settings.bitrate_kbps
    }

    fn held_frames(&self) -> usize {
        0
    }

    fn flush(&mut self) -> Result<Vec<Packet>, CodecError> {
        // Lag 0: nothing is ever held.
        Ok(Vec::new())
    }
}

impl Drop for AomEncoder {
    fn drop(&mut self) {
        // SAFETY: the context was initialised in `new` and is destroyed once.
        unsafe {
            ffi::aom_codec_destroy(&mut *self.ctx);
        }
    }
}
