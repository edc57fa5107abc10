//! The file formats weightgen reads and writes: one enum for both directions.
//!
//! Owns: [`Format`], its names and how a path's extension names it. Does not own: the byte
//! layouts (`write` and `read` hold one module per format).

use crate::error::{Error, Result};
use std::fmt;
use std::path::Path;

/// A weights file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Npy,
    Npz,
    Safetensors,
}

impl Format {
    /// Every format, in the order help lists them.
    pub const ALL: [Format; 3] = [Format::Npy, Format::Npz, Format::Safetensors];

    pub fn name(self) -> &'static str {
        match self {
            Format::Npy => "npy",
            Format::Npz => "npz",
            Format::Safetensors => "safetensors",
        }
    }

    /// A format's name (`npy`, `.npz`, `safetensors` or `st`), in any letter case.
    pub fn parse(s: &str) -> Result<Format> {
        match s.to_ascii_lowercase().trim_start_matches('.') {
            "npy" => Ok(Format::Npy),
            "npz" => Ok(Format::Npz),
            "safetensors" | "st" => Ok(Format::Safetensors),
            _ => Err(Error::invalid(
                "format",
                format!(
                    "unknown format `{s}`{} (valid: npy, npz, safetensors)",
                    crate::names::did_you_mean(s, &["npy", "npz", "safetensors"])
                ),
            )),
        }
    }

    /// The format a path's extension names, if any.
    pub fn from_path(p: &Path) -> Option<Format> {
        let ext = p.extension()?.to_str()?;
        Format::parse(ext).ok()
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
