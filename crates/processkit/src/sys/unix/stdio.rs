//! The child's three standard streams while a spawn is being set up: the
//! fds the child gets, the parent's ends, and a `pty` run's terminal.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use crate::sys::error::Error;
use crate::sys::io::{ReadPipe, WritePipe};
use crate::sys::request::{Spawned, StdioKind};
use crate::sys::unix::fds::{cloexec_pipe, set_nonblocking};
use crate::sys::unix::{pipe, pty};

/// The three standard streams while a spawn is being set up.
#[derive(Default)]
pub(crate) struct Stdio {
    /// What the child gets as fd 0, 1, 2 (`None`: the parent's own).
    child: [Option<OwnedFd>; 3],
    /// The parent's ends of piped streams.
    parent: [Option<OwnedFd>; 3],
    /// A `pty` run: the master, and the two streams over it that become
    /// the handle's input and (merged) output.
    pty: Option<(pty::PtyMaster, pty::PtyStream, pty::PtyStream)>,
}

impl Stdio {
    /// A new terminal: its slave becomes the child's fds 0, 1 and 2.
    pub(crate) fn prepare_pty(&mut self, program: &str, cols: u16, rows: u16) -> Result<(), Error> {
        let io_err = |e: io::Error| Error::io(program, "opening a pseudo-terminal", e);
        let pair = pty::open(cols, rows).map_err(io_err)?;
        let master = pty::PtyMaster::new(pair.master);
        let input = master.stream().map_err(io_err)?;
        let output = master.stream().map_err(io_err)?;
        self.child[1] = Some(pair.slave.try_clone().map_err(io_err)?);
        self.child[2] = Some(pair.slave.try_clone().map_err(io_err)?);
        self.child[0] = Some(pair.slave);
        self.pty = Some((master, input, output));
        Ok(())
    }

    pub(crate) fn prepare(
        &mut self,
        program: &str,
        index: usize,
        kind: StdioKind,
    ) -> Result<(), Error> {
        match kind {
            StdioKind::Inherit => {}
            StdioKind::Null => {
                let mode = if index == 0 {
                    rustix::fs::OFlags::RDONLY
                } else {
                    rustix::fs::OFlags::WRONLY
                };
                let fd = rustix::fs::open(
                    "/dev/null",
                    mode | rustix::fs::OFlags::CLOEXEC,
                    rustix::fs::Mode::empty(),
                )
                .map_err(|e| Error::io(program, "opening /dev/null", e.into()))?;
                self.child[index] = Some(fd);
            }
            StdioKind::Piped => {
                let (r, w) =
                    cloexec_pipe().map_err(|e| Error::io(program, "creating a pipe", e))?;
                let (mine, theirs) = if index == 0 { (w, r) } else { (r, w) };
                self.child[index] = Some(theirs);
                self.parent[index] = Some(mine);
            }
            StdioKind::Io(fd) => self.child[index] = Some(fd),
            StdioKind::Stdout => {
                // The same open file description as the child's stdout, so
                // the two streams share one pipe (or one file offset) and
                // keep the order they were written in.
                let dup = match &self.child[1] {
                    Some(fd) => fd.try_clone(),
                    None => std::io::stdout().as_fd().try_clone_to_owned(),
                };
                self.child[index] =
                    Some(dup.map_err(|e| Error::io(program, "duplicating stdout for stderr", e))?);
            }
        }
        Ok(())
    }

    pub(crate) fn child_fds(&self) -> [RawFd; 3] {
        let mut out = [-1; 3];
        for (i, fd) in self.child.iter().enumerate() {
            if let Some(fd) = fd {
                out[i] = fd.as_raw_fd();
            }
        }
        out
    }

    /// Closes the child's ends and wraps the parent's ends for tokio.
    pub(crate) fn finish<C, M>(mut self, child: C, member: M) -> Spawned<C, M, pty::PtyMaster> {
        self.child = [None, None, None];
        let stdin: Option<WritePipe> = self.parent[0].take().and_then(|fd| {
            set_nonblocking(&fd);
            tokio::net::unix::pipe::Sender::from_owned_fd_unchecked(fd)
                .ok()
                .map(|p| Box::new(p) as WritePipe)
        });
        let wrap = |fd: Option<OwnedFd>| -> Option<ReadPipe> {
            fd.and_then(|fd| {
                set_nonblocking(&fd);
                tokio::net::unix::pipe::Receiver::from_owned_fd_unchecked(fd)
                    .ok()
                    .map(|p| Box::new(pipe::PipeReader::new(p)) as ReadPipe)
            })
        };
        let stdout = wrap(self.parent[1].take());
        let stderr = wrap(self.parent[2].take());
        if let Some((master, input, output)) = self.pty.take() {
            return Spawned {
                child,
                member,
                stdin: Some(Box::new(input)),
                stdout: Some(Box::new(output)),
                stderr: None,
                terminal: Some(master),
            };
        }
        Spawned {
            child,
            member,
            stdin,
            stdout,
            stderr,
            terminal: None,
        }
    }
}
