//! Readers: weight files read back, validated before anything in them is trusted.
//!
//! Owns: parsing `.safetensors` (with the reference crate's rules plus our own: no duplicate
//! keys, precise messages), `.npy` headers, `.npz` archives (member names, declared vs actual
//! sizes, overlapping members, compression ratios, CRCs; nothing is ever extracted to disk), a
//! sharded checkpoint's `model.safetensors.index.json`, and handing out each tensor's data bytes
//! in bounded batches. Before parsing, a file's first bytes are sniffed: a Git LFS pointer, an
//! HTML page, JSON text, or another weights format than the one its name says is refused
//! naming what it is (never read by its content). Every reader works on a byte slice (the
//! caller memory-maps the file), so the fuzz targets call exactly the code the command runs. A file is never trusted to size an
//! allocation: sizes are checked against the slice with checked arithmetic first.
//!
//! Does not own: statistics or conformance (`inspect`).

pub(crate) mod index;
pub(crate) mod npy;
pub(crate) mod npz;
pub(crate) mod safetensors;

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::io::Cursor;

/// The file formats `inspect` reads: the same enum the writers use.
pub use crate::format::Format as FileFormat;

/// Element type of a stored tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ElemType {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U64,
    U32,
    U16,
    U8,
    Bool,
    /// A type we list but compute no statistics for (FP8, complex, opaque `V2`, …), with its
    /// size in bits.
    Other {
        name: String,
        bits: u64,
    },
}

impl ElemType {
    /// Size of one element in bits.
    pub(crate) fn bits(&self) -> u64 {
        match self {
            ElemType::F64 | ElemType::I64 | ElemType::U64 => 64,
            ElemType::F32 | ElemType::I32 | ElemType::U32 => 32,
            ElemType::F16 | ElemType::BF16 | ElemType::I16 | ElemType::U16 => 16,
            ElemType::I8 | ElemType::U8 | ElemType::Bool => 8,
            ElemType::Other { bits, .. } => *bits,
        }
    }

    /// Bytes per element for the types we decode (None for `Other`).
    pub(crate) fn decoded_size(&self) -> Option<usize> {
        match self {
            ElemType::Other { .. } => None,
            t => Some((t.bits() / 8) as usize),
        }
    }

    /// The name shown to users: weightgen's dtype names (`f32`, `bf16`, …).
    pub(crate) fn name(&self) -> String {
        match self {
            ElemType::F64 => "f64".into(),
            ElemType::F32 => "f32".into(),
            ElemType::F16 => "f16".into(),
            ElemType::BF16 => "bf16".into(),
            ElemType::I64 => "i64".into(),
            ElemType::I32 => "i32".into(),
            ElemType::I16 => "i16".into(),
            ElemType::I8 => "i8".into(),
            ElemType::U64 => "u64".into(),
            ElemType::U32 => "u32".into(),
            ElemType::U16 => "u16".into(),
            ElemType::U8 => "u8".into(),
            ElemType::Bool => "bool".into(),
            ElemType::Other { name, .. } => name.clone(),
        }
    }

    /// The weightgen dtype, for the floating types weightgen writes.
    #[cfg(test)]
    pub(crate) fn as_dtype(&self) -> Option<crate::dtype::DType> {
        match self {
            ElemType::F64 => Some(crate::dtype::DType::F64),
            ElemType::F32 => Some(crate::dtype::DType::F32),
            ElemType::F16 => Some(crate::dtype::DType::F16),
            ElemType::BF16 => Some(crate::dtype::DType::BF16),
            _ => None,
        }
    }

    /// Decode little-endian elements (`bytes.len()` a multiple of the size) into f64.
    pub(crate) fn decode_le(&self, bytes: &[u8], out: &mut Vec<f64>) {
        out.clear();
        macro_rules! dec {
            ($t:ty, $n:expr) => {
                out.extend(
                    bytes
                        .chunks_exact($n)
                        .map(|c| <$t>::from_le_bytes(c.try_into().expect("exact chunk")) as f64),
                )
            };
        }
        match self {
            ElemType::F64 => dec!(f64, 8),
            ElemType::F32 => dec!(f32, 4),
            ElemType::F16 => out.extend(
                bytes
                    .chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f64()),
            ),
            ElemType::BF16 => out.extend(
                bytes
                    .chunks_exact(2)
                    .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f64()),
            ),
            ElemType::I64 => dec!(i64, 8),
            ElemType::I32 => dec!(i32, 4),
            ElemType::I16 => dec!(i16, 2),
            ElemType::I8 => dec!(i8, 1),
            ElemType::U64 => dec!(u64, 8),
            ElemType::U32 => dec!(u32, 4),
            ElemType::U16 => dec!(u16, 2),
            ElemType::U8 | ElemType::Bool => dec!(u8, 1),
            ElemType::Other { .. } => {}
        }
    }
}

/// Byte order of stored elements (only `.npy` can be big-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteOrder {
    Little,
    Big,
}

/// Where a tensor's data bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    /// A range of the file's bytes (safetensors, npy, stored npz members); for an npz member
    /// also its CRC-32 and where the member (npy header included) starts.
    Range {
        start: usize,
        end: usize,
        crc: Option<(u32, usize)>,
    },
    /// A deflated npz member: decompress, skip the npy header, stream the rest. `raw` is the
    /// member's compressed bytes in the file.
    Deflated {
        member: usize,
        skip: u64,
        raw: (usize, usize),
    },
}

/// One tensor as found in a file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TensorInfo {
    pub name: String,
    pub dtype: ElemType,
    pub shape: Vec<u64>,
    pub numel: u64,
    /// Data bytes (numel × element size).
    pub bytes: u64,
    pub byte_order: ByteOrder,
    /// `.npy` column-major data (statistics do not depend on the order).
    pub fortran_order: bool,
    location: Location,
}

/// A parsed file: its tensors (in file order) and metadata, and access to their bytes.
pub(crate) struct Parsed<'a> {
    /// safetensors `__metadata__` (empty for other formats).
    pub metadata: BTreeMap<String, String>,
    pub tensors: Vec<TensorInfo>,
    bytes: &'a [u8],
    zip: Option<zip::ZipArchive<Cursor<&'a [u8]>>>,
}

/// Largest batch handed to a visitor, in bytes.
pub(crate) const BATCH_BYTES: usize = 16 << 20;

impl<'a> Parsed<'a> {
    /// Parse `bytes` as `format`. `what` names the file in messages.
    pub(crate) fn new(bytes: &'a [u8], format: FileFormat) -> Result<Parsed<'a>> {
        sniff(bytes, format)?;
        match format {
            FileFormat::Safetensors => safetensors::parse(bytes),
            FileFormat::Npy => npy::parse_file(bytes),
            FileFormat::Npz => npz::parse(bytes),
        }
    }

    /// Feed tensor `i`'s data bytes to `visit` in batches of at most [`BATCH_BYTES`], each a
    /// whole number of elements, in order. Verifies sizes and CRCs of compressed members.
    /// `release` is told each range of the input that has been read and will not be read again
    /// (so a memory-mapped file's pages can be dropped as it goes, keeping memory flat).
    pub(crate) fn visit(
        &mut self,
        i: usize,
        visit: &mut dyn FnMut(&[u8]) -> Result<()>,
        release: &mut dyn FnMut(std::ops::Range<usize>),
    ) -> Result<()> {
        let t = &self.tensors[i];
        let elem = (t.dtype.bits() / 8).max(1) as usize;
        let batch = (BATCH_BYTES / elem).max(1) * elem;
        match t.location {
            Location::Range { start, end, crc } => {
                let mut hasher = crc.map(|(_, member)| {
                    let mut h = crc32fast::Hasher::new();
                    h.update(&self.bytes[member..start]);
                    h
                });
                let mut at = start;
                for chunk in self.bytes[start..end].chunks(batch) {
                    if let Some(h) = hasher.as_mut() {
                        h.update(chunk);
                    }
                    visit(chunk)?;
                    release(at..at + chunk.len());
                    at += chunk.len();
                }
                match (crc, hasher) {
                    (Some((want, _)), Some(h)) if h.clone().finalize() != want => {
                        Err(bad(format!(
                            "npz member `{}.npy`: CRC-32 mismatch (the data is corrupt)",
                            t.name
                        )))
                    }
                    _ => Ok(()),
                }
            }
            Location::Deflated { member, skip, raw } => {
                let zip = self.zip.as_mut().expect("npz keeps its archive");
                npz::stream_member(zip, member, skip, t.bytes, batch, &t.name, visit)?;
                release(raw.0..raw.1);
                Ok(())
            }
        }
    }
}

/// An invalid file: one message, exit 2.
pub(crate) fn bad(msg: impl Into<String>) -> Error {
    Error::Malformed(msg.into())
}

/// Recognise files that are not weights at all before parsing them as such.
fn sniff(bytes: &[u8], format: FileFormat) -> Result<()> {
    let head = &bytes[..bytes.len().min(256)];
    if head.starts_with(b"version https://git-lfs.github.com/spec/") {
        return Err(bad(format!(
            "this is a Git LFS pointer ({} bytes), not the {format} data: fetch the real file (`git lfs pull`, or download it directly)",
            bytes.len()
        )));
    }
    let lower: Vec<u8> = head.iter().take(64).map(u8::to_ascii_lowercase).collect();
    let trimmed = lower.trim_ascii_start();
    if trimmed.starts_with(b"<!doctype html") || trimmed.starts_with(b"<html") {
        return Err(bad(format!(
            "this is an HTML page, not {format} data (a failed or redirected download?)"
        )));
    }
    if bytes.is_empty() {
        return Err(bad(format!(
            "the file is empty, not {format} data (an interrupted download?)"
        )));
    }
    if let Some((real, evidence)) = content_format(bytes)
        && real != format
    {
        return Err(bad(format!(
            "{evidence}, not {format} data; rename it to end in .{real}"
        )));
    }
    // JSON text: 8 printable bytes where safetensors has its header length (whose high bytes
    // are zero for any header a reader accepts), and a `{` or `[` first.
    if head.len() >= 8
        && head[..8]
            .iter()
            .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
        && matches!(head.trim_ascii_start().first(), Some(b'{' | b'['))
    {
        return Err(bad(format!(
            "this is JSON text (a config or an index?), not {format} data"
        )));
    }
    Ok(())
}

/// The format a file's first bytes clearly show, and the evidence in words: the `.npy` magic, a
/// zip archive's local header (as `.npz` files are), or safetensors' 8-byte little-endian
/// header length followed by a JSON object that fits in the file. None when they show none.
fn content_format(bytes: &[u8]) -> Option<(FileFormat, &'static str)> {
    if bytes.starts_with(b"\x93NUMPY") {
        return Some((
            FileFormat::Npy,
            "this is an .npy file (its content starts with \\x93NUMPY)",
        ));
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return Some((
            FileFormat::Npz,
            "this is a zip archive, as an .npz file is (its content starts with PK\\x03\\x04)",
        ));
    }
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    if bytes.get(8) == Some(&b'{') && n >= 2 && n <= bytes.len() as u64 - 8 {
        return Some((
            FileFormat::Safetensors,
            "this is a .safetensors file (its content starts with an 8-byte header length and a JSON header)",
        ));
    }
    None
}

/// Elements and bytes of a shape, with checked arithmetic.
pub(crate) fn sizes(shape: &[u64], bits: u64, name: &str) -> Result<(u64, u64)> {
    let numel = shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .ok_or_else(|| {
            bad(format!(
                "tensor `{name}`: shape {shape:?} overflows 64 bits"
            ))
        })?;
    let total_bits = numel.checked_mul(bits).ok_or_else(|| {
        bad(format!(
            "tensor `{name}`: size of shape {shape:?} overflows 64 bits"
        ))
    })?;
    if total_bits % 8 != 0 {
        return Err(bad(format!(
            "tensor `{name}`: {numel} elements of {bits} bits is not a whole number of bytes"
        )));
    }
    Ok((numel, total_bits / 8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfs_pointers_and_html_pages_are_recognised() {
        let lfs = b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n";
        for f in [FileFormat::Safetensors, FileFormat::Npy, FileFormat::Npz] {
            let e = Parsed::new(lfs, f).err().unwrap().to_string();
            assert!(e.contains("Git LFS pointer"), "{e}");
        }
        let e = Parsed::new(b"  <!DOCTYPE html><html>", FileFormat::Npy)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("HTML page"), "{e}");
    }

    #[test]
    fn a_safetensors_header_length_whose_first_byte_is_a_brace_is_not_json_text() {
        // 123 = b'{': the file starts with `{`, but its next 7 bytes are zeros.
        let mut st = 123u64.to_le_bytes().to_vec();
        st.push(b'{');
        st.resize(8 + 123, b' ');
        assert_eq!(st[0], b'{');
        assert_eq!(
            content_format(&st).map(|c| c.0),
            Some(FileFormat::Safetensors)
        );
        assert!(sniff(&st, FileFormat::Safetensors).is_ok());
        // Truncated: no longer recognised by content, and still not called JSON text.
        let cut = &st[..40];
        assert_eq!(content_format(cut), None);
        assert!(sniff(cut, FileFormat::Safetensors).is_ok());
        let e = sniff(&st, FileFormat::Npy).unwrap_err().to_string();
        assert!(e.contains("rename it to end in .safetensors"), "{e}");
    }
}
