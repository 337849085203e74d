mod consent;
mod handshake;
mod malformed;
mod pair;
mod session;
mod transfer;
