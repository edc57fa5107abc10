//! `.safetensors`: the reference crate's byte layout (docs/file-formats.md §1.4): an 8-byte
//! little-endian header length, compact JSON with `__metadata__` first, then tensors ordered by
//! dtype (descending, in the reference `Dtype` enum order) and name, header padded with spaces
//! so data starts at a multiple of 8. Our own writer rather than `safetensors::serialize` because
//! that one holds whole tensors in memory and orders metadata keys randomly (a HashMap); tests
//! byte-compare the two.
//!
//! Each tensor's SHA-256 is recorded in its `weightgen.plan` entry (`metadata`). A file is laid
//! out with placeholder hashes (same length), its data hashed as it is written, and the header
//! rewritten in place before the file is synced and renamed. A stream cannot seek: its data is
//! generated twice, first only to hash it (generation is several GB/s, so this costs about
//! one more generation of the data, on stdout only), so stdout carries exactly a file's bytes.

use super::metadata::FileMetadata;
use super::{DataPath, FormatWriter, OutTensor, Progress, Sink, WriteOptions};
use crate::dtype::DType;
use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub(super) struct Safetensors;

/// The reference reader refuses headers larger than this.
const MAX_HEADER: usize = 100_000_000;

/// Indices of `tensors` in the reference data order: dtype descending, then name ascending.
fn order(dtypes_names: &[(DType, &str)]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..dtypes_names.len()).collect();
    idx.sort_by(|&a, &b| {
        let (da, na) = dtypes_names[a];
        let (db, nb) = dtypes_names[b];
        db.safetensors_rank()
            .cmp(&da.safetensors_rank())
            .then(na.cmp(nb))
    });
    idx
}

/// The 8-byte length prefix plus the padded JSON header for tensors given as
/// (name, dtype, shape, bytes), and the data order (indices into the input).
pub fn safetensors_header(
    tensors: &[(&str, DType, &[u64], u64)],
    metadata: &BTreeMap<String, String>,
) -> Result<(Vec<u8>, Vec<usize>)> {
    let keys: Vec<(DType, &str)> = tensors.iter().map(|t| (t.1, t.0)).collect();
    let idx = order(&keys);
    // serde_json's Map keeps insertion order only with `preserve_order`; build the text by hand
    // from serialised pieces instead, so the order is exactly ours.
    let mut json = String::from("{");
    let mut first = true;
    if !metadata.is_empty() {
        let m: Map<String, Value> = metadata
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        // BTreeMap-backed Map: sorted keys, as we want.
        json.push_str("\"__metadata__\":");
        json.push_str(&serde_json::to_string(&m).expect("metadata serialises"));
        first = false;
    }
    let mut offset = 0u64;
    for &i in &idx {
        let (name, dtype, shape, bytes) = tensors[i];
        let end = offset
            .checked_add(bytes)
            .ok_or_else(|| Error::Usage("total data size overflows 64 bits".into()))?;
        if !first {
            json.push(',');
        }
        first = false;
        json.push_str(&serde_json::to_string(name).expect("name serialises"));
        json.push_str(&format!(
            ":{{\"dtype\":\"{}\",\"shape\":{},\"data_offsets\":[{offset},{end}]}}",
            dtype.safetensors_name(),
            serde_json::to_string(shape).expect("shape serialises"),
        ));
        offset = end;
    }
    json.push('}');
    let mut header = json.into_bytes();
    let padded = header.len().next_multiple_of(8);
    if padded > MAX_HEADER {
        return Err(Error::Usage(format!(
            "safetensors header would be {padded} bytes, over the format's limit of {MAX_HEADER}; use fewer tensors or shorter metadata"
        )));
    }
    header.resize(padded, b' ');
    let mut out = Vec::with_capacity(8 + padded);
    out.extend_from_slice(&(padded as u64).to_le_bytes());
    out.extend_from_slice(&header);
    Ok((out, idx))
}

fn header_for(
    tensors: &[OutTensor],
    metadata: &BTreeMap<String, String>,
) -> Result<(Vec<u8>, Vec<usize>)> {
    let list: Vec<(&str, DType, &[u64], u64)> = tensors
        .iter()
        .map(|t| (t.name, t.dtype, t.shape, t.bytes))
        .collect();
    safetensors_header(&list, metadata)
}

impl FormatWriter for Safetensors {
    fn check(&self, _: &[OutTensor], _: bool) -> Result<()> {
        Ok(())
    }

    fn size(&self, tensors: &[OutTensor], metadata: &FileMetadata) -> Result<u64> {
        let (h, _) = header_for(tensors, &metadata.placeholder())?;
        let data: u64 = tensors.iter().map(|t| t.bytes).sum();
        Ok(h.len() as u64 + data)
    }

    fn write(
        &self,
        tensors: &[OutTensor],
        metadata: &FileMetadata,
        _: WriteOptions,
        data: &mut DataPath,
        sink: Sink,
        ctx: &str,
    ) -> Result<()> {
        let (placeholder, idx) = header_for(tensors, &metadata.placeholder())?;
        let ordered: Vec<&OutTensor> = idx.iter().map(|&i| &tensors[i]).collect();
        data.hash = true;
        match sink {
            Sink::Stream(w) => {
                // The hashing pre-pass: no bytes written, no progress shown.
                let progress = std::mem::replace(&mut data.progress, Progress::new(false, 0));
                let hashed: Result<()> = ordered
                    .iter()
                    .try_for_each(|t| data.emit(t, &mut std::io::sink(), ctx));
                data.progress = progress;
                hashed?;
                let (header, _) = header_for(tensors, &metadata.render(&data.hashes))?;
                // Hashed already: the second pass only writes.
                data.hash = false;
                data.emit_laid_out(&header, &ordered, Sink::Stream(w), ctx)
            }
            Sink::File(f) => {
                data.emit_laid_out(&placeholder, &ordered, Sink::File(&mut *f), ctx)?;
                let (header, _) = header_for(tensors, &metadata.render(&data.hashes))?;
                debug_assert_eq!(header.len(), placeholder.len());
                use std::io::{Seek, SeekFrom, Write};
                f.seek(SeekFrom::Start(0))
                    .and_then(|_| f.write_all(&header))
                    .and_then(|()| f.flush())
                    .map_err(|e| Error::io(format!("writing {ctx}"), e))
            }
        }
    }
}
