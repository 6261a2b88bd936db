//! govctl: multi-account AWS governance and remediation.
//!
//! The binary in `main.rs` only parses arguments, sets up logging and renders errors; every
//! command lives in the module of the noun it acts on and is an `async fn run`.

pub mod aws;
pub mod change;
pub mod cli;
pub mod config;
pub mod cost;
pub mod error;
pub mod install;
pub mod layers;
pub mod ocu;
pub mod org;
pub mod output;
pub mod remediate;
pub mod stacksets;
pub mod sweep;
pub mod tailscale;
pub mod targets;
pub mod ui;
