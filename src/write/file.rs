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

/// Write the output through `body`, safely. `needs_seek`: the format must seek (npz).
pub(super) fn commit(
    target: &Target,
    force: bool,
    size: u64,
    needs_seek: bool,
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

    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let perms = match &existing {
        Existing::Regular(p) => p.clone(),
        _ => fs::Permissions::from_mode(0o666),
    };
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(perms.clone())
        .tempfile_in(&dir)
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
    let f: &File = tmp.as_file();
    if matches!(existing, Existing::Regular(_)) {
        // The temp file was created with the old mode & !umask; restore it exactly.
        let _ = f.set_permissions(perms);
    }
    f.sync_all()
        .map_err(|e| Error::io(format!("syncing {ctx}"), e))?;
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
