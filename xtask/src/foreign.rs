//! What the lanes that build the library's test suites for another target
//! (`arm64-test`, `musl-test`) run, how they build them, and how they read
//! the spawner in use.

use std::path::Path;
use std::process::Command;

use crate::cross::debian_cargo;
use crate::util::bound_build_dir;

/// A build directory larger than this starts over (see [`bound_build_dir`]).
const BUILD_DIR_LIMIT: u64 = 6 << 30;

/// The test targets those lanes run by default.
pub(crate) const DEFAULT_TESTS: &[&str] = &[
    "verbs",
    "escapes",
    "groups",
    "spawner",
    "streaming",
    "guardian",
];
/// The test that asserts (and, with `--nocapture`, prints) the spawner in
/// use. The lanes run it on its own first and skip it in its suite.
pub(crate) const SPAWNER_TEST: &str = "preflight_reports_the_spawner_in_use";
/// What the spawner test prints before the spawner's name.
const SPAWNER_LINE: &str = "spawner in use: ";
/// The streaming test whose wall-clock bound is set for a native glibc
/// build; each lane that leaves it out says why.
pub(crate) const FLOOD_TEST: (&str, &str) = (
    "streaming",
    "the_timeout_holds_while_streaming_a_flood_on_a_current_thread_runtime",
);

/// Debian's cargo, set to build the library's test binaries for `target`
/// with `-Zbuild-std` into `target_dir` (started over when it grew past
/// [`BUILD_DIR_LIMIT`]); the lane adds its linker settings and the suites.
pub(crate) fn cargo_test_build(target_dir: &Path, target: &str) -> Result<Command, String> {
    bound_build_dir(target_dir, BUILD_DIR_LIMIT);
    let mut cmd = debian_cargo(target_dir)?;
    cmd.args([
        "test",
        "-Zbuild-std=std,panic_abort,panic_unwind",
        "--target",
        target,
        "-p",
        "processkit",
        "--all-features",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]);
    Ok(cmd)
}

/// The tests a lane skips when it runs `suite`: the spawner test (it ran on
/// its own, so nothing counts twice) and the lane's own `not_run` tests,
/// given as `(suite, test, why)`.
pub(crate) fn skipped<'a>(suite: &str, not_run: &[(&str, &'a str, &str)]) -> Vec<&'a str> {
    let mut skip = Vec::new();
    if suite == "spawner" {
        skip.push(SPAWNER_TEST);
    }
    skip.extend(
        not_run
            .iter()
            .filter(|(s, _, _)| *s == suite)
            .map(|(_, test, _)| *test),
    );
    skip
}

/// The spawner a line of the spawner test's output names, if it names one.
pub(crate) fn spawner_named(line: &str) -> Option<String> {
    line.find(SPAWNER_LINE)
        .map(|at| line[at + SPAWNER_LINE.len()..].trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOT_RUN: &[(&str, &str, &str)] = &[(FLOOD_TEST.0, FLOOD_TEST.1, "why")];

    #[test]
    fn the_spawner_suite_skips_the_spawner_test_and_each_suite_its_own() {
        assert_eq!(skipped("spawner", NOT_RUN), [SPAWNER_TEST]);
        assert_eq!(skipped("streaming", NOT_RUN), [FLOOD_TEST.1]);
        assert!(skipped("verbs", NOT_RUN).is_empty());
    }

    #[test]
    fn reads_the_spawner_after_its_label() {
        assert_eq!(
            spawner_named("x spawner in use: clone3(CLONE_VM) \r").as_deref(),
            Some("clone3(CLONE_VM)")
        );
        assert_eq!(spawner_named("running 1 test"), None);
    }
}
