//! The library's one error type.
//!
//! Owns: every failure the library reports, split into the classes the command line maps to
//! exit codes (invalid input → 2, I/O and other runtime failures → 1, a failed `inspect --check`
//! → 3). Does not own: printing
//! (the binary prints `weightgen: error: {err}` on one line).

use std::path::PathBuf;

/// Everything that can go wrong while turning a spec into files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec or a flag is invalid: bad JSON, an unknown key, a bad parameter, a shape that
    /// overflows. `where_` names the place (`tensors[1].shape`, `--std`), may be empty.
    #[error("{}{msg}", if where_.is_empty() { String::new() } else { format!("{where_}: ") })]
    Invalid { where_: String, msg: String },

    /// A parameter was given without another one it needs (`shard` without `max_shard_size`).
    /// `param` and `needs` are parameter names where they name parameters; `why` may be empty.
    #[error("{param} needs {needs}{}", if why.is_empty() { String::new() } else { format!(" ({why})") })]
    Needs {
        param: String,
        needs: String,
        why: String,
    },

    /// The requested output cannot be produced as asked (format/dtype/destination mismatch,
    /// existing file without `--force`). Also an invalid-usage error (exit 2).
    #[error("{0}")]
    Usage(String),

    /// Reading or writing a file failed. (`cause` is part of the message rather than an error
    /// `source`, so chained printing does not repeat it.)
    #[error("{context}: {cause}")]
    Io {
        /// What was being done, naming the file (`writing w.npy`).
        context: String,
        /// The file, when the failure concerns one.
        path: Option<PathBuf>,
        cause: std::io::Error,
    },

    /// Not enough free space for the output.
    #[error(
        "not enough free space for {}: needs {needed} bytes, {available} available",
        path.display()
    )]
    NoSpace {
        path: PathBuf,
        needed: u64,
        available: u64,
    },

    /// A numerical routine failed (`weightgen study`: an SVD that did not converge).
    #[error("{0}")]
    Numerical(String),

    /// The run was interrupted (Ctrl-C); nothing was left at the destination.
    #[error("interrupted; nothing was written to {}", path.display())]
    Interrupted { path: PathBuf },

    /// A file given to `inspect` is not a valid weights file (truncated, inconsistent, hostile,
    /// or not weights at all). An invalid-input error (exit 2).
    #[error("{0}")]
    Malformed(String),

    /// A run needs more memory than its limit allows, or a buffer it needs cannot be allocated
    /// (exit 2, as invalid input: the run was asked for more than this machine gives it). The
    /// message names what needs the memory, how much, and the limit.
    #[error("{0}")]
    Memory(String),

    /// `inspect --check`: tensors do not match the initialisation they claim (exit 3). The
    /// message names each failing tensor and test.
    #[error("check failed: {0}")]
    CheckFailed(String),
}

impl Error {
    /// An invalid-input error at a place (`tensors[0].std`, `--gain`).
    pub fn invalid(where_: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Invalid {
            where_: where_.into(),
            msg: msg.into(),
        }
    }

    /// `param` was given without `needs`, for the reason `why` (may be empty).
    pub fn needs(
        param: impl Into<String>,
        needs: impl Into<String>,
        why: impl Into<String>,
    ) -> Self {
        Error::Needs {
            param: param.into(),
            needs: needs.into(),
            why: why.into(),
        }
    }

    /// An I/O error with what we were doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            path: None,
            cause: source,
        }
    }

    /// An I/O error while `doing` something to `path` (`"writing"`, `w.npy`): the message says
    /// `writing w.npy: …`, and the path is kept for callers.
    pub fn io_at(doing: &str, path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        let path = path.as_ref();
        Error::Io {
            context: format!("{doing} {}", path.display()),
            path: Some(path.to_path_buf()),
            cause: source,
        }
    }

    /// A file the user named could not be opened or read (`context`: "cannot open FILE"): a
    /// path that does not exist is invalid usage (exit 2); permission denied and every other
    /// I/O failure are runtime failures (exit 1), the same in `generate` and `inspect`.
    pub(crate) fn opening(context: impl Into<String>, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::Usage(format!("{}: {source}", context.into()))
        } else {
            Error::io(context, source)
        }
    }

    /// This error located at `where_`, unless it already names a place.
    pub fn at(self, where_: &str) -> Self {
        match self {
            Error::Invalid { where_: w, msg } if w.is_empty() => Error::invalid(where_, msg),
            o => o,
        }
    }

    /// The parameter names in this error whose first word is in `names`, renamed by `rename`:
    /// an [`Error::Invalid`]'s place and an [`Error::Needs`]'s two names (the rest of a place is
    /// kept), and every mention of a name in backticks in a message (the library writes
    /// parameters it tells the user to set as `` `force` ``, `` `rng` torch``). How a front end
    /// shows its own names for the library's: the command line's `--max-shard-size` for
    /// `max_shard_size`, `--scheme relu:gain` for `scheme relu:gain`, `pass --force` for
    /// ``pass `force` ``.
    pub fn renamed(self, names: &[&str], rename: impl Fn(&str) -> String) -> Self {
        let place = |place: String| match place.split_once(' ').unwrap_or((&place, "")) {
            (head, rest) if names.contains(&head) => {
                format!("{} {rest}", rename(head)).trim_end().to_string()
            }
            _ => place,
        };
        // A name that is also a value users type (`fan_in` is a mode) is left alone in text:
        // "did you mean `fan_in`?" suggests a value, not a flag.
        let values: Vec<&str> = crate::Choice::ALL.iter().flat_map(|c| c.names()).collect();
        let mention = |mut text: String| {
            for name in names.iter().filter(|n| !values.contains(n)) {
                let quoted = format!("`{name}`");
                if text.contains(&quoted) {
                    text = text.replace(&quoted, &rename(name));
                }
            }
            text
        };
        // Suggestions ("did you mean `seed`?") name keys and values to type, not parameters.
        let text = |text: String| {
            let (mut out, mut rest) = (String::new(), text.as_str());
            while let Some(i) = rest.find("did you mean ") {
                let end = rest[i..].find('?').map_or(rest.len(), |j| i + j + 1);
                out += &mention(rest[..i].to_string());
                out += &rest[i..end];
                rest = &rest[end..];
            }
            out + &mention(rest.to_string())
        };
        match self {
            Error::Invalid { where_, msg } => Error::Invalid {
                where_: place(where_),
                msg: text(msg),
            },
            Error::Needs { param, needs, why } => Error::Needs {
                param: place(param),
                needs: place(needs),
                why: text(why),
            },
            Error::Usage(msg) => Error::Usage(text(msg)),
            Error::Memory(msg) => Error::Memory(text(msg)),
            o => o,
        }
    }

    /// True for errors caused by what the user asked (exit code 2); false for runtime failures
    /// (exit code 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::Invalid { .. }
                | Error::Needs { .. }
                | Error::Usage(_)
                | Error::Malformed(_)
                | Error::Memory(_)
        )
    }

    /// The exit status a command-line front end gives this error, as `weightgen` does: 2 for
    /// what the user asked ([`Error::is_usage`]), 3 for a failed check, 130 for an interrupt
    /// (128 + SIGINT), 1 for runtime failures.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Interrupted { .. } => 130,
            Error::CheckFailed(_) => 3,
            e if e.is_usage() => 2,
            _ => 1,
        }
    }
}

/// Result with the library's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn exit_codes_follow_the_documented_classes() {
        assert_eq!(Error::invalid("seed", "bad").exit_code(), 2);
        assert_eq!(Error::Memory("too big".into()).exit_code(), 2);
        assert_eq!(Error::CheckFailed("w.npy".into()).exit_code(), 3);
        let e = Error::Interrupted {
            path: "w.npy".into(),
        };
        assert_eq!(e.exit_code(), 130);
        let e = Error::io("writing w.npy", std::io::Error::other("disk"));
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn io_at_names_the_file_in_the_message_and_keeps_its_path() {
        let cause = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let e = Error::io_at("writing", "out/w.npy", cause);
        assert!(e.to_string().starts_with("writing out/w.npy: "), "{e}");
        assert!(matches!(&e, Error::Io { path: Some(p), cause, .. }
                if p == std::path::Path::new("out/w.npy")
                    && cause.kind() == std::io::ErrorKind::PermissionDenied));
    }

    #[test]
    fn renamed_changes_only_the_listed_names_and_keeps_the_rest_of_the_place() {
        let flag = |n: &str| format!("--{}", n.replace('_', "-"));
        let e = Error::invalid("scheme relu:gain", "bad").renamed(&["scheme"], flag);
        assert_eq!(e.to_string(), "--scheme relu:gain: bad");
        let e = Error::invalid("tensors[0].std", "bad").renamed(&["std"], flag);
        assert_eq!(e.to_string(), "tensors[0].std: bad");
        let e =
            Error::needs("shard", "max_shard_size", "").renamed(&["shard", "max_shard_size"], flag);
        assert_eq!(e.to_string(), "--shard needs --max-shard-size");
        let e = Error::Usage("w.npy already exists; pass `force` to replace it".into());
        let e = e.renamed(&["force", "shard"], flag);
        assert_eq!(
            e.to_string(),
            "w.npy already exists; pass --force to replace it"
        );
        let e = Error::invalid("tensor `w`", "with `rng` torch: no").renamed(&["rng"], flag);
        assert_eq!(e.to_string(), "tensor `w`: with --rng torch: no");
        let e = Error::invalid("mode", "did you mean `fan_in`?").renamed(&["mode", "fan_in"], flag);
        assert_eq!(e.to_string(), "--mode: did you mean `fan_in`?");
        let e = Error::invalid(
            "spec s.json: rgn",
            "unknown key; did you mean `rng`? use `rng` torch",
        );
        let e = e.renamed(&["rng"], flag);
        assert_eq!(
            e.to_string(),
            "spec s.json: rgn: unknown key; did you mean `rng`? use --rng torch"
        );
        let e = Error::invalid("", "bad").at("convention").at("other");
        assert_eq!(e.to_string(), "convention: bad");
    }
}
