//! `.npy`: one tensor, version 1.0 header (2.0 only if the header needs it), explicit
//! little-endian `descr`, C order, prefix padded with spaces to a multiple of 64 bytes
//! (NumPy ≥ 1.14's `ARRAY_ALIGN`; docs/file-formats.md §3.1).

use super::metadata::FileMetadata;
use super::{DataPath, FormatWriter, OutTensor, Sink, WriteOptions};
use crate::dtype::DType;
use crate::error::{Error, Result};

pub(super) struct Npy;

/// The complete NPY prefix (magic, version, header length, header dict, padding, `\n`).
/// Returns `None` for dtypes NumPy cannot represent (bf16).
pub fn npy_header(dtype: DType, shape: &[u64]) -> Option<Vec<u8>> {
    let descr = dtype.npy_descr()?;
    let shape_str = match shape {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        ds => format!(
            "({})",
            ds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        ),
    };
    // The same dict text `np.save` writes (keys sorted, trailing ", ").
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_str}, }}");
    // Version 1.0 has a u16 header length; 2.0 a u32 (only for enormous ranks).
    let (version, len_bytes) = if dict.len() + 1 + 10 <= u16::MAX as usize {
        (1u8, 2usize)
    } else {
        (2u8, 4usize)
    };
    let prefix = 6 + 2 + len_bytes;
    let total = (prefix + dict.len() + 1).next_multiple_of(64);
    let header_len = total - prefix;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"\x93NUMPY");
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(header_len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header_len as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    Some(out)
}

pub(super) fn check_npy_dtype(t: &OutTensor, fmt: &str) -> Result<()> {
    if t.dtype.npy_descr().is_none() {
        return Err(Error::Usage(format!(
            "tensor `{}` is {}, which .{fmt} cannot hold (NumPy has no bfloat16); write .safetensors instead",
            t.name, t.dtype
        )));
    }
    Ok(())
}

impl FormatWriter for Npy {
    fn check(&self, tensors: &[OutTensor], _to_stream: bool) -> Result<()> {
        if tensors.len() != 1 {
            return Err(Error::Usage(format!(
                ".npy holds exactly one tensor but {} were given; write .npz or .safetensors instead",
                tensors.len()
            )));
        }
        check_npy_dtype(&tensors[0], "npy")
    }

    fn size(&self, tensors: &[OutTensor], _: &FileMetadata) -> Result<u64> {
        let t = &tensors[0];
        let h = npy_header(t.dtype, t.shape).expect("checked");
        Ok(h.len() as u64 + t.bytes)
    }

    fn write(
        &self,
        tensors: &[OutTensor],
        _: &FileMetadata,
        _: WriteOptions,
        data: &mut DataPath,
        sink: Sink,
        ctx: &str,
    ) -> Result<()> {
        let t = &tensors[0];
        let header = npy_header(t.dtype, t.shape).expect("checked");
        data.emit_laid_out(&header, &[t], sink, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_64_byte_aligned_and_newline_terminated() {
        for shape in [vec![], vec![5], vec![2, 3], vec![64, 3, 7, 7]] {
            let h = npy_header(DType::F32, &shape).unwrap();
            assert_eq!(h.len() % 64, 0);
            assert_eq!(*h.last().unwrap(), b'\n');
            assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
            let len = u16::from_le_bytes([h[8], h[9]]) as usize;
            assert_eq!(10 + len, h.len());
        }
        let h = npy_header(DType::F16, &[5]).unwrap();
        let text = String::from_utf8_lossy(&h);
        assert!(text.contains("{'descr': '<f2', 'fortran_order': False, 'shape': (5,), }"));
        assert!(npy_header(DType::BF16, &[5]).is_none());
    }
}
