//! The applet crate's error type.

use thiserror::Error;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AppletError {
    #[error("cannot connect to the X server: {0}")]
    Connect(#[from] x11rb::errors::ConnectError),
    #[error("X11 connection: {0}")]
    Connection(#[from] x11rb::errors::ConnectionError),
    #[error("X11 request failed: {0}")]
    Reply(#[from] x11rb::errors::ReplyError),
    #[error("X11 ids exhausted: {0}")]
    Ids(#[from] x11rb::errors::ReplyOrIdError),
    #[error("the X server lacks the {0} extension")]
    MissingExtension(&'static str),
    #[error("unsupported screen format: {0}")]
    Format(String),
    #[error("shared memory: {0}")]
    Shm(String),
    #[error("no key code for keysym {0:#x}")]
    NoKeycode(u32),
    #[error("position {x},{y} is outside the {width}x{height} screen")]
    OutOfScreen {
        x: i32,
        y: i32,
        width: u32,
        height: u32,
    },
    #[error(transparent)]
    Codec(#[from] secours_codec::CodecError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Closed(String),
}
