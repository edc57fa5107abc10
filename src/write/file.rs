//! File safety, in one place for every writer.
//!
//! Regular files are written to a temp file in the destination directory (mode 0666 & !umask,
//! or the replaced file's mode), flushed, fsynced, renamed over the destination (or, without
//! `--force`, renamed only if nothing is there — `persist_noclobber`), and the directory is
//! fsynced. On any error the temp file is removed and an existing destination is untouched.
//! FIFOs and character devices are written into directly, never renamed over; block devices,
//! sockets and directories are refused. A symlink is followed to the file it names.
//! Free space is checked against the exact output size before anything is written.

use super::Sink;
use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, IsTerminal, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Stdout,
    Path(PathBuf),
}

impl Target {
    /// `-` is stdout.
    pub fn parse(s: &str) -> Target {
        if s == "-" {
            Target::Stdout
        } else {
            Target::Path(PathBuf::from(s))
        }
    }

    pub fn display(&self) -> String {
        match self {
            Target::Stdout => "<stdout>".into(),
            Target::Path(p) => p.display().to_string(),
        }
    }
}

const BUF: usize = 1 << 20;

/// What is at the destination path now.
enum Existing {
    Nothing,
    Regular(fs::Permissions),
    Stream,
}

fn inspect(path: &Path) -> Result<(PathBuf, Existing)> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((path.to_path_buf(), Existing::Nothing));
        }
        Err(e) => return Err(Error::io(format!("checking {}", path.display()), e)),
    };
    if meta.file_type().is_symlink() {
        let real = fs::canonicalize(path).map_err(|_| {
            Error::Usage(format!(
                "{} is a symlink to a missing file; remove it or write elsewhere",
                path.display()
            ))
        })?;
        return inspect(&real);
    }
    let ft = meta.file_type();
    if ft.is_dir() {
        return Err(Error::Usage(format!(
            "{} is a directory; give a file name",
            path.display()
        )));
    }
    if ft.is_file() {
        return Ok((path.to_path_buf(), Existing::Regular(meta.permissions())));
    }
    if ft.is_fifo() || ft.is_char_device() {
        return Ok((path.to_path_buf(), Existing::Stream));
    }
    Err(Error::Usage(format!(
        "{} is a block device or socket; refusing to write to it",
        path.display()
    )))
}

/// A temp file for `dest` in `dir` (mode `perms` & !umask, then `restore` exactly if given),
/// filled through `body`, flushed and, if `sync`, fsynced.
fn write_temp(
    dir: &Path,
    dest: &Path,
    perms: fs::Permissions,
    restore: Option<fs::Permissions>,
    sync: bool,
    body: impl FnOnce(Sink, &str) -> Result<()>,
) -> Result<tempfile::NamedTempFile> {
    let ctx = dest.display().to_string();
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(perms)
        .tempfile_in(dir)
        .map_err(|e| Error::io(format!("creating a temp file in {}", dir.display()), e))?;
    {
        let mut w = BufWriter::with_capacity(
            BUF,
            tmp.as_file()
                .try_clone()
                .map_err(|e| Error::io(format!("opening temp file for {ctx}"), e))?,
        );
        body(Sink::File(&mut w), &ctx)?;
        w.flush()
            .map_err(|e| Error::io(format!("writing {ctx}"), e))?;
    }
    if let Some(p) = restore {
        let _ = tmp.as_file().set_permissions(p);
    }
    if sync {
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io(format!("syncing {ctx}"), e))?;
    }
    Ok(tmp)
}

/// Write the output through `body`, safely. `needs_seek`: the format must seek (npz).
#[cfg(test)]
pub(super) fn commit(
    target: &Target,
    force: bool,
    size: u64,
    needs_seek: bool,
    body: impl FnOnce(Sink, &str) -> Result<()>,
) -> Result<()> {
    commit_with(target, force, size, needs_seek, true, body)
}

/// [`commit`], with the fsync before the rename optional (`sync`; `--no-fsync` turns it off:
/// faster, but a power loss soon after may leave a short file under the final name).
pub(super) fn commit_with(
    target: &Target,
    force: bool,
    size: u64,
    needs_seek: bool,
    sync: bool,
    body: impl FnOnce(Sink, &str) -> Result<()>,
) -> Result<()> {
    let path = match target {
        Target::Stdout => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                return Err(Error::Usage(
                    "refusing to write binary data to a terminal; redirect stdout or give -o FILE"
                        .into(),
                ));
            }
            let mut w = BufWriter::with_capacity(BUF, stdout.lock());
            body(Sink::Stream(&mut w), "<stdout>")?;
            return w.flush().map_err(|e| Error::io("writing <stdout>", e));
        }
        Target::Path(p) => p,
    };
    if path.as_os_str().is_empty() {
        return Err(Error::Usage("the output path is empty".into()));
    }
    if path.as_os_str().to_string_lossy().ends_with('/') {
        return Err(Error::Usage(format!(
            "output {} ends with `/`; give a file name",
            path.display()
        )));
    }
    let (dest, existing) = inspect(path)?;
    let ctx = dest.display().to_string();
    match existing {
        Existing::Stream => {
            if needs_seek {
                return Err(Error::Usage(format!(
                    "{ctx} is a FIFO or device; .npz needs a seekable regular file"
                )));
            }
            let f = OpenOptions::new()
                .write(true)
                .open(&dest)
                .map_err(|e| Error::io(format!("opening {ctx}"), e))?;
            let mut w = BufWriter::with_capacity(BUF, f);
            body(Sink::Stream(&mut w), &ctx)?;
            w.flush()
                .map_err(|e| Error::io(format!("writing {ctx}"), e))?;
            return Ok(());
        }
        Existing::Regular(_) if !force => {
            return Err(Error::Usage(format!(
                "{ctx} already exists; pass --force to replace it"
            )));
        }
        _ => {}
    }

    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(Error::Usage(format!(
            "output directory {} does not exist",
            dir.display()
        )));
    }
    if let Ok(available) = fs4::available_space(&dir)
        && available < size
    {
        return Err(Error::NoSpace {
            path: dest.clone(),
            needed: size,
            available,
        });
    }

    let perms = match &existing {
        Existing::Regular(p) => p.clone(),
        _ => fs::Permissions::from_mode(0o666),
    };
    // The temp file is created with mode & !umask; an existing file's mode is restored exactly.
    let restore = matches!(existing, Existing::Regular(_)).then_some(perms.clone());
    let tmp = write_temp(&dir, &dest, perms, restore, sync, body)?;
    if force {
        tmp.persist(&dest)
            .map_err(|e| Error::io(format!("renaming temp file to {ctx}"), e.error))?;
    } else {
        tmp.persist_noclobber(&dest).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Usage(format!("{ctx} already exists; pass --force to replace it"))
            } else {
                Error::io(format!("renaming temp file to {ctx}"), e.error)
            }
        })?;
    }
    if let Ok(d) = File::open(&dir) {
        // Make the rename durable; some filesystems refuse fsync on directories — not fatal.
        let _ = d.sync_all();
    }
    Ok(())
}

/// A complete file under a temp name in its destination directory (flushed and fsynced),
/// waiting to be renamed into place with [`Staged::persist`]. Multi-file outputs (a sharded
/// checkpoint) stage every file first, so a failure or Ctrl-C while writing leaves nothing;
/// dropping a `Staged` removes its temp file. Holds no open file descriptor.
pub(super) struct Staged {
    tmp: tempfile::TempPath,
    dest: PathBuf,
}

/// Write `dest`'s contents through `body` into a temp file beside it (mode 0666 & !umask),
/// flush and (if `sync`) fsync it. Nothing appears at `dest` until [`Staged::persist`].
pub(super) fn stage(
    dest: &Path,
    sync: bool,
    body: impl FnOnce(Sink, &str) -> Result<()>,
) -> Result<Staged> {
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = write_temp(
        &dir,
        dest,
        fs::Permissions::from_mode(0o666),
        None,
        sync,
        body,
    )?;
    Ok(Staged {
        tmp: tmp.into_temp_path(),
        dest: dest.to_path_buf(),
    })
}

impl Staged {
    /// Rename the temp file to its destination: replacing what is there with `force`, else
    /// only if nothing is (an existing file is a usage error). The directory is not fsynced
    /// here ([`sync_dir`] once after a batch of renames).
    pub(super) fn persist(self, force: bool) -> Result<PathBuf> {
        let ctx = self.dest.display().to_string();
        if force {
            self.tmp
                .persist(&self.dest)
                .map_err(|e| Error::io(format!("renaming temp file to {ctx}"), e.error))?;
        } else {
            self.tmp.persist_noclobber(&self.dest).map_err(|e| {
                if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::Usage(format!("{ctx} already exists; pass --force to replace it"))
                } else {
                    Error::io(format!("renaming temp file to {ctx}"), e.error)
                }
            })?;
        }
        Ok(self.dest)
    }
}

/// Make renames and removals in `dir` durable; some filesystems refuse fsync on directories,
/// which is not fatal.
pub(super) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Refuse to start when `dir` lacks `size` bytes of free space (unknown space is not refused).
pub(super) fn check_space(dir: &Path, shown: &Path, size: u64) -> Result<()> {
    if let Ok(available) = fs4::available_space(dir)
        && available < size
    {
        return Err(Error::NoSpace {
            path: shown.to_path_buf(),
            needed: size,
            available,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    fn write_then_fail(sink: Sink, _: &str) -> Result<()> {
        let Sink::File(w) = sink else {
            panic!("expected a file")
        };
        w.write_all(&[7u8; 100_000]).unwrap();
        Err(Error::io("late failure", std::io::Error::other("injected")))
    }

    #[test]
    fn a_failure_after_writing_leaves_nothing_at_a_new_destination() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.safetensors");
        let e = commit(
            &Target::Path(dest.clone()),
            false,
            10,
            false,
            write_then_fail,
        );
        assert!(e.unwrap_err().to_string().contains("injected"));
        assert!(
            leftovers(dir.path()).is_empty(),
            "{:?}",
            leftovers(dir.path())
        );
    }

    #[test]
    fn a_failure_with_force_leaves_the_existing_file_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.npy");
        fs::write(&dest, b"precious").unwrap();
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(
            commit(
                &Target::Path(dest.clone()),
                true,
                10,
                false,
                write_then_fail
            )
            .is_err()
        );
        assert_eq!(fs::read(&dest).unwrap(), b"precious");
        assert_eq!(leftovers(dir.path()), vec!["out.npy".to_string()]);
        // A successful --force replaces it and keeps its mode.
        commit(&Target::Path(dest.clone()), true, 3, false, |mut s, _| {
            s.as_write().write_all(b"new").unwrap();
            Ok(())
        })
        .unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"new");
        let mode = fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn refuses_to_overwrite_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.npy");
        fs::write(&dest, b"precious").unwrap();
        let e = commit(&Target::Path(dest.clone()), false, 3, false, |_, _| {
            panic!("body must not run")
        })
        .unwrap_err();
        assert!(e.is_usage() && e.to_string().contains("--force"), "{e}");
        assert_eq!(fs::read(&dest).unwrap(), b"precious");
    }

    #[test]
    fn too_little_free_space_is_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("huge.safetensors");
        let e = commit(&Target::Path(dest), false, u64::MAX / 2, false, |_, _| {
            panic!("body must not run")
        })
        .unwrap_err();
        assert!(matches!(e, Error::NoSpace { .. }), "{e}");
        assert!(
            e.to_string().contains("needs 9223372036854775807 bytes"),
            "{e}"
        );
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn missing_parent_directory_and_directory_targets_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = commit(
            &Target::Path(dir.path().join("nope/out.npy")),
            false,
            1,
            false,
            |_, _| Ok(()),
        )
        .unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        let e = commit(
            &Target::Path(dir.path().to_path_buf()),
            true,
            1,
            false,
            |_, _| Ok(()),
        )
        .unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
    }

    #[test]
    fn a_staged_file_appears_only_when_persisted_and_vanishes_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.safetensors");
        let s = stage(&dest, true, |mut s, _| {
            s.as_write().write_all(b"abc").unwrap();
            Ok(())
        })
        .unwrap();
        assert!(!dest.exists());
        assert_eq!(leftovers(dir.path()).len(), 1, "the temp file");
        drop(s);
        assert!(leftovers(dir.path()).is_empty());
        let s = stage(&dest, true, |mut s, _| {
            s.as_write().write_all(b"abc").unwrap();
            Ok(())
        })
        .unwrap();
        assert_eq!(s.persist(false).unwrap(), dest);
        assert_eq!(fs::read(&dest).unwrap(), b"abc");
        assert_eq!(leftovers(dir.path()), vec!["a.safetensors".to_string()]);
        // Without force an existing destination is kept and the temp file removed.
        let s = stage(&dest, true, |mut s, _| {
            s.as_write().write_all(b"new").unwrap();
            Ok(())
        })
        .unwrap();
        let e = s.persist(false).unwrap_err();
        assert!(e.is_usage() && e.to_string().contains("--force"), "{e}");
        assert_eq!(fs::read(&dest).unwrap(), b"abc");
        assert_eq!(leftovers(dir.path()), vec!["a.safetensors".to_string()]);
        // A failing body leaves nothing.
        assert!(stage(&dir.path().join("b.safetensors"), true, write_then_fail).is_err());
        assert_eq!(leftovers(dir.path()), vec!["a.safetensors".to_string()]);
    }

    #[test]
    fn a_symlink_is_followed_and_its_target_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.npy");
        fs::write(&real, b"old").unwrap();
        let link = dir.path().join("link.npy");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        commit(&Target::Path(link.clone()), true, 3, false, |mut s, _| {
            s.as_write().write_all(b"new").unwrap();
            Ok(())
        })
        .unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&real).unwrap(), b"new");
    }
}
