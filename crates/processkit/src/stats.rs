//! Whole-tree resource stats and limits (placeholder until the stats work lands).

use crate::error::{Error, Result};
use crate::group::ProcessGroupOptions;
use crate::sys;

/// Applies the limits in `options` to a freshly created container.
pub(crate) fn apply_limits(_container: &sys::Container, options: &ProcessGroupOptions) -> Result<()> {
    let limit = if options.memory_max.is_some() {
        "memory_max"
    } else if options.max_processes.is_some() {
        "max_processes"
    } else {
        "cpu_quota"
    };
    Err(Error::ResourceLimit { limit: limit.into(), reason: "limits are not available yet".into() })
}
