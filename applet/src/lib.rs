//! secours-applet: the customer side's screen and input. Capture (X11 or a
//! synthetic screen) feeds the codec's `ScreenEncoder`; the cursor travels
//! apart from the video; input from the technician is injected with XTest.

pub mod capture;
pub mod error;
pub mod files_root;
pub mod input;
pub mod overlay;
pub mod session;
pub mod sysinfo;
pub mod window;
mod x11_screen;

pub use capture::synthetic::{Scene, SyntheticScreen};
pub use capture::x11::X11Capture;
pub use capture::{Captured, CursorImage, CursorPosition, ScreenCapture};
pub use error::AppletError;
pub use input::x11::X11Injector;
pub use input::{InputInjector, MouseButton, video_to_screen};

/// Whether X display `:n` is taken on this machine: its lock file names a
/// live process. A lock left by a server that was killed (SIGKILL leaves
/// it) does not count: the next X server on `:n` replaces it.
pub fn x_display_in_use(n: u32) -> bool {
    match std::fs::read_to_string(format!("/tmp/.X{n}-lock")) {
        Ok(pid) => pid.trim().parse::<u32>().map_or(true, |pid| {
            std::path::Path::new(&format!("/proc/{pid}")).exists()
        }),
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}
