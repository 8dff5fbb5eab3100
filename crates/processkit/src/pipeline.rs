//! Shell-free pipelines (placeholder).

use crate::Command;

/// A chain of commands connected stdout → stdin.
#[derive(Debug, Clone)]
pub struct Pipeline {
    stages: Vec<(Command, bool)>,
}

impl Pipeline {
    pub(crate) fn new(first: Command) -> Self {
        Pipeline { stages: vec![(first, true)] }
    }

    /// Appends a stage.
    pub fn pipe(mut self, next: Command) -> Self {
        self.stages.push((next, true));
        self
    }

    /// Marks the last stage as unchecked.
    pub fn unchecked(mut self) -> Self {
        if let Some(last) = self.stages.last_mut() {
            last.1 = false;
        }
        self
    }

    pub(crate) fn append(mut self, other: Pipeline) -> Self {
        self.stages.extend(other.stages);
        self
    }
}
