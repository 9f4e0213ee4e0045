//! Target groups: what service discovery hands to scrape and notifier.

use crate::Labels;

/// A set of targets with common labels, as produced by one service-discovery source
/// (Prometheus's `discovery/targetgroup.Group`).
///
/// Each target is a label set that holds at least `__address__`. The group's `labels` apply to
/// every target unless the target sets the same label itself. `source` identifies the group
/// within its provider (for file_sd it is `path:index`), so that an update with the same
/// source replaces the earlier group and an update with no targets removes it.
///
/// This is plain data: parsing file_sd files and other provider formats is discovery's job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetGroup {
    /// The targets, each a label set holding at least `__address__`.
    pub targets: Vec<Labels>,
    /// Labels shared by every target of the group.
    pub labels: Labels,
    /// A provider-unique identifier of the group.
    pub source: String,
}
