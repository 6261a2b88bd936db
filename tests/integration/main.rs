//! govctl as a user sees it: the real binary against the local AWS emulator.
//!
//! One emulator is started per test run and seeded once with the `test` scenario (see
//! `tests/emulator/seed.py`); tests only read from it. Tests that need another state start
//! their own emulator.

mod common;
mod config;
mod cost_report;
mod credentials;
mod errors;
mod faults;
mod layers_report;
mod ocu;
mod org_accounts;
mod remediate;
mod sweep;
mod tailscale;
