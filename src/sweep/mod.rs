//! `govctl sweep`.

pub mod html;
