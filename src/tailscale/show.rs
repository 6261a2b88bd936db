//! Tailscale rotation plans for people: which secrets, which keys they replace, the
//! tokens, and what the apply will do.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;

use super::plan::{Inputs, PlannedRotation, rotations_of};
use crate::change::plan::Plan;
use crate::cli::PlanShowArgs;
use crate::error::{EXIT_OK, Result};
use crate::ui::Ui;

/// `govctl plan show FILE` for a Tailscale rotation plan. `--notice` has no owners'
/// notice to print here: the plan is shown as it is.
pub async fn run(args: PlanShowArgs, ui: &Ui) -> Result<ExitCode> {
    let plan = Plan::load(&args.file)?;
    if let Err(error) = plan.check_digest() {
        ui.warn(format!(
            "{error}; showing it anyway, but it will not be applied"
        ));
    }
    if args.notice {
        ui.warn("a Tailscale rotation plan has no owners' notice; showing the plan");
    }
    let (inputs, rotations) = rotations_of(&plan, &args.file)?;
    let mut stdout = std::io::stdout().lock();
    render(&plan, &inputs, &rotations, &mut stdout)?;
    stdout.flush()?;
    Ok(ExitCode::from(EXIT_OK))
}

/// "at once", or "10m after the new key is AWSCURRENT".
pub fn grace_words(grace: i64) -> String {
    if grace <= 0 {
        return "as soon as the new key is AWSCURRENT".into();
    }
    let (n, unit) = if grace % 86_400 == 0 {
        (grace / 86_400, "d")
    } else if grace % 3600 == 0 {
        (grace / 3600, "h")
    } else if grace % 60 == 0 {
        (grace / 60, "m")
    } else {
        (grace, "s")
    };
    format!("{n}{unit} after the new key is AWSCURRENT")
}

pub fn render(
    plan: &Plan,
    inputs: &Inputs,
    rotations: &[PlannedRotation],
    out: &mut dyn Write,
) -> Result<()> {
    plan.write_header(out)?;
    writeln!(out, "  Tailscale {}", inputs.tailscale_api_url)?;
    writeln!(
        out,
        "  old keys  revoked {}",
        grace_words(inputs.grace_seconds)
    )?;
    writeln!(out)?;

    let mut last: Option<(&str, &str)> = None;
    for r in rotations {
        let here = (r.account_id.as_str(), r.region.as_str());
        if last != Some(here) {
            writeln!(out, "account {}, {}", r.account_id, r.region)?;
            last = Some(here);
        }
        writeln!(out, "  ~ {} ({})", r.secret_name, r.state)?;
        let expires = r.current_key_expires.as_deref().unwrap_or("unknown");
        writeln!(
            out,
            "      now     version {}, key {} (expires {expires})",
            r.current_version_id, r.current_key_id
        )?;
        writeln!(
            out,
            "      new     version {} (ClientRequestToken), minted by {} with {}",
            r.client_request_token,
            r.oauth_secret,
            r.tags.join(",")
        )?;
        if let Some(stray) = &r.stray_pending_version_id {
            writeln!(
                out,
                "      stray   AWSPENDING version {stray}: replaced, and its key revoked too"
            )?;
        }
    }
    writeln!(out)?;

    let accounts: BTreeSet<&str> = rotations.iter().map(|r| r.account_id.as_str()).collect();
    let regions: BTreeSet<&str> = rotations.iter().map(|r| r.region.as_str()).collect();
    writeln!(
        out,
        "Totals: {} secrets in {} accounts and {} regions",
        rotations.len(),
        accounts.len(),
        regions.len()
    )?;
    writeln!(
        out,
        "Apply, per secret: mint a key through the OAuth client (only if no version with the \
         token exists), store it as AWSPENDING, check it with Tailscale, make it AWSCURRENT \
         (the old version stays as AWSPREVIOUS), then revoke the keys it replaces {}.",
        grace_words(inputs.grace_seconds)
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_periods_read_in_their_largest_whole_unit() {
        assert_eq!(grace_words(0), "as soon as the new key is AWSCURRENT");
        assert_eq!(grace_words(600), "10m after the new key is AWSCURRENT");
        assert_eq!(grace_words(7200), "2h after the new key is AWSCURRENT");
        assert_eq!(grace_words(86_400), "1d after the new key is AWSCURRENT");
        assert_eq!(grace_words(90), "90s after the new key is AWSCURRENT");
    }
}
