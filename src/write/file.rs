//! File safety, in one place for every writer.
//!
//! Regular files are written to a temp file in the destination directory (mode 0666 & !umask,
//! or the replaced file's mode), flushed, fsynced, given the destination's name, and the
//! directory is fsynced. On Linux the temp file is anonymous (`O_TMPFILE`): it has no name
//! until `linkat` gives it the destination's (which fails if anything is there, so without
//! `--force` nothing is clobbered, even a file that appeared while writing); with `--force` it
//! is linked under a temp name and renamed over the destination. A killed run (SIGKILL, power
//! loss) therefore leaves nothing. Where the filesystem has no `O_TMPFILE`, the temp file is
//! named `.NAME.weightgen-PID-RANDOM.tmp`, flock-ed while written and renamed into place
//! (`persist_noclobber` without `--force`); a later run removes such files whose process is
//! gone and whose lock is free ([`remove_stale_temps`]), never a live run's. On any error the
//! temp file is removed and an existing destination is untouched. FIFOs and character devices
//! are written into directly, never renamed over; block devices, sockets and directories are
//! refused. A symlink is followed to the file it names. Free space is checked against the exact
//! output size before anything is written.

use super::Sink;
use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, IsTerminal, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

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
        Err(e) => return Err(Error::io_at("checking", path, e)),
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

/// The tag in our named temp files' names: `.NAME.weightgen-PID-RANDOM.tmp`.
const TEMP_TAG: &str = ".weightgen-";

/// An output file being written, not yet visible under its destination name.
struct Temp {
    /// Open (and flock-ed, so no other run's clean-up takes it for dead) while we write; a
    /// named temp file staged beyond the descriptor budget has none.
    file: Option<File>,
    kind: TempKind,
}

enum TempKind {
    /// Linux `O_TMPFILE`: an inode with no name until [`link_fd`] gives it one, so a killed run
    /// leaves nothing. `dir` is where it lives.
    Anonymous { dir: PathBuf },
    /// Where the filesystem has no anonymous files: `.NAME.weightgen-PID-RANDOM.tmp`, removed
    /// on drop, and by a later run's [`remove_stale_temps`] if this process is killed.
    Named(tempfile::TempPath),
}

/// `WEIGHTGEN_TEST_NAMED_TEMP=1` makes every output use a named temp file, as on a filesystem
/// without `O_TMPFILE` (for the tests of that path).
fn anonymous_allowed() -> bool {
    static NAMED: OnceLock<bool> = OnceLock::new();
    !*NAMED.get_or_init(|| std::env::var_os("WEIGHTGEN_TEST_NAMED_TEMP").is_some_and(|v| v == "1"))
}

/// An anonymous file in `dir` (`O_TMPFILE`, mode `mode` & !umask), or `None` where the
/// filesystem or kernel has none (EOPNOTSUPP; EISDIR from kernels before 3.11; EINVAL).
#[cfg(target_os = "linux")]
fn open_anonymous(dir: &Path, mode: u32) -> std::io::Result<Option<File>> {
    use std::os::unix::fs::OpenOptionsExt;
    match OpenOptions::new()
        .read(true)
        .write(true)
        .mode(mode)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
    {
        Ok(f) => Ok(Some(f)),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn open_anonymous(_dir: &Path, _mode: u32) -> std::io::Result<Option<File>> {
    Ok(None)
}

/// Give the anonymous `file` the name `dest`; fails with EEXIST if something is there (so a
/// file that appeared meanwhile is never replaced). Through `/proc/self/fd/N`, which needs no
/// privilege; without /proc, `AT_EMPTY_PATH` (which older kernels allow only with
/// CAP_DAC_READ_SEARCH).
#[cfg(target_os = "linux")]
fn link_fd(file: &File, dest: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let to = CString::new(dest.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let from =
        CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())).expect("no NUL in a number");
    // SAFETY: plain syscalls on NUL-terminated strings and a descriptor we own.
    let r = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENOENT) && fs::metadata("/proc/self/fd").is_err() {
        // SAFETY: as above.
        let r = unsafe {
            libc::linkat(
                file.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::AT_EMPTY_PATH,
            )
        };
        if r == 0 {
            return Ok(());
        }
        return Err(std::io::Error::last_os_error());
    }
    Err(e)
}

#[cfg(not(target_os = "linux"))]
fn link_fd(_file: &File, _dest: &Path) -> std::io::Result<()> {
    unreachable!("anonymous temp files exist only on Linux")
}

/// `.NAME.weightgen-PID-` for `dest` (NAME cut to 200 bytes so the whole stays a legal name).
fn temp_prefix(dest: &Path) -> String {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let mut cut = name.len().min(200);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(".{}{TEMP_TAG}{}-", &name[..cut], std::process::id())
}

/// The PID in one of our temp file names (`.NAME.weightgen-PID-RANDOM.tmp`), if it is one.
fn temp_pid(name: &str) -> Option<i32> {
    let stem = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (_, tail) = stem.rsplit_once(TEMP_TAG)?;
    let (pid, random) = tail.split_once('-')?;
    let alnum = |s: &str, f: fn(&u8) -> bool| !s.is_empty() && s.as_bytes().iter().all(f);
    if !alnum(pid, u8::is_ascii_digit) || !alnum(random, u8::is_ascii_alphanumeric) {
        return None;
    }
    pid.parse::<i32>().ok().filter(|&p| p > 0)
}

/// Whether process `pid` exists (in this PID namespace). EPERM means it does.
fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Remove the temp files in `dir` that runs of weightgen left when they were killed (only
/// possible where the filesystem has no anonymous temp files): a regular file whose name has
/// our pattern (`.NAME.weightgen-PID-RANDOM.tmp`), whose PID is not a live process, and whose
/// lock is not held (a run holds its temp file's flock while it writes, which also protects a
/// run in another PID namespace or on another host of a network filesystem). Anything else is
/// kept; errors are ignored. Each directory is scanned once per process. Returns the number
/// removed.
fn remove_stale_temps(dir: &Path) -> usize {
    static SCANNED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    {
        let mut scanned = SCANNED.lock().unwrap_or_else(|e| e.into_inner());
        if scanned.iter().any(|d| d == dir) {
            return 0;
        }
        scanned.push(dir.to_path_buf());
    }
    remove_stale_temps_now(dir)
}

fn remove_stale_temps_now(dir: &Path) -> usize {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_pid) else {
            continue;
        };
        if pid == std::process::id() as i32 || pid_alive(pid) {
            continue;
        }
        let path = entry.path();
        let Ok(f) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
        else {
            continue;
        };
        let (Ok(held), Ok(now)) = (f.metadata(), fs::symlink_metadata(&path)) else {
            continue;
        };
        // Locked by a live run (or locks unsupported: not provably dead), or no longer the
        // file we opened: keep it.
        if !held.is_file() || f.try_lock().is_err() {
            continue;
        }
        if (held.dev(), held.ino()) == (now.dev(), now.ino()) && fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// A temp file for `dest` in `dir` (mode `perms` & !umask, then `restore` exactly if given),
/// filled through `body`, flushed and, if `sync`, fsynced. Anonymous where the filesystem
/// allows and `anonymous` is set, else named.
fn write_temp(
    dir: &Path,
    dest: &Path,
    perms: fs::Permissions,
    restore: Option<fs::Permissions>,
    sync: bool,
    anonymous: bool,
    body: impl FnOnce(Sink, &str) -> Result<()>,
) -> Result<Temp> {
    let ctx = dest.display().to_string();
    let creating = |e| Error::io_at("creating a temp file in", dir, e);
    remove_stale_temps(dir);
    let anon = if anonymous && anonymous_allowed() {
        open_anonymous(dir, perms.mode()).map_err(creating)?
    } else {
        None
    };
    let temp = match anon {
        Some(file) => Temp {
            file: Some(file),
            kind: TempKind::Anonymous {
                dir: dir.to_path_buf(),
            },
        },
        None => {
            let (file, path) = tempfile::Builder::new()
                .prefix(&temp_prefix(dest))
                .suffix(".tmp")
                .permissions(perms)
                .tempfile_in(dir)
                .map_err(creating)?
                .into_parts();
            Temp {
                file: Some(file),
                kind: TempKind::Named(path),
            }
        }
    };
    let file = temp.file.as_ref().expect("just opened");
    // Held until the file has its final name; failure (no locks here) is not fatal: the PID
    // in the name still protects it.
    let _ = file.try_lock();
    {
        let mut w = BufWriter::with_capacity(
            BUF,
            file.try_clone()
                .map_err(|e| Error::io_at("opening temp file for", dest, e))?,
        );
        body(Sink::File(&mut w), &ctx)?;
        w.flush().map_err(|e| Error::io_at("writing", dest, e))?;
    }
    if let Some(p) = restore {
        let _ = file.set_permissions(p);
    }
    if sync {
        file.sync_all()
            .map_err(|e| Error::io_at("syncing", dest, e))?;
    }
    Ok(temp)
}

impl Temp {
    /// Give the file its final name `dest`: replacing what is there with `force`, else only if
    /// nothing is (an existing file is a usage error, also one that appeared while writing).
    fn persist(self, dest: &Path, force: bool) -> Result<()> {
        let ctx = dest.display().to_string();
        let exists = || Error::Usage(format!("{ctx} already exists; pass `force` to replace it"));
        let renaming = |e| Error::io_at("renaming temp file to", dest, e);
        match self.kind {
            TempKind::Named(path) => {
                if force {
                    path.persist(dest).map_err(|e| renaming(e.error))?;
                } else {
                    path.persist_noclobber(dest).map_err(|e| {
                        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                            exists()
                        } else {
                            renaming(e.error)
                        }
                    })?;
                }
                Ok(())
            }
            TempKind::Anonymous { dir } => {
                let file = self.file.expect("an anonymous file is always open");
                match link_fd(&file, dest) {
                    Ok(()) => return Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && !force => {
                        return Err(exists());
                    }
                    Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                        return Err(renaming(e));
                    }
                    Err(_) => {}
                }
                // --force over an existing file: a name of our pattern first (locked, so no
                // other run's clean-up removes it), then an atomic rename over the destination.
                for _ in 0..100 {
                    let mut random = [0u8; 6];
                    getrandom::fill(&mut random).map_err(|e| renaming(std::io::Error::other(e)))?;
                    const ALNUM: &[u8] =
                        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
                    let random: String = random
                        .iter()
                        .map(|b| ALNUM[*b as usize % ALNUM.len()] as char)
                        .collect();
                    let named = dir.join(format!("{}{random}.tmp", temp_prefix(dest)));
                    match link_fd(&file, &named) {
                        Ok(()) => {
                            return fs::rename(&named, dest).map_err(|e| {
                                let _ = fs::remove_file(&named);
                                renaming(e)
                            });
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                        Err(e) => return Err(renaming(e)),
                    }
                }
                Err(renaming(std::io::Error::other(
                    "no free temp name after 100 tries",
                )))
            }
        }
    }
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
                .map_err(|e| Error::io_at("opening", &dest, e))?;
            let mut w = BufWriter::with_capacity(BUF, f);
            body(Sink::Stream(&mut w), &ctx)?;
            w.flush().map_err(|e| Error::io_at("writing", &dest, e))?;
            return Ok(());
        }
        Existing::Regular(_) if !force => {
            return Err(Error::Usage(format!(
                "{ctx} already exists; pass `force` to replace it"
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
    check_space(&dir, &dest, size)?;

    let perms = match &existing {
        Existing::Regular(p) => p.clone(),
        _ => fs::Permissions::from_mode(0o666),
    };
    // The temp file is created with mode & !umask; an existing file's mode is restored exactly.
    let restore = matches!(existing, Existing::Regular(_)).then_some(perms.clone());
    let tmp = write_temp(&dir, &dest, perms, restore, sync, true, body)?;
    tmp.persist(&dest, force)?;
    if let Ok(d) = File::open(&dir) {
        // Make the rename durable; some filesystems refuse fsync on directories — not fatal.
        let _ = d.sync_all();
    }
    Ok(())
}

/// A complete file in its destination directory, not yet under its name (flushed and
/// fsynced), waiting for [`Staged::persist`]. Multi-file outputs (a sharded checkpoint) stage
/// every file first, so a failure, Ctrl-C or SIGKILL while writing leaves nothing; dropping a
/// `Staged` removes its file. Each holds an open descriptor (an anonymous file exists only
/// while open) up to a budget of a quarter of the descriptor limit; beyond it, files are named
/// temp files that hold none.
pub(super) struct Staged {
    tmp: Temp,
    dest: PathBuf,
    _slot: Option<FdSlot>,
}

/// Staged files holding a descriptor now.
static STAGED_FDS: AtomicUsize = AtomicUsize::new(0);

/// One of the staged-file descriptors of the budget; given back on drop.
struct FdSlot;

impl FdSlot {
    fn take() -> Option<FdSlot> {
        static BUDGET: OnceLock<usize> = OnceLock::new();
        let budget = *BUDGET.get_or_init(|| {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes into the struct we pass.
            let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
                lim.rlim_cur as usize
            } else {
                1024
            };
            (soft / 4).clamp(16, 4096)
        });
        STAGED_FDS
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < budget).then_some(n + 1)
            })
            .ok()
            .map(|_| FdSlot)
    }
}

impl Drop for FdSlot {
    fn drop(&mut self) {
        STAGED_FDS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Write `dest`'s contents through `body` into a temp file beside it (mode 0666 & !umask),
/// flush and (if `sync`) fsync it. Nothing appears at `dest` until [`Staged::persist`].
pub(super) fn stage(
    dest: &Path,
    sync: bool,
    body: impl FnOnce(Sink, &str) -> Result<()>,
) -> Result<Staged> {
    stage_as(dest, sync, true, body)
}

/// [`stage`], with anonymous temp files allowed or not.
fn stage_as(
    dest: &Path,
    sync: bool,
    anonymous: bool,
    body: impl FnOnce(Sink, &str) -> Result<()>,
) -> Result<Staged> {
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let slot = FdSlot::take();
    let mut tmp = write_temp(
        &dir,
        dest,
        fs::Permissions::from_mode(0o666),
        None,
        sync,
        anonymous && slot.is_some(),
        body,
    )?;
    if slot.is_none() {
        tmp.file = None;
    }
    Ok(Staged {
        tmp,
        dest: dest.to_path_buf(),
        _slot: slot,
    })
}

impl Staged {
    /// Give the file its destination name: replacing what is there with `force`, else only if
    /// nothing is (an existing file is a usage error). The directory is not fsynced here
    /// ([`sync_dir`] once after a batch of renames).
    pub(super) fn persist(self, force: bool) -> Result<PathBuf> {
        self.tmp.persist(&self.dest, force)?;
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

/// Refuse to start when `dir` cannot take `shown`: a pseudo filesystem (no blocks at all:
/// `/proc`, `/sys`), a read-only filesystem, or less than `size` bytes of free space. What
/// `statvfs` cannot tell is not refused. I/O errors (exit 1), each naming its real cause
/// rather than "0 bytes available".
pub(super) fn check_space(dir: &Path, shown: &Path, size: u64) -> Result<()> {
    check_filesystem(dir, shown)?;
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

/// Create a checkpoint's directory `dir` (what `output` names) if missing. The rule is the one
/// for a single file's destination: the directory that holds what `output` names must exist;
/// only the final component, the checkpoint directory itself, is created.
pub(super) fn create_output_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = match dir.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(Error::Usage(format!(
            "output directory {} does not exist",
            parent.display()
        )));
    }
    check_filesystem(&parent, dir)?;
    match fs::create_dir(dir) {
        // Another process writing another shard of the same checkpoint made it first.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        r => r.map_err(|e| Error::io_at("creating", dir, e)),
    }
}

/// The pseudo and read-only filesystem part of `check_space`.
pub(super) fn check_filesystem(dir: &Path, shown: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return Ok(());
    };
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path and `st` is written by statvfs before it is read.
    if unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return Ok(());
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    let refuse = |kind, why: String| {
        Err(Error::io_at(
            "cannot write",
            shown,
            std::io::Error::new(kind, why),
        ))
    };
    if st.f_blocks == 0 {
        return refuse(
            std::io::ErrorKind::Unsupported,
            format!(
                "{} is not a regular filesystem (a pseudo filesystem with no space for files, like /proc or /sys)",
                dir.display()
            ),
        );
    }
    if st.f_flag & libc::ST_RDONLY != 0 {
        return refuse(
            std::io::ErrorKind::ReadOnlyFilesystem,
            format!("{} is on a read-only file system", dir.display()),
        );
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
        assert!(
            e.is_usage() && e.to_string().contains("pass `force`"),
            "{e}"
        );
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
        // Anonymous where the filesystem allows: nothing visible at all.
        let anonymous = matches!(s.tmp.kind, TempKind::Anonymous { .. });
        assert_eq!(leftovers(dir.path()).len(), usize::from(!anonymous));
        drop(s);
        assert!(leftovers(dir.path()).is_empty());
        // A named temp file (as where there is no O_TMPFILE) has our pattern, and goes too.
        let s = stage_as(&dest, true, false, |mut s, _| {
            s.as_write().write_all(b"abc").unwrap();
            Ok(())
        })
        .unwrap();
        let named = leftovers(dir.path());
        assert_eq!(named.len(), 1);
        assert_eq!(
            temp_pid(&named[0]),
            Some(std::process::id() as i32),
            "{named:?}"
        );
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
        assert!(
            e.is_usage() && e.to_string().contains("pass `force`"),
            "{e}"
        );
        assert_eq!(fs::read(&dest).unwrap(), b"abc");
        assert_eq!(leftovers(dir.path()), vec!["a.safetensors".to_string()]);
        // A failing body leaves nothing.
        assert!(stage(&dir.path().join("b.safetensors"), true, write_then_fail).is_err());
        assert_eq!(leftovers(dir.path()), vec!["a.safetensors".to_string()]);
    }

    #[test]
    fn anonymous_and_named_temp_files_persist_alike() {
        for anonymous in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let dest = dir.path().join("a.npy");
            let write = |bytes: &'static [u8]| {
                stage_as(&dest, true, anonymous, move |mut s, _| {
                    s.as_write().write_all(bytes).unwrap();
                    Ok(())
                })
                .unwrap()
            };
            let s = write(b"one");
            // A file that appears while writing is never replaced without --force.
            fs::write(&dest, b"theirs").unwrap();
            let e = s.persist(false).unwrap_err();
            assert!(
                e.is_usage() && e.to_string().contains("pass `force`"),
                "{e}"
            );
            assert_eq!(fs::read(&dest).unwrap(), b"theirs");
            // With --force it is replaced, atomically, and no temp name is left.
            write(b"two").persist(true).unwrap();
            assert_eq!(fs::read(&dest).unwrap(), b"two");
            assert_eq!(leftovers(dir.path()), vec!["a.npy".to_string()]);
            fs::remove_file(&dest).unwrap();
            write(b"three").persist(true).unwrap();
            assert_eq!(fs::read(&dest).unwrap(), b"three");
            let mode = fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
            let status = fs::read_to_string("/proc/self/status").unwrap();
            let mask = status
                .lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .map(|m| u32::from_str_radix(m.trim(), 8).unwrap())
                .unwrap();
            assert_eq!(mode, 0o666 & !mask, "anonymous: {anonymous}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_machines_temp_directory_has_anonymous_files() {
        let dir = tempfile::tempdir().unwrap();
        assert!(open_anonymous(dir.path(), 0o600).unwrap().is_some());
    }

    #[test]
    fn temp_names_carry_the_pid() {
        assert_eq!(temp_pid(".w.npy.weightgen-123-aB9xYz.tmp"), Some(123));
        assert_eq!(temp_pid(".a.weightgen-b.weightgen-7-x.tmp"), Some(7));
        let ours = format!("{}aaaaaa.tmp", temp_prefix(Path::new("d/m.safetensors")));
        assert!(ours.starts_with(".m.safetensors.weightgen-"), "{ours}");
        assert_eq!(temp_pid(&ours), Some(std::process::id() as i32));
        for not in [
            ".w.npy.abc123.tmp", // tempfile's pattern, as older weightgen wrote
            "w.npy.weightgen-123-abc.tmp",
            ".w.npy.weightgen-123-abc",
            ".w.npy.weightgen--abc.tmp",
            ".w.npy.weightgen-12x-abc.tmp",
            ".w.npy.weightgen-123-.tmp",
            ".w.npy.weightgen-123-a.c.tmp",
            ".w.npy.weightgen-0-abc.tmp",
            ".w.npy.weightgen-99999999999-abc.tmp",
        ] {
            assert_eq!(temp_pid(not), None, "{not}");
        }
        let long = "x".repeat(255);
        assert!(temp_prefix(Path::new(&long)).len() + 10 <= 255);
    }

    /// A PID that belonged to a process which has exited and been reaped.
    fn dead_pid() -> i32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id() as i32;
        c.wait().unwrap();
        assert!(!pid_alive(pid));
        pid
    }

    #[test]
    fn only_temp_files_of_dead_unlocked_runs_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let dead = dead_pid();
        let name = |pid: i32, r: &str| format!(".w.npy.weightgen-{pid}-{r}.tmp");
        let stale = name(dead, "aaaaaa");
        let live = name(std::process::id() as i32, "bbbbbb");
        let locked = name(dead, "cccccc"); // dead PID, but a live process holds its lock
        let parent = name(1, "dddddd"); // init: alive
        let foreign = ".w.npy.Xy12ab.tmp".to_string();
        let unrelated = "w.npy".to_string();
        for n in [&stale, &live, &locked, &parent, &foreign, &unrelated] {
            fs::write(d.join(n), b"x").unwrap();
        }
        fs::create_dir(d.join(name(dead, "eeeeee"))).unwrap(); // not a regular file
        let lock = File::open(d.join(&locked)).unwrap();
        lock.try_lock().unwrap();
        // The lock is held through another open file description, as another process's is.
        assert_eq!(remove_stale_temps_now(d), 1);
        let mut left = leftovers(d);
        left.sort();
        let mut want = vec![
            live,
            locked.clone(),
            parent,
            foreign,
            unrelated,
            name(dead, "eeeeee"),
        ];
        want.sort();
        assert_eq!(left, want);
        drop(lock);
        assert_eq!(remove_stale_temps_now(d), 1, "unlocked now");
        assert!(!d.join(&locked).exists());
        // Once per directory per process.
        fs::write(d.join(&stale), b"x").unwrap();
        assert_eq!(remove_stale_temps(d), 1);
        fs::write(d.join(&stale), b"x").unwrap();
        assert_eq!(remove_stale_temps(d), 0);
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
