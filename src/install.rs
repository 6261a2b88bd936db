//! What an installation needs besides the binary: shell completions and man pages.
//!
//! Both are generated from the clap tree at run time rather than kept as files, so they can
//! never describe another version of the command line than the binary that prints them.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::error::{EXIT_OK, Error, Result};

/// Prints the completion script for `shell` to stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut stdout = std::io::stdout();
    clap_complete::generate(shell, &mut Cli::command(), "govctl", &mut stdout);
    stdout.flush()?;
    Ok(ExitCode::from(EXIT_OK))
}

/// Prints `govctl(1)` to stdout, or writes a page per command into `--out-dir`.
pub fn man(args: ManArgs) -> Result<ExitCode> {
    match &args.out_dir {
        None => {
            let mut stdout = std::io::stdout().lock();
            clap_mangen::Man::new(Cli::command()).render(&mut stdout)?;
            stdout.flush()?;
        }
        Some(dir) => write_pages(dir)?,
    }
    Ok(ExitCode::from(EXIT_OK))
}

fn write_pages(dir: &Path) -> Result<()> {
    let write_error = |source| Error::Write {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(write_error)?;
    clap_mangen::generate_to(Cli::command(), dir).map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_gets_a_page() {
        let dir = tempfile::tempdir().unwrap();
        write_pages(dir.path()).unwrap();
        for page in ["govctl.1", "govctl-layers-report.1", "govctl-remediate.1"] {
            let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
            assert!(text.starts_with(".ie"), "{page} is roff: {}", &text[..40]);
            assert!(text.contains(".SH NAME"), "{page}");
        }
    }
}
