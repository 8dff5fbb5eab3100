//! An initramfs written without cpio or gzip: an in-memory file tree
//! serialized as an uncompressed `newc` archive, the format the kernel
//! unpacks at boot.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::Path;

pub(crate) enum Node {
    Dir(u32),
    File(Vec<u8>, u32),
    Symlink(String),
    CharDevice { mode: u32, major: u32, minor: u32 },
}

/// An in-memory file tree written as a `newc` cpio archive (what the kernel
/// unpacks as initramfs; uncompressed, so no cpio or gzip is needed).
#[derive(Default)]
pub(crate) struct Tree(BTreeMap<String, Node>);

impl Tree {
    /// The skeleton every guest starts from: the usual directories, a
    /// sticky `/tmp`, `/dev/console` and `/dev/null`, and the given
    /// `/etc/passwd` and `/etc/group`.
    pub(crate) fn guest_base(passwd: &[u8], group: &[u8]) -> Tree {
        let mut tree = Tree::default();
        for dir in [
            "bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "root", "etc", "tests",
        ] {
            tree.dir(dir, 0o755);
        }
        tree.dir("tmp", 0o1777);
        tree.insert(
            "dev/console",
            Node::CharDevice {
                mode: 0o600,
                major: 5,
                minor: 1,
            },
        );
        tree.insert(
            "dev/null",
            Node::CharDevice {
                mode: 0o666,
                major: 1,
                minor: 3,
            },
        );
        tree.file("etc/passwd", passwd.to_vec(), 0o644);
        tree.file("etc/group", group.to_vec(), 0o644);
        tree
    }

    /// Adds `node` at `path`, and any missing parent directories (the kernel
    /// does not create them: an entry whose parent is missing is dropped).
    pub(crate) fn insert(&mut self, path: &str, node: Node) {
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir_all(parent);
        }
        self.0.insert(path.to_string(), node);
    }

    pub(crate) fn dir(&mut self, path: &str, mode: u32) {
        self.insert(path, Node::Dir(mode));
    }

    fn dir_all(&mut self, path: &str) {
        let mut end = 0;
        while end < path.len() {
            end = path[end + 1..]
                .find('/')
                .map_or(path.len(), |i| end + 1 + i);
            self.0
                .entry(path[..end].to_string())
                .or_insert(Node::Dir(0o755));
        }
    }

    pub(crate) fn file(&mut self, path: &str, data: Vec<u8>, mode: u32) {
        self.insert(path, Node::File(data, mode));
    }

    /// Writes the archive to the file at `path`.
    pub(crate) fn write_to(&self, path: &Path) -> Result<(), String> {
        let file = fs::File::create(path).map_err(|e| format!("create {}: {e}", path.display()))?;
        let mut out = BufWriter::new(file);
        self.write_newc(&mut out)
            .and_then(|()| out.flush())
            .map_err(|e| format!("write {}: {e}", path.display()))
    }

    /// Sorted order puts every directory before its contents.
    pub(crate) fn write_newc(&self, out: &mut impl Write) -> io::Result<()> {
        for (ino, (path, node)) in self.0.iter().enumerate() {
            let (mode, data, nlink, rdev): (u32, &[u8], u32, (u32, u32)) = match node {
                Node::Dir(mode) => (0o040000 | mode, &[], 2, (0, 0)),
                Node::File(data, mode) => (0o100000 | mode, data, 1, (0, 0)),
                Node::Symlink(target) => (0o120777, target.as_bytes(), 1, (0, 0)),
                Node::CharDevice { mode, major, minor } => {
                    (0o020000 | mode, &[], 1, (*major, *minor))
                }
            };
            write_newc_entry(out, ino as u32 + 1, mode, nlink, rdev, path, data)?;
        }
        write_newc_entry(out, 0, 0, 1, (0, 0), "TRAILER!!!", &[])
    }
}

fn write_newc_entry(
    out: &mut impl Write,
    ino: u32,
    mode: u32,
    nlink: u32,
    rdev: (u32, u32),
    name: &str,
    data: &[u8],
) -> io::Result<()> {
    let size =
        u32::try_from(data.len()).map_err(|_| io::Error::other(format!("{name} is too large")))?;
    let name_size = name.len() as u32 + 1;
    // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
    let fields = [
        ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev.0, rdev.1, name_size, 0,
    ];
    let mut header = String::from("070701");
    for field in fields {
        header.push_str(&format!("{field:08x}"));
    }
    out.write_all(header.as_bytes())?;
    out.write_all(name.as_bytes())?;
    out.write_all(&[0])?;
    out.write_all(&[0; 3][..(4 - (110 + name_size as usize) % 4) % 4])?;
    out.write_all(data)?;
    out.write_all(&[0; 3][..(4 - data.len() % 4) % 4])
}

// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_come_first() {
        let mut tree = Tree::default();
        tree.file("usr/lib/x86_64/libc.so.6", vec![1], 0o755);
        tree.dir("usr/bin", 0o755);
        let paths: Vec<&str> = tree.0.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                "usr",
                "usr/bin",
                "usr/lib",
                "usr/lib/x86_64",
                "usr/lib/x86_64/libc.so.6"
            ]
        );
    }

    #[test]
    fn newc_entries_are_aligned() {
        let mut tree = Tree::default();
        tree.dir("bin", 0o755);
        tree.file("bin/x", b"hello".to_vec(), 0o755);
        tree.insert("bin/sh", Node::Symlink("/bin/busybox".into()));
        let mut out = Vec::new();
        tree.write_newc(&mut out).unwrap();
        assert_eq!(out.len() % 4, 0);
        assert!(out.starts_with(b"070701"));
        assert!(out.windows(10).any(|w| w == b"TRAILER!!!"));
    }
}
