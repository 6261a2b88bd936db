//! The change-request gate every change govctl makes goes through.
//!
//! A change is planned into a sealed file ([`plan`]), approved against that file's digest,
//! and applied only when the plan is intact, unexpired, from the caller's account, approved,
//! not yet applied and still true of the world.

pub mod audit;
pub mod commands;
pub mod gate;
pub mod plan;
pub mod record;
