//! Which versions of a layer exist, read in the layer owner's account and region.
//!
//! `ListLayerVersions` only lists layers of the calling account, so for a layer published
//! from another account govctl assumes the member role there. A layer whose versions cannot
//! be read (an owner outside the organization, a denied call) does not stop the report: its
//! rows keep empty `latest_version` and `versions_behind`, and the reason is reported once.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, stream};

use super::arn::Layer;
use crate::aws::{Aws, Call};
use crate::error::Result;
use crate::ui::Ui;

/// The versions of one layer that are still published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions(pub BTreeSet<u64>);

/// The outcome of reading one layer's versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Versions),
    Unreadable(String),
}

impl Versions {
    pub fn newest(&self) -> Option<u64> {
        self.0.last().copied()
    }

    /// How many published versions are newer than `current` and not newer than `target`.
    ///
    /// Counting published versions rather than subtracting numbers keeps deleted versions
    /// from inflating the figure.
    pub fn behind(&self, current: u64, target: u64) -> u64 {
        if target <= current {
            return 0;
        }
        self.0.range(current + 1..=target).count() as u64
    }
}

/// Reads the versions of every layer in `layers`, at most `aws.concurrency()` at a time.
pub async fn lookup_all(aws: &Aws, layers: BTreeSet<Layer>, ui: &Ui) -> BTreeMap<Layer, Lookup> {
    let bar = ui.bar(layers.len() as u64, "reading layer versions");
    let results: Vec<(Layer, Lookup)> = stream::iter(layers)
        .map(|layer| {
            let bar = &bar;
            async move {
                let lookup = match list_versions(aws, &layer).await {
                    Ok(versions) if versions.0.is_empty() => {
                        Lookup::Unreadable("no version of it is published any more".into())
                    }
                    Ok(versions) => Lookup::Found(versions),
                    Err(error) => Lookup::Unreadable(error.to_string()),
                };
                bar.inc(1);
                (layer, lookup)
            }
        })
        .buffer_unordered(aws.concurrency())
        .collect()
        .await;
    bar.finish_and_clear();
    results.into_iter().collect()
}

async fn list_versions(aws: &Aws, layer: &Layer) -> Result<Versions> {
    let config = aws
        .budgeted_config_for(&layer.account, &layer.region)
        .await?;
    let call =
        Call::new("lambda:ListLayerVersions", &layer.account, &layer.region).endpoint_of(&config);
    let client = aws_sdk_lambda::Client::new(&config);
    tracing::debug!(%layer, "listing layer versions");

    let mut versions = BTreeSet::new();
    let request = |marker| {
        client
            .list_layer_versions()
            .layer_name(&layer.name)
            .set_marker(marker)
            .send()
    };
    aws.budget()
        .pages(
            &call,
            request,
            |page| page.next_marker(),
            |page| {
                versions.extend(
                    page.layer_versions()
                        .iter()
                        .filter_map(|v| u64::try_from(v.version()).ok()),
                );
                Ok(())
            },
        )
        .await?;
    Ok(Versions(versions))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(list: &[u64]) -> Versions {
        Versions(list.iter().copied().collect())
    }

    #[test]
    fn newest_is_the_highest_published_version() {
        assert_eq!(versions(&[1, 3, 2]).newest(), Some(3));
        assert_eq!(versions(&[]).newest(), None);
    }

    #[test]
    fn behind_counts_published_versions_up_to_the_target() {
        let v = versions(&[1, 2, 3, 5, 8]);
        assert_eq!(v.behind(1, 8), 4);
        assert_eq!(v.behind(2, 5), 2);
        assert_eq!(v.behind(8, 8), 0);
        assert_eq!(v.behind(9, 8), 0);
        assert_eq!(v.behind(3, 4), 0);
    }
}
