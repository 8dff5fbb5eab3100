//! A cgroup from the user's systemd manager: a transient scope with
//! `Delegate=yes`, asked for over D-Bus (feature `systemd`).
//!
//! # When
//!
//! Only when the process's own cgroup is not writable (a non-root user in a
//! root-owned cgroup: an ssh session, a CI runner's job step, a system
//! service) and a user manager is reachable on the session bus
//! (`$DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`, else
//! `/run/user/<uid>/bus`). The cgroup backend ([`super::cgroup::host`]) asks
//! once, lazily, on first use; the answer (a scope, or the reason there is
//! none) is kept for the life of the process.
//!
//! # The exchange
//!
//! 1. connect to the bus and add a match for the manager's `JobRemoved`
//!    signal *before* the call, so the signal cannot slip past;
//! 2. `StartTransientUnit(name, "fail", properties, [])` with
//!    `Description` (naming the program), `PIDs` (this process),
//!    `Delegate=yes` and `CollectMode=inactive-or-failed` (a scope that
//!    ends as failed is still garbage-collected, never left listed);
//! 3. wait for the `JobRemoved` of the returned job and require the result
//!    `done`.
//!
//! The unit is `processkit-<program>-<pid>-<start time>.scope`, the program
//! part escaped as systemd escapes unit-name components (`/` becomes `-`;
//! `-`, `\` and anything outside `[A-Za-z0-9:_.]` become `\xNN`; a leading
//! `.` is escaped too), so two processes never ask for the same name.
//!
//! The exchange runs on a short-lived thread of its own with its own
//! current-thread tokio runtime, and the caller waits for it with a time
//! limit ([`TIMEOUT`]). `Container::create` is synchronous and may run on a
//! tokio worker, or inside a current-thread runtime: doing the exchange
//! there would need a runtime inside a runtime (a panic) or block the very
//! thread that would have to drive it (a deadlock). On its own thread it can
//! do neither, and the caller never waits longer than the limit. A user
//! manager that is missing, refuses (a policy denial, a unit that already
//! exists) or does not answer in time turns into a reason, and the cgroup
//! backend reports it and falls back to the next mechanism.
//!
//! # Decision: this process moves itself into the scope
//!
//! cgroup v2 allows a process to be moved (or created with
//! `clone3(CLONE_INTO_CGROUP)`) into a cgroup only by a writer that may
//! write `cgroup.procs` of the *common ancestor* of the source and the
//! destination. A non-root process in `/system.slice/<job>.service` and a
//! scope in `/user.slice/…/user@<uid>.service/app.slice/` have only the
//! root cgroup in common, which is root's. So a placeholder process parked
//! in the scope would not help the host: the host could still not start a
//! child inside it. Only a process that is itself inside the scope can: the
//! host, or a spawner process living there that starts every child on the
//! host's behalf (a fork server passing stdio and pidfds back over a
//! socket, which is a whole second spawner). The host therefore does what
//! `systemd-run --user --scope` does: it lists its own pid in `PIDs`.
//!
//! Nothing of a child has run at that point: the scope is asked for while
//! the first container is created, before any child of it exists.
//!
//! Inside the scope the host then moves itself once more, into the leaf
//! `<scope>/host`, so that the scope itself holds no process and can hand
//! the `cpu`, `memory` and `pids` controllers to its children (cgroup v2's
//! "no internal processes" rule). The layout is:
//!
//! ```text
//! processkit-<program>-<pid>-<start>.scope/   Delegate=yes, owned by the user
//!     host/                                  this process (and its threads)
//!     processkit-<pid>-<start>/              the usual host root (cgroup.rs)
//!         r<N>/  g<N>/c<M>/                  leaves with the children
//! ```
//!
//! ## What moving the host means (and is reported by `preflight()`)
//!
//! * The host leaves the cgroup it was started in. Whatever that cgroup
//!   did for it no longer applies: the limits and accounting of the service
//!   or session it ran under, and that service's own teardown: stopping it
//!   (or cancelling a CI job by killing its cgroup) no longer kills the
//!   host, whereas stopping the user manager (the user's last logout
//!   without lingering) or `systemctl --user stop` of the scope now does.
//!   Memory already charged stays charged to the old cgroup.
//! * Every process the host starts *without* this crate (a plain
//!   `std::process::Command`) now starts in the scope's `host` leaf, and
//!   the scope stays until the last of them has exited, as a
//!   `systemd-run --scope` does.
//! * `/proc/self/cgroup` changes, once, for any other code that reads it.
//!
//! # Lifetime
//!
//! One scope per host process. It needs no explicit stop: a scope is
//! stopped by its manager once its cgroup is empty, and
//! `CollectMode=inactive-or-failed` makes the manager forget it then. At an
//! orderly exit the cgroup backend's exit handler empties and removes the
//! host root, and the host's own exit empties `host/`. If the host is
//! SIGKILLed, the guardian (started before any child, outside the host
//! root) kills and removes the host root as on any other host, and exits;
//! the scope is then empty and goes away.
//!
//! # Cost
//!
//! One connection, three round trips (`Hello`, `AddMatch`,
//! `StartTransientUnit`) and the wait for the job, once per process, plus a
//! thread and a current-thread runtime that end with the exchange.
//! Measured in the systemd-test lane's emulated guest (qemu TCG, so several
//! times slower than hardware): 271 ms from the first `preflight()` to a
//! usable scope; a bus that is missing is given up on in about 1 ms on the
//! host (36 ms in the guest), a silent one after [`TIMEOUT`]. Moving the
//! host costs nothing per child afterwards: children are still created
//! straight into their leaves. Dependency: `zbus` (pure Rust, on tokio),
//! only with the `systemd` feature.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// The longest the whole exchange with the user manager may take before the
/// host gives up on it and falls back.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

/// The leaf inside the scope that holds the host process itself.
pub(crate) const HOST_LEAF: &str = "host";

/// A scope the user manager delegated to this process.
#[derive(Debug)]
pub(crate) struct Scope {
    /// The unit name, e.g. `processkit-app-1234-5678.scope`.
    pub unit: String,
    /// The scope's cgroup directory.
    pub path: PathBuf,
    /// The cgroup this process left (relative to the mount).
    pub left: String,
}

impl Scope {
    /// What `preflight()` says about where the cgroup came from.
    pub(crate) fn describe(&self) -> String {
        format!(
            "a systemd-delegated scope, {} (Delegate=yes, from the user manager); \
             this process moved itself into it, leaving {}",
            self.unit, self.left
        )
    }
}

/// Asks the user manager for a delegated scope, moves this process into
/// it (into its `host` leaf) and returns it. `Err` says why not; it never
/// takes longer than about [`TIMEOUT`].
pub(crate) fn delegated_scope(mount: &Path) -> Result<Scope, String> {
    let address = bus_address()?;
    let pid = std::process::id();
    let start = super::procfs::start_time(pid).ok_or("cannot read this process's start time")?;
    let program = program_name();
    let unit = unit_name(&program, pid, start);
    let description = format!("processkit containers of {program} (pid {pid})");
    let left = super::procfs::own_cgroup().unwrap_or_default();

    start_scope_on_thread(address.clone(), unit.clone(), description, pid, TIMEOUT)
        .map_err(|e| format!("the systemd user manager at {address} gave no scope: {e}"))?;

    let own = super::procfs::own_cgroup().ok_or("/proc/self/cgroup has no cgroup v2 entry")?;
    if own.rsplit('/').next() != Some(unit.as_str()) {
        return Err(format!(
            "the systemd user manager started {unit}, but this process is in {own}, not in it"
        ));
    }
    let path = mount.join(own.trim_start_matches('/'));
    settle_in(&path).map_err(|e| {
        format!(
            "the systemd user manager delegated {unit} ({}), but it cannot be set up: {e}",
            path.display()
        )
    })?;
    Ok(Scope { unit, path, left })
}

/// Moves this process into `<scope>/host` and switches on the memory and
/// pids controllers for the scope's children where it offers them (`cpu`
/// is switched on when a quota asks for it, see `stats.rs`).
fn settle_in(scope: &Path) -> io::Result<()> {
    let leaf = scope.join(HOST_LEAF);
    match fs::create_dir(&leaf) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("mkdir {}: {e}", leaf.display()),
            ));
        }
    }
    // "0" moves the writing process, every thread of it.
    fs::write(leaf.join("cgroup.procs"), "0").map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("moving this process into {}: {e}", leaf.display()),
        )
    })?;
    let offered = fs::read_to_string(scope.join("cgroup.controllers")).unwrap_or_default();
    for controller in ["memory", "pids"] {
        if offered.split_whitespace().any(|c| c == controller) {
            // Best effort: accounting only; a limit that needs it says so.
            let _ = fs::write(
                scope.join("cgroup.subtree_control"),
                format!("+{controller}"),
            );
        }
    }
    Ok(())
}

/// Where the session bus is: `$DBUS_SESSION_BUS_ADDRESS`, else
/// `$XDG_RUNTIME_DIR/bus`, else `/run/user/<uid>/bus`.
fn bus_address() -> Result<String, String> {
    if let Some(address) = std::env::var_os("DBUS_SESSION_BUS_ADDRESS")
        .and_then(|a| a.into_string().ok())
        .filter(|a| !a.is_empty())
    {
        return Ok(address);
    }
    let mut tried = Vec::new();
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        tried.push(PathBuf::from(dir).join("bus"));
    }
    tried.push(PathBuf::from(format!(
        "/run/user/{}/bus",
        rustix::process::getuid().as_raw()
    )));
    for path in &tried {
        if path.exists() {
            return Ok(format!("unix:path={}", path.display()));
        }
    }
    let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    Err(format!(
        "no systemd user manager is reachable: DBUS_SESSION_BUS_ADDRESS is unset and there is no {}",
        tried.join(" nor ")
    ))
}

/// The program's name, for the unit name and its description.
fn program_name() -> String {
    let name = fs::read_to_string("/proc/self/comm").unwrap_or_default();
    let name = name.trim();
    if name.is_empty() {
        "unknown".to_owned()
    } else {
        name.to_owned()
    }
}

/// `processkit-<program>-<pid>-<start>.scope`, the program escaped.
pub(crate) fn unit_name(program: &str, pid: u32, start: u64) -> String {
    format!("processkit-{}-{pid}-{start}.scope", escape(program))
}

/// Escapes one unit-name component the way systemd does.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b':' | b'_' | b'.' => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// Runs [`start_scope`] on a thread of its own and waits at most `timeout`
/// (plus a little for the thread to report) for its answer.
fn start_scope_on_thread(
    address: String,
    unit: String,
    description: String,
    pid: u32,
    timeout: Duration,
) -> Result<(), String> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("processkit-systemd".into())
        .spawn(move || {
            let result = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(async {
                    match tokio::time::timeout(
                        timeout,
                        start_scope(&address, &unit, &description, pid),
                    )
                    .await
                    {
                        Ok(result) => result,
                        Err(_) => Err(format!("no answer within {timeout:?}")),
                    }
                }),
                Err(e) => Err(format!(
                    "cannot start a runtime for the D-Bus exchange: {e}"
                )),
            };
            let _ = tx.send(result);
        })
        .map_err(|e| format!("cannot start a thread for the D-Bus exchange: {e}"))?;
    match rx.recv_timeout(timeout + Duration::from_secs(1)) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!("no answer within {timeout:?}")),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err("the D-Bus exchange ended without an answer".into())
        }
    }
}

/// The exchange itself: match `JobRemoved`, `StartTransientUnit`, wait for
/// the job's `JobRemoved` and check its result.
async fn start_scope(address: &str, unit: &str, description: &str, pid: u32) -> Result<(), String> {
    use tokio_stream::StreamExt;
    use zbus::zvariant::{OwnedObjectPath, Value};

    let conn = zbus::connection::Builder::address(address)
        .map_err(|e| format!("bad bus address: {e}"))?
        .build()
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .path(PATH)
        .and_then(|b| b.interface(MANAGER))
        .and_then(|b| b.member("JobRemoved"))
        .map_err(|e| format!("match rule: {e}"))?
        .build();
    let mut jobs = zbus::MessageStream::for_match_rule(rule, &conn, Some(64))
        .await
        .map_err(|e| format!("cannot subscribe to JobRemoved: {e}"))?;

    let properties: Vec<(&str, Value<'_>)> = vec![
        ("Description", Value::from(description)),
        ("PIDs", Value::from(vec![pid])),
        ("Delegate", Value::from(true)),
        ("CollectMode", Value::from("inactive-or-failed")),
    ];
    let aux: Vec<(&str, Vec<(&str, Value<'_>)>)> = Vec::new();
    let reply = conn
        .call_method(
            Some(DEST),
            PATH,
            Some(MANAGER),
            "StartTransientUnit",
            &(unit, "fail", properties, aux),
        )
        .await
        .map_err(|e| format!("StartTransientUnit({unit}) was refused: {e}"))?;
    let job: OwnedObjectPath = reply
        .body()
        .deserialize()
        .map_err(|e| format!("StartTransientUnit({unit}) gave an unreadable reply: {e}"))?;

    while let Some(message) = jobs.next().await {
        let Ok(message) = message else { continue };
        let Ok((_id, removed, _unit, result)) =
            message
                .body()
                .deserialize::<(u32, OwnedObjectPath, String, String)>()
        else {
            continue;
        };
        if removed != job {
            continue;
        }
        return if result == "done" {
            Ok(())
        } else {
            Err(format!(
                "the job starting {unit} ended with result {result:?}"
            ))
        };
    }
    Err("the bus connection closed before the job ended".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::time::Instant;

    #[test]
    fn unit_names_are_escaped_as_systemd_does() {
        assert_eq!(escape("cargo"), "cargo");
        assert_eq!(escape("my-app"), "my\\x2dapp");
        assert_eq!(escape(".hidden"), "\\x2ehidden");
        assert_eq!(escape("a.b:c_d"), "a.b:c_d");
        assert_eq!(escape("sp ace/é"), "sp\\x20ace-\\xc3\\xa9");
        assert_eq!(
            unit_name("tokio-runtime-w", 42, 7),
            "processkit-tokio\\x2druntime\\x2dw-42-7.scope"
        );
    }

    fn scratch_socket(tag: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::Builder::new()
            .prefix(&format!("processkit-systemd-{tag}-"))
            .tempdir()
            .unwrap();
        let path = dir.path().join("bus");
        (dir, path)
    }

    #[test]
    fn a_missing_bus_is_refused_at_once_with_the_reason() {
        let (_dir, path) = scratch_socket("missing");
        let started = Instant::now();
        let err = start_scope_on_thread(
            format!("unix:path={}", path.display()),
            "processkit-test-1-1.scope".into(),
            "test".into(),
            std::process::id(),
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(err.contains("cannot connect"), "{err}");
    }

    #[test]
    fn a_bus_that_never_answers_is_given_up_on_in_time() {
        let (_dir, path) = scratch_socket("silent");
        // Accepts the connection and then says nothing at all.
        let listener = UnixListener::bind(&path).unwrap();
        let started = Instant::now();
        let err = start_scope_on_thread(
            format!("unix:path={}", path.display()),
            "processkit-test-1-1.scope".into(),
            "test".into(),
            std::process::id(),
            Duration::from_millis(700),
        )
        .unwrap_err();
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(600), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        assert!(err.contains("no answer within"), "{err}");
        drop(listener);
    }

    #[test]
    fn a_bus_that_hangs_up_is_refused_with_the_reason() {
        let (_dir, path) = scratch_socket("hangup");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            // Take the connection and close it straight away.
            let (conn, _) = listener.accept().unwrap();
            drop(conn);
        });
        let started = Instant::now();
        let err = start_scope_on_thread(
            format!("unix:path={}", path.display()),
            "processkit-test-1-1.scope".into(),
            "test".into(),
            std::process::id(),
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(err.contains("cannot connect"), "{err}");
        server.join().unwrap();
    }

    #[test]
    fn the_exchange_works_inside_a_current_thread_runtime() {
        // Container::create is synchronous and may be called from inside a
        // runtime: the exchange must neither panic nor deadlock there.
        let (_dir, path) = scratch_socket("in-rt");
        let address = format!("unix:path={}", path.display());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt.block_on(async move {
            start_scope_on_thread(
                address,
                "processkit-test-1-1.scope".into(),
                "test".into(),
                std::process::id(),
                Duration::from_secs(2),
            )
        });
        assert!(err.unwrap_err().contains("cannot connect"));
    }
}
