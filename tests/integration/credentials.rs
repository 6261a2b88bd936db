//! Member-role credentials are assumed once, reused, and assumed again before they expire.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region};
use govctl::aws::MemberCredentials;
use govctl::aws::credentials::REFRESH_MARGIN;

use crate::common::world;

#[tokio::test]
async fn credentials_are_reassumed_when_about_to_expire() {
    let world = world();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&world.emulator.endpoint)
        .test_credentials()
        .load()
        .await;
    let role = format!(
        "arn:aws:iam::{}:role/OrganizationAccountAccessRole",
        world.account("workload-prod")
    );
    let skew = Arc::new(AtomicU64::new(0));
    let clock = {
        let skew = skew.clone();
        Arc::new(move || SystemTime::now() + Duration::from_secs(skew.load(Ordering::SeqCst)))
    };
    let provider =
        MemberCredentials::with_clock(aws_sdk_sts::Client::new(&config), role, None, clock);

    let first = provider.refresh_if_needed().await.unwrap();
    let expiry = first.expiry().expect("assumed credentials expire");
    let again = provider.refresh_if_needed().await.unwrap();
    assert_eq!(
        again.access_key_id(),
        first.access_key_id(),
        "reused while fresh"
    );

    // Move the clock to just inside the refresh margin before expiry.
    let until_margin = expiry
        .duration_since(SystemTime::now())
        .unwrap()
        .saturating_sub(REFRESH_MARGIN);
    skew.store(until_margin.as_secs() + 1, Ordering::SeqCst);
    let renewed = provider.refresh_if_needed().await.unwrap();
    assert_ne!(
        renewed.access_key_id(),
        first.access_key_id(),
        "assumed again near expiry"
    );
}
