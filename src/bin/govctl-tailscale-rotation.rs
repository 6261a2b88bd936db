//! `govctl-tailscale-rotation`: the Secrets Manager rotation function for Tailscale
//! auth-key secrets, on the Lambda custom runtime (`provided.al2023`, packaged as
//! `bootstrap`). Each invocation runs one rotation step with the code `govctl tailscale
//! rotate --apply` uses (see `govctl::tailscale::lambda`); `stacksets/tailscale-rotation.yaml`
//! deploys it.
//!
//! Settings: `GOVCTL_TAILSCALE_API_URL` (default https://api.tailscale.com) and
//! `RUST_LOG` (default `info`). AWS credentials and region come from the function's role.

use aws_config::BehaviorVersion;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use tracing_subscriber::EnvFilter;

use govctl::cli::env;
use govctl::tailscale::api::DEFAULT_API_URL;
use govctl::tailscale::lambda::{Handler, RotationEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Lambda stamps each line with the time and the request; no colours in CloudWatch.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .init();

    let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let api_url = std::env::var(env::TAILSCALE_API_URL).unwrap_or_else(|_| DEFAULT_API_URL.into());
    let handler = Handler::new(config, &api_url).map_err(|e| e.to_string())?;
    let handler = &handler;

    lambda_runtime::run(service_fn(|event: LambdaEvent<RotationEvent>| async move {
        handler
            .handle(&event.payload)
            .await
            .map(|handled| format!("{handled:?}"))
            .map_err(|error| Diagnostic {
                error_type: "RotationFailed".into(),
                error_message: error.to_string(),
            })
    }))
    .await
}
