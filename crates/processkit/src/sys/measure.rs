//! Whole-tree measurements and limits, as the backends report and apply
//! them. A leaf of `sys/`.

/// Raw whole-tree measurements; `None` where the host cannot give a value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[allow(dead_code)]
pub(crate) struct RawStats {
    pub user_cpu: Option<std::time::Duration>,
    pub system_cpu: Option<std::time::Duration>,
    pub memory_current: Option<u64>,
    pub memory_peak: Option<u64>,
    pub processes_current: Option<u64>,
    pub processes_peak: Option<u64>,
}

/// Whole-tree limits to apply when a container is created.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[allow(dead_code)]
pub(crate) struct Limits {
    pub memory_max: Option<u64>,
    pub max_processes: Option<u64>,
    /// A fraction of one core.
    pub cpu_quota: Option<f64>,
}
