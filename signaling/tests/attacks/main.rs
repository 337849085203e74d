//! The standing attack suite (issue 16): each module attacks one class of
//! weakness the way an attacker would and asserts that the limit holds and
//! that other users keep being served meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod audit;
mod document;
mod forged;
mod hostile_text;
mod limits;
mod proxies;
mod reauth;
mod revocation;
mod scope_probe;
mod secrets;
mod throttles;
