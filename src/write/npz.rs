//! `.npz`: a ZIP archive with one `<name>.npy` member per tensor, in plan order; stored by
//! default (`np.savez`), deflated with `--compress` (`np.savez_compressed`). Members that could
//! reach 4 GiB are written as ZIP64; every member has the 1980-01-01 timestamp and mode 0644 so
//! the bytes are reproducible. A ZIP needs to seek back to patch sizes and CRCs, so `.npz` is
//! never written to stdout, a FIFO or a device.

use super::metadata::FileMetadata;
use super::npy::{check_npy_dtype, npy_header};
use super::{DataPath, FormatWriter, OutTensor, Sink, WriteOptions};
use crate::error::{Error, Result};
use std::io::Write;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

pub(super) struct Npz;

/// Local header + central directory entry + ZIP64 extras, generously (for the size estimate).
const PER_MEMBER_OVERHEAD: u64 = 30 + 46 + 2 * 32;
/// Members whose npy bytes exceed this are written with ZIP64 sizes (deflate of random data
/// can grow by a few bytes per 64 KiB block, so keep well below 4 GiB).
const ZIP64_THRESHOLD: u64 = 0xF000_0000;

fn member_name(t: &OutTensor) -> Result<String> {
    let n = t.name;
    if n.starts_with('/') || n.split(['/', '\\']).any(|c| c == "..") {
        return Err(Error::Usage(format!(
            "tensor name `{n}` would be an unsafe .npz member path (leading `/` or a `..` component)"
        )));
    }
    let member = format!("{n}.npy");
    if member.len() > u16::MAX as usize {
        return Err(Error::Usage(format!(
            "tensor name `{}…` is too long for a ZIP member name",
            &n[..32.min(n.len())]
        )));
    }
    Ok(member)
}

impl FormatWriter for Npz {
    fn check(&self, tensors: &[OutTensor], to_stream: bool) -> Result<()> {
        if to_stream {
            return Err(Error::Usage(
                ".npz cannot be written to stdout (a ZIP archive needs a seekable file); write to a file, or use .npy or .safetensors for stdout"
                    .into(),
            ));
        }
        for t in tensors {
            check_npy_dtype(t, "npz")?;
            member_name(t)?;
        }
        Ok(())
    }

    fn size(&self, tensors: &[OutTensor], _: &FileMetadata) -> Result<u64> {
        let mut total = 22 + 56 + 20; // end of central directory (+ ZIP64 records)
        for t in tensors {
            let name = member_name(t)?;
            let h = npy_header(t.dtype, t.shape).expect("checked");
            total += 2 * name.len() as u64 + PER_MEMBER_OVERHEAD + h.len() as u64 + t.bytes;
        }
        Ok(total)
    }

    fn write(
        &self,
        tensors: &[OutTensor],
        _: &FileMetadata,
        opts: WriteOptions,
        data: &mut DataPath,
        mut sink: Sink,
        ctx: &str,
    ) -> Result<()> {
        let file = sink
            .seekable()
            .ok_or_else(|| Error::Usage(".npz needs a seekable regular file as output".into()))?;
        let zerr = |e: zip::result::ZipError| match e {
            zip::result::ZipError::Io(io) => Error::io(format!("writing {ctx}"), io),
            other => Error::io(
                format!("writing {ctx}"),
                std::io::Error::other(other.to_string()),
            ),
        };
        let mut zip = ZipWriter::new(file);
        for t in tensors {
            let header = npy_header(t.dtype, t.shape).expect("checked");
            let method = if opts.compress {
                CompressionMethod::Deflated
            } else {
                CompressionMethod::Stored
            };
            let options = SimpleFileOptions::default()
                .compression_method(method)
                .compression_level(if opts.compress { Some(6) } else { None })
                .last_modified_time(DateTime::default())
                .unix_permissions(0o644)
                .large_file(header.len() as u64 + t.bytes > ZIP64_THRESHOLD);
            zip.start_file(member_name(t)?, options).map_err(zerr)?;
            zip.write_all(&header)
                .map_err(|e| Error::io(format!("writing {ctx}"), e))?;
            data.emit(t, &mut zip, ctx)?;
        }
        zip.finish().map_err(zerr)?;
        Ok(())
    }
}
