//! Lambda layers across the organization: which functions run outdated layer versions.

pub mod arn;
pub mod discovery;
pub mod listing;
pub mod policy;
pub mod query;
pub mod report;
pub mod versions;

use std::process::ExitCode;

use crate::cli::LayersCommand;
use crate::error::Result;
use crate::ui::Ui;

pub async fn run(command: LayersCommand, ui: &Ui) -> Result<ExitCode> {
    match command {
        LayersCommand::Report(args) => report::run(args, ui).await,
    }
}
