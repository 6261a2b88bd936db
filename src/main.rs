//! The `govctl` binary: parse, set up logging, dispatch, render the final error.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use govctl::cli::{Cli, Command};
use govctl::error::{EXIT_ERROR, EXIT_FINDINGS, EXIT_INTERRUPTED, EXIT_OK, Error};
use govctl::ui::Ui;
use govctl::{change, config, cost, install, layers, ocu, org, remediate, sweep, tailscale};

fn main() -> ExitCode {
    // The config file feeds clap through the environment, so it is read before parsing.
    let args: Vec<OsString> = std::env::args_os().collect();
    let loaded = match config::load_into_env(&args) {
        Ok(loaded) => loaded,
        Err(error) => {
            render(&error);
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let cli = Cli::parse_from(args);
    init_logging(cli.verbose);
    // With --detailed-exitcode, 2 means "changes planned", so errors exit 1 instead.
    let error_code = match &cli.command {
        Command::Remediate(args) if remediate::errors_exit_1(args) => EXIT_FINDINGS,
        _ => EXIT_ERROR,
    };
    let ui = Ui::new(cli.quiet, cli.verbose);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };

    let outcome = runtime.block_on(async {
        tokio::select! {
            result = dispatch(cli.command, loaded.as_ref(), &ui) => Some(result),
            _ = tokio::signal::ctrl_c() => None,
        }
    });

    match outcome {
        Some(Ok(code)) => code,
        Some(Err(error)) if error.is_broken_pipe() => ExitCode::from(EXIT_OK),
        Some(Err(error)) => {
            render(&error);
            ExitCode::from(error_code)
        }
        None => {
            eprintln!("error: interrupted; no output file was written");
            ExitCode::from(EXIT_INTERRUPTED)
        }
    }
}

async fn dispatch(
    command: Command,
    loaded: Option<&config::Loaded>,
    ui: &Ui,
) -> Result<ExitCode, Error> {
    match command {
        Command::Layers(command) => layers::run(command, ui).await,
        Command::Org(command) => org::run(command, ui).await,
        Command::Remediate(args) => remediate::run(*args, ui).await,
        Command::Ocu(command) => ocu::run(command, ui).await,
        Command::Change(command) => change::commands::run(command, ui).await,
        Command::Plan(command) => change::commands::run_plan(command, ui).await,
        Command::Tailscale(command) => tailscale::run(command, ui).await,
        Command::Cost(command) => cost::run(command, ui).await,
        Command::Sweep(args) => {
            let file = loaded.map(|l| l.sweep.clone()).unwrap_or_default();
            sweep::run(*args, &file, ui).await
        }
        Command::Config(command) => config::run(command, loaded, ui).await,
        Command::Completions { shell } => install::completions(shell),
        Command::Man(args) => install::man(args),
    }
}

/// `-v` shows govctl's debug events, `-vv` everything at trace level; `RUST_LOG` wins.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "warn,govctl=debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn render(error: &Error) {
    eprintln!("error: {error}");
    if let Some(hint) = error.hint() {
        eprintln!("hint: {hint}");
    }
}
