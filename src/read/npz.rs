//! `.npz` reader: a ZIP archive of `.npy` members (docs/file-formats.md §3.4), read in memory and
//! never extracted. Before a member is trusted: its name (UTF-8, `<name>.npy`, no absolute path,
//! no `..`, no backslash or NUL, no duplicates — the `zip` crate silently keeps the last of two
//! equal names, so the central directory is walked here too), its data range inside the file,
//! no two members sharing bytes (the overlapping-member zip bomb), stored members' sizes equal,
//! deflated members' declared expansion within deflate's maximum ratio (1032:1), the npy header
//! against the declared size, and while streaming: never more bytes than declared, the CRC.

use super::npy::{self, MAX_HEADER};
use super::{Location, Parsed, TensorInfo, bad};
use crate::error::Result;
use std::collections::{BTreeMap, HashSet};
use std::io::{Cursor, Read};
use zip::{CompressionMethod, ZipArchive};

/// Deflate cannot expand more than this (258-byte matches coded in 2 bits, ≈1032:1); a member
/// declaring more is lying about its size.
pub(crate) const MAX_DEFLATE_RATIO: u64 = 1032;

type Zip<'a> = ZipArchive<Cursor<&'a [u8]>>;

fn zerr(e: zip::result::ZipError) -> crate::Error {
    bad(format!("not a valid npz (zip) archive: {e}"))
}

/// Member names from the central directory itself, in order (bounded by the file's length: every
/// entry takes at least 46 bytes).
fn central_names(bytes: &[u8], start: u64) -> Result<Vec<Vec<u8>>> {
    let mut at = usize::try_from(start).map_err(|_| bad("central directory offset too large"))?;
    let mut names = Vec::new();
    while at + 4 <= bytes.len() && bytes[at..at + 4] == [0x50, 0x4b, 0x01, 0x02] {
        if at + 46 > bytes.len() {
            return Err(bad("npz central directory is truncated"));
        }
        let u16_at = |o: usize| u16::from_le_bytes([bytes[at + o], bytes[at + o + 1]]) as usize;
        let (n, x, c) = (u16_at(28), u16_at(30), u16_at(32));
        let end = at + 46 + n + x + c;
        if end > bytes.len() {
            return Err(bad("npz central directory is truncated"));
        }
        names.push(bytes[at + 46..at + 46 + n].to_vec());
        at = end;
    }
    Ok(names)
}

/// The tensor name of a member, or why the member is refused.
fn tensor_name(raw: &[u8]) -> Result<String> {
    let name = std::str::from_utf8(raw).map_err(|_| {
        bad(format!(
            "npz member name {:?} is not UTF-8",
            String::from_utf8_lossy(raw)
        ))
    })?;
    if name.is_empty()
        || name.starts_with('/')
        || name.contains('\\')
        || name.contains('\0')
        || name.split('/').any(|c| c == "..")
        || name.as_bytes().get(1) == Some(&b':')
    {
        return Err(bad(format!(
            "unsafe npz member name `{}` (absolute path, `..`, backslash, drive or NUL)",
            name.escape_debug()
        )));
    }
    match name.strip_suffix(".npy") {
        Some(t) if !t.is_empty() => Ok(t.to_string()),
        _ => Err(bad(format!(
            "npz member `{}` is not an .npy array (NumPy names every member <name>.npy)",
            name.escape_debug()
        ))),
    }
}

/// Parse and validate an `.npz` archive.
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed<'_>> {
    if !bytes.starts_with(b"PK") {
        return Err(bad(
            "not an npz file (a ZIP archive starts with `PK`); truncated or another format?",
        ));
    }
    let mut zip: Zip = ZipArchive::new(Cursor::new(bytes)).map_err(zerr)?;
    check_directory(bytes, &zip)?;
    let mut ranges: Vec<(u64, u64, String)> = Vec::new();
    let mut tensors = Vec::new();
    for i in 0..zip.len() {
        let (tensor, range) = member(bytes, &mut zip, i)?;
        tensors.push(tensor);
        ranges.push(range);
    }
    ranges.sort();
    for w in ranges.windows(2) {
        if w[1].0 < w[0].1 {
            return Err(bad(format!(
                "npz members `{}.npy` and `{}.npy` share bytes (overlapping members: a zip bomb?)",
                w[0].2, w[1].2
            )));
        }
    }
    Ok(Parsed {
        metadata: BTreeMap::new(),
        tensors,
        bytes,
        zip: Some(zip),
    })
}

/// The central directory's member names are unique and as many as the archive's index has.
fn check_directory(bytes: &[u8], zip: &Zip) -> Result<()> {
    let names = central_names(bytes, zip.central_directory_start())?;
    let mut seen = HashSet::new();
    for n in &names {
        if !seen.insert(n.as_slice()) {
            return Err(bad(format!(
                "duplicate npz member `{}`",
                String::from_utf8_lossy(n).escape_debug()
            )));
        }
    }
    if names.len() != zip.len() {
        return Err(bad(format!(
            "npz central directory lists {} members but the archive index has {} (corrupt?)",
            names.len(),
            zip.len()
        )));
    }
    Ok(())
}

/// Member `i`, checked: not encrypted, within the file, stored or deflated (within deflate's
/// ratio), an npy header whose shape needs exactly the member's data. Also the member's byte
/// range in the file (local header to end of data), to check members do not overlap.
fn member(bytes: &[u8], zip: &mut Zip, i: usize) -> Result<(TensorInfo, (u64, u64, String))> {
    let len = bytes.len() as u64;
    let (name, method, csize, size, start, header, crc) = {
        let f = zip.by_index_raw(i).map_err(zerr)?;
        if f.encrypted() {
            return Err(bad(format!("npz member `{}` is encrypted", f.name())));
        }
        (
            tensor_name(f.name_raw())?,
            f.compression(),
            f.compressed_size(),
            f.size(),
            f.data_start(),
            f.header_start(),
            f.crc32(),
        )
    };
    let end = start
        .checked_add(csize)
        .filter(|&e| e <= len)
        .ok_or_else(|| {
            bad(format!(
                "npz member `{name}.npy` claims {csize} bytes at offset {start}, past the end of the {len}-byte file (truncated or lying sizes)"
            ))
        })?;
    let (location, h) = match method {
        CompressionMethod::Stored => {
            if size != csize {
                return Err(bad(format!(
                    "stored npz member `{name}.npy` declares {size} bytes uncompressed but {csize} stored"
                )));
            }
            let member = &bytes[start as usize..end as usize];
            let h = npy::parse_header(member, &name).map_err(|e| in_member(e, &name))?;
            let data = start as usize + h.data_offset;
            (
                Location::Range {
                    start: data,
                    end: end as usize,
                    crc: Some((crc, start as usize)),
                },
                h,
            )
        }
        CompressionMethod::Deflated => {
            if size > csize.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(1024) {
                return Err(bad(format!(
                    "npz member `{name}.npy` declares {size} bytes from {csize} compressed, beyond deflate's maximum ratio of {MAX_DEFLATE_RATIO}:1 (a zip bomb, or lying sizes)"
                )));
            }
            let prefix = read_prefix(zip, i, size, &name)?;
            let h = npy::parse_header(&prefix, &name).map_err(|e| in_member(e, &name))?;
            (
                Location::Deflated {
                    member: i,
                    skip: h.data_offset as u64,
                    raw: (start as usize, end as usize),
                },
                h,
            )
        }
        m => {
            return Err(bad(format!(
                "npz member `{name}.npy` uses compression {m}, which is not supported (NumPy writes stored or deflated members)"
            )));
        }
    };
    let have = size - h.data_offset as u64;
    if have != h.bytes {
        let what = if have < h.bytes {
            format!("{} bytes short (truncated?)", h.bytes - have)
        } else {
            format!("{} trailing bytes", have - h.bytes)
        };
        return Err(bad(format!(
            "npz member `{name}.npy`: shape {:?} of {} needs {} data bytes but the member has {have}: {what}",
            h.shape,
            h.dtype.name(),
            h.bytes
        )));
    }
    let range = (header, end, name.clone());
    Ok((h.tensor(name, location), range))
}

fn in_member(e: crate::Error, name: &str) -> crate::Error {
    bad(format!("npz member `{name}.npy`: {e}"))
}

fn read_err(name: &str, e: std::io::Error) -> crate::Error {
    bad(format!("npz member `{name}.npy`: {e}"))
}

/// The decompressed npy prefix of member `i` (magic, version, length, header), never more
/// than the declared size or the header cap.
fn read_prefix(zip: &mut Zip, i: usize, size: u64, name: &str) -> Result<Vec<u8>> {
    let mut f = zip.by_index(i).map_err(zerr)?;
    let mut buf = Vec::new();
    let first = 12.min(size);
    (&mut f)
        .take(first)
        .read_to_end(&mut buf)
        .map_err(|e| read_err(name, e))?;
    let need = match buf.get(6..8) {
        Some([1, 0]) => 10 + u16::from_le_bytes([buf[8], buf[9]]) as u64,
        Some([2 | 3, 0]) if buf.len() >= 12 => {
            12 + u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes")) as u64
        }
        _ => return Ok(buf), // parse_header says what is wrong
    };
    let need = need.min(size).min(12 + MAX_HEADER as u64 + 1);
    if need > buf.len() as u64 {
        (&mut f)
            .take(need - buf.len() as u64)
            .read_to_end(&mut buf)
            .map_err(|e| read_err(name, e))?;
    }
    Ok(buf)
}

/// Stream the `total` data bytes of deflated member `i` after its `skip`-byte npy prefix, in
/// batches of `batch` bytes; then check the member ends there (and so its CRC).
pub(super) fn stream_member(
    zip: &mut Zip,
    i: usize,
    skip: u64,
    total: u64,
    batch: usize,
    name: &str,
    visit: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut f = zip.by_index(i).map_err(zerr)?;
    let skipped = std::io::copy(&mut (&mut f).take(skip), &mut std::io::sink())
        .map_err(|e| read_err(name, e))?;
    if skipped != skip {
        return Err(bad(format!(
            "npz member `{name}.npy` ends inside its npy header"
        )));
    }
    let mut buf = vec![0u8; batch.min(total as usize)];
    let mut left = total;
    while left > 0 {
        let want = (left as usize).min(buf.len());
        let mut got = 0;
        while got < want {
            let n = f.read(&mut buf[got..want]).map_err(|e| read_err(name, e))?;
            if n == 0 {
                return Err(bad(format!(
                    "npz member `{name}.npy` decompresses to fewer bytes than declared (truncated or corrupt)"
                )));
            }
            got += n;
        }
        visit(&buf[..want])?;
        left -= want as u64;
    }
    // Reading to the end makes the zip crate compare the CRC; a member that goes on is lying.
    let mut one = [0u8; 1];
    match f.read(&mut one) {
        Ok(0) => Ok(()),
        Ok(_) => Err(bad(format!(
            "npz member `{name}.npy` decompresses to more bytes than declared (a zip bomb, or lying sizes)"
        ))),
        Err(e) => Err(read_err(name, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_are_validated() {
        assert_eq!(
            tensor_name(b"layer.0/weight.npy").unwrap(),
            "layer.0/weight"
        );
        for bad_name in [
            &b"/etc/passwd.npy"[..],
            b"../x.npy",
            b"a/../../x.npy",
            b"a\\b.npy",
            b"C:x.npy",
            b"x.txt",
            b".npy",
            b"\xff.npy",
        ] {
            assert!(tensor_name(bad_name).is_err(), "{bad_name:?}");
        }
    }
}
