//! The MIT-SHM segment the X server writes screen images into: a memfd
//! mapped here and passed to the server (SHM 1.2 `AttachFd`), so an image
//! costs one request and no copy through the socket.
#![allow(unsafe_code)]

use std::fs::File;
use std::os::fd::OwnedFd;

use memmap2::{Mmap, MmapOptions};
use rustix::fs::{MemfdFlags, ftruncate, memfd_create};

use crate::error::AppletError;

#[derive(Debug)]
pub(crate) struct ShmBuffer {
    file: File,
    map: Mmap,
}

impl ShmBuffer {
    pub(crate) fn new(size: usize) -> Result<Self, AppletError> {
        let fd: OwnedFd = memfd_create("secours-capture", MemfdFlags::CLOEXEC)
            .map_err(|e| AppletError::Shm(format!("memfd_create: {e}")))?;
        ftruncate(&fd, size as u64).map_err(|e| AppletError::Shm(format!("ftruncate: {e}")))?;
        let file = File::from(fd);
        // SAFETY: the file is a private memfd of exactly `size` bytes that
        // nobody truncates. Only the X server writes to it, and only while
        // this process waits for the reply to a ShmGetImage request; we read
        // it after the reply, so no read overlaps a write. Nothing here
        // creates a `&mut` to it.
        let map = unsafe { MmapOptions::new().len(size).map(&file) }
            .map_err(|e| AppletError::Shm(format!("mmap: {e}")))?;
        Ok(Self { file, map })
    }

    /// A descriptor for the X server (it keeps its own).
    pub(crate) fn fd_for_server(&self) -> Result<OwnedFd, AppletError> {
        Ok(OwnedFd::from(self.file.try_clone()?))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }
}
