//! X11 capture with x11rb: the root window's image through MIT-SHM (plain
//! GetImage when the server has no SHM 1.2), what changed from XDamage,
//! the cursor's shape and position from XFixes. X11 images never contain
//! the cursor, so it never reaches the video.

use x11rb::connection::Connection;
use x11rb::protocol::damage::{self, ConnectionExt as _};
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xfixes::ConnectionExt as _;
use x11rb::protocol::xproto::{ConnectionExt as _, ImageFormat, ImageOrder, Window};
use x11rb::rust_connection::RustConnection;

use secours_codec::{BgraFrame, Rect};

use super::shm::ShmBuffer;
use super::{Captured, CursorImage, CursorPosition, MAX_CURSOR_SIDE, ScreenCapture};
use crate::error::AppletError;

/// Captures one X screen.
pub struct X11Capture {
    conn: RustConnection,
    root: Window,
    width: u16,
    height: u16,
    shm: Option<(ShmBuffer, shm::Seg)>,
    damage: Option<damage::Damage>,
    first: bool,
    cursor_serial: Option<u32>,
}

impl std::fmt::Debug for X11Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "X11Capture({}x{}, shm {}, damage {})",
            self.width,
            self.height,
            self.shm.is_some(),
            self.damage.is_some()
        )
    }
}

impl X11Capture {
    /// Connects to `display` (`None`: `$DISPLAY`).
    pub fn connect(display: Option<&str>) -> Result<Self, AppletError> {
        let crate::x11_screen::X11Screen {
            conn,
            root,
            width,
            height,
            depth,
        } = crate::x11_screen::open(display)?;
        let setup = conn.setup();
        let format = setup
            .pixmap_formats
            .iter()
            .find(|f| f.depth == depth)
            .ok_or_else(|| AppletError::Format(format!("no pixmap format for depth {depth}")))?;
        if format.bits_per_pixel != 32
            || setup.image_byte_order != ImageOrder::LSB_FIRST
            || depth < 24
        {
            return Err(AppletError::Format(format!(
                "depth {depth}, {} bits a pixel, {:?}: only 24/32-bit little-endian screens",
                format.bits_per_pixel, setup.image_byte_order
            )));
        }
        // XFixes is needed for regions (damage) and the cursor.
        conn.xfixes_query_version(5, 0)?.reply()?;
        let mut capture = Self {
            conn,
            root,
            width,
            height,
            shm: None,
            damage: None,
            first: true,
            cursor_serial: None,
        };
        capture.shm = capture.set_up_shm();
        capture.damage = capture.set_up_damage();
        tracing::info!(?capture, "X11 capture ready");
        Ok(capture)
    }

    /// Whether images come through MIT-SHM (else plain GetImage).
    pub fn uses_shm(&self) -> bool {
        self.shm.is_some()
    }

    /// Whether XDamage tells what changed (else whole frames are compared).
    pub fn uses_xdamage(&self) -> bool {
        self.damage.is_some()
    }

    fn set_up_shm(&self) -> Option<(ShmBuffer, shm::Seg)> {
        let attempt = || -> Result<(ShmBuffer, shm::Seg), AppletError> {
            let v = self.conn.shm_query_version()?.reply()?;
            if (v.major_version, v.minor_version) < (1, 2) {
                return Err(AppletError::MissingExtension("MIT-SHM 1.2"));
            }
            let size = usize::from(self.width) * usize::from(self.height) * 4;
            let buffer = ShmBuffer::new(size)?;
            let seg = self.conn.generate_id()?;
            self.conn
                .shm_attach_fd(seg, buffer.fd_for_server()?, false)?
                .check()?;
            Ok((buffer, seg))
        };
        attempt()
            .inspect_err(|e| tracing::warn!("MIT-SHM unavailable, using GetImage: {e}"))
            .ok()
    }

    fn set_up_damage(&self) -> Option<damage::Damage> {
        let attempt = || -> Result<damage::Damage, AppletError> {
            self.conn.damage_query_version(1, 1)?.reply()?;
            let d = self.conn.generate_id()?;
            self.conn
                .damage_create(d, self.root, damage::ReportLevel::NON_EMPTY)?
                .check()?;
            Ok(d)
        };
        attempt()
            .inspect_err(|e| tracing::warn!("XDamage unavailable, comparing whole frames: {e}"))
            .ok()
    }

    /// Rectangles damaged since the last call (and clears them).
    fn take_damage(&mut self) -> Result<Option<Vec<Rect>>, AppletError> {
        let Some(d) = self.damage else {
            return Ok(None);
        };
        // The events only say "something changed"; the region says where.
        while self.conn.poll_for_event()?.is_some() {}
        let region = self.conn.generate_id()?;
        self.conn.xfixes_create_region(region, &[])?;
        self.conn.damage_subtract(d, x11rb::NONE, region)?;
        let reply = self.conn.xfixes_fetch_region(region)?.reply()?;
        self.conn.xfixes_destroy_region(region)?;
        Ok(Some(
            reply
                .rectangles
                .iter()
                .filter_map(|r| {
                    Rect::new(
                        r.x.max(0) as u32,
                        r.y.max(0) as u32,
                        u32::from(r.width),
                        u32::from(r.height),
                    )
                    .clamp_to(u32::from(self.width), u32::from(self.height))
                })
                .collect(),
        ))
    }

    fn image(&self) -> Result<BgraFrame, AppletError> {
        let (w, h) = (self.width, self.height);
        let data = match &self.shm {
            Some((buffer, seg)) => {
                self.conn
                    .shm_get_image(
                        self.root,
                        0,
                        0,
                        w,
                        h,
                        !0,
                        ImageFormat::Z_PIXMAP.into(),
                        *seg,
                        0,
                    )?
                    .reply()?;
                buffer.bytes().to_vec()
            }
            None => {
                self.conn
                    .get_image(ImageFormat::Z_PIXMAP, self.root, 0, 0, w, h, !0)?
                    .reply()?
                    .data
            }
        };
        Ok(BgraFrame::from_parts(
            u32::from(w),
            u32::from(h),
            usize::from(w) * 4,
            data,
        )?)
    }

    fn cursor(&mut self) -> Result<(Option<CursorImage>, CursorPosition), AppletError> {
        let c = self.conn.xfixes_get_cursor_image()?.reply()?;
        let shape = if self.cursor_serial != Some(c.cursor_serial) {
            self.cursor_serial = Some(c.cursor_serial);
            cursor_image(
                c.cursor_serial,
                c.width,
                c.height,
                c.xhot,
                c.yhot,
                &c.cursor_image,
            )
        } else {
            None
        };
        let position = CursorPosition {
            shape_id: u64::from(c.cursor_serial),
            x: i32::from(c.x),
            y: i32::from(c.y),
            visible: true,
        };
        Ok((shape, position))
    }
}

/// XFixes' premultiplied ARGB words -> straight-alpha RGBA bytes, refused
/// past the protocol's 256x256.
fn cursor_image(
    serial: u32,
    width: u16,
    height: u16,
    xhot: u16,
    yhot: u16,
    argb: &[u32],
) -> Option<CursorImage> {
    let (w, h) = (u32::from(width), u32::from(height));
    if w == 0
        || h == 0
        || w > MAX_CURSOR_SIDE
        || h > MAX_CURSOR_SIDE
        || argb.len() < (w * h) as usize
    {
        return None;
    }
    let mut rgba = Vec::with_capacity((w * h * 4) as usize);
    for &p in &argb[..(w * h) as usize] {
        let a = (p >> 24) as u8;
        let un = |c: u32| -> u8 {
            let c = (c & 0xff) as u16;
            if a == 0 {
                0
            } else {
                (c * 255 / u16::from(a)).min(255) as u8
            }
        };
        rgba.extend_from_slice(&[un(p >> 16), un(p >> 8), un(p), a]);
    }
    Some(CursorImage {
        id: u64::from(serial),
        width: w,
        height: h,
        hotspot_x: u32::from(xhot).min(w - 1),
        hotspot_y: u32::from(yhot).min(h - 1),
        rgba,
    })
}

impl ScreenCapture for X11Capture {
    fn size(&self) -> (u32, u32) {
        (u32::from(self.width), u32::from(self.height))
    }

    fn capture(&mut self) -> Result<Captured, AppletError> {
        // Damage first, then the image: a change landing in between is in
        // the image and reported again next time, never lost.
        let hints = self.take_damage()?;
        let frame = self.image()?;
        let (cursor_shape, cursor) = self.cursor()?;
        let damage_hints = if std::mem::take(&mut self.first) {
            None
        } else {
            hints
        };
        Ok(Captured {
            frame,
            damage_hints,
            cursor_shape,
            cursor,
        })
    }
}

impl Drop for X11Capture {
    fn drop(&mut self) {
        if let Some((_, seg)) = &self.shm {
            let _ = self.conn.shm_detach(*seg);
        }
        if let Some(d) = self.damage {
            let _ = self.conn.damage_destroy(d);
        }
        let _ = self.conn.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_is_unpremultiplied_and_bounded() {
        let img = cursor_image(7, 2, 1, 5, 0, &[0x80_40_20_10, 0]).unwrap();
        assert_eq!(img.rgba, vec![0x7f, 0x3f, 0x1f, 0x80, 0, 0, 0, 0]);
        assert_eq!((img.hotspot_x, img.id), (1, 7));
        assert!(cursor_image(1, 300, 1, 0, 0, &vec![0; 300]).is_none());
        assert!(
            cursor_image(1, 4, 4, 0, 0, &[0; 3]).is_none(),
            "short image"
        );
    }
}
