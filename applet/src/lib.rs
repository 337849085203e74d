//! secours-applet: the customer side's screen and input. Capture (X11 or a
//! synthetic screen) feeds the codec's `ScreenEncoder`; the cursor travels
//! apart from the video; input from the technician is injected with XTest.

pub mod capture;
pub mod error;
pub mod files_root;
pub mod input;
pub mod session;
pub mod sysinfo;
mod x11_screen;

pub use capture::synthetic::{Scene, SyntheticScreen};
pub use capture::x11::X11Capture;
pub use capture::{Captured, CursorImage, CursorPosition, ScreenCapture};
pub use error::AppletError;
pub use input::x11::X11Injector;
pub use input::{InputInjector, MouseButton, video_to_screen};
