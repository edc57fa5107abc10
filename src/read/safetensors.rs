//! `.safetensors` reader: our own checks first, for precise messages and the rules the
//! reference reader leaves out (duplicate keys; docs/file-formats.md §1.3), then the reference
//! crate's `SafeTensors::read_metadata` on the whole buffer as the authority
//! (docs/file-formats.md §1.2: header length, UTF-8, JSON shape, contiguous offsets, sizes with
//! checked arithmetic, no trailing bytes).

use super::{ByteOrder, ElemType, Location, Parsed, TensorInfo, bad, sizes};
use crate::error::Result;
use crate::json::{UniqueMap, check_unique};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The reference reader's header cap (`MAX_HEADER_SIZE`).
pub(crate) const MAX_HEADER: u64 = 100_000_000;

#[derive(Deserialize)]
struct Info {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// A header entry: `__metadata__` or a tensor.
enum Entry {
    Metadata(Option<UniqueMap<String>>),
    Tensor(Info),
}

/// The header object, keys in document order, duplicates refused.
struct Header(Vec<(String, Entry)>);

impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Vis;
        impl<'de> serde::de::Visitor<'de> for Vis {
            type Value = Header;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Header, A::Error> {
                let mut seen = std::collections::HashSet::new();
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    check_unique(&mut seen, &k)?;
                    let e = if k == "__metadata__" {
                        Entry::Metadata(map.next_value()?)
                    } else {
                        Entry::Tensor(map.next_value().map_err(|e: A::Error| {
                            serde::de::Error::custom(format!("tensor `{k}`: {e}"))
                        })?)
                    };
                    out.push((k, e));
                }
                Ok(Header(out))
            }
        }
        d.deserialize_map(Vis)
    }
}

fn dtype(s: &str, name: &str) -> Result<ElemType> {
    Ok(match s {
        "F64" => ElemType::F64,
        "F32" => ElemType::F32,
        "F16" => ElemType::F16,
        "BF16" => ElemType::BF16,
        "I64" => ElemType::I64,
        "I32" => ElemType::I32,
        "I16" => ElemType::I16,
        "I8" => ElemType::I8,
        "U64" => ElemType::U64,
        "U32" => ElemType::U32,
        "U16" => ElemType::U16,
        "U8" => ElemType::U8,
        "BOOL" => ElemType::Bool,
        "F4" => other(s, 4),
        "F6_E2M3" | "F6_E3M2" => other(s, 6),
        "F8_E5M2" | "F8_E4M3" | "F8_E8M0" | "F8_E4M3FNUZ" | "F8_E5M2FNUZ" => other(s, 8),
        "C64" => other(s, 64),
        _ => {
            return Err(bad(format!(
                "tensor `{name}`: unknown dtype `{s}` (safetensors dtypes are upper case: F32, F16, BF16, …)"
            )));
        }
    })
}

fn other(name: &str, bits: u64) -> ElemType {
    ElemType::Other {
        name: name.to_string(),
        bits,
    }
}

/// A tensor's header entry, checked on its own: name, type, shape, sizes and offsets (relative
/// to the data section).
struct Checked {
    begin: u64,
    end: u64,
    name: String,
    dtype: ElemType,
    shape: Vec<u64>,
    numel: u64,
    bytes: u64,
}

/// Parse and validate a whole `.safetensors` file.
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed<'_>> {
    let (n, text) = header_text(bytes)?;
    let parsed: Header = serde_json::from_str(text)
        .map_err(|e| bad(format!("header is not valid safetensors JSON: {e}")))?;
    let mut metadata = BTreeMap::new();
    let mut tensors = Vec::new();
    for (name, entry) in parsed.0 {
        match entry {
            Entry::Metadata(m) => {
                metadata = m.map(|m| m.0.into_iter().collect()).unwrap_or_default();
            }
            Entry::Tensor(info) => tensors.push(tensor_entry(name, info)?),
        }
    }
    let data_start = 8 + n;
    check_layout(&mut tensors, data_start, bytes.len() as u64)?;
    // The reference reader must agree (it is what PyTorch, Candle and Burn use).
    safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("rejected by the reference safetensors reader: {e}")))?;
    let tensors = tensors
        .into_iter()
        .map(|t| TensorInfo {
            name: t.name,
            dtype: t.dtype,
            shape: t.shape,
            numel: t.numel,
            bytes: t.bytes,
            byte_order: ByteOrder::Little,
            fortran_order: false,
            // In range: data_start + end ≤ len, checked by `check_layout`.
            location: Location::Range {
                start: (data_start + t.begin) as usize,
                end: (data_start + t.end) as usize,
                crc: None,
            },
        })
        .collect();
    Ok(Parsed {
        metadata,
        tensors,
        bytes,
        zip: None,
    })
}

/// The header's length and its text: within the format's limit and the file, UTF-8, no NUL.
fn header_text(bytes: &[u8]) -> Result<(u64, &str)> {
    let len = bytes.len() as u64;
    if len < 8 {
        return Err(bad(format!(
            "only {len} bytes: too short for a safetensors file (truncated download?)"
        )));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    if n > MAX_HEADER {
        let hint = if len < 1 << 20 {
            " — this small file is probably not safetensors at all (a Git LFS pointer, an error page, or a truncated download?)"
        } else {
            ""
        };
        return Err(bad(format!(
            "header length {n} is over the format's limit of {MAX_HEADER} bytes{hint}"
        )));
    }
    if n > len - 8 {
        return Err(bad(format!(
            "header length {n} runs past the end of the {len}-byte file (truncated download?)"
        )));
    }
    let header = &bytes[8..8 + n as usize];
    let text =
        std::str::from_utf8(header).map_err(|e| bad(format!("header is not UTF-8 ({e})")))?;
    if let Some(p) = text.find('\0') {
        return Err(bad(format!(
            "header contains a NUL byte at offset {} (headers are padded with spaces)",
            8 + p
        )));
    }
    Ok((n, text))
}

/// One tensor's entry: a known dtype, a shape whose sizes fit, offsets that hold exactly them.
fn tensor_entry(name: String, info: Info) -> Result<Checked> {
    let dtype = dtype(&info.dtype, &name)?;
    let (numel, bytes) = sizes(&info.shape, dtype.bits(), &name)?;
    let [begin, end] = info.data_offsets;
    if end < begin {
        return Err(bad(format!(
            "tensor `{name}`: data_offsets [{begin}, {end}] end before they begin"
        )));
    }
    if end - begin != bytes {
        return Err(bad(format!(
            "tensor `{name}`: data_offsets [{begin}, {end}] hold {} bytes but {} {:?} needs {bytes}",
            end - begin,
            info.dtype,
            info.shape
        )));
    }
    Ok(Checked {
        begin,
        end,
        name,
        dtype,
        shape: info.shape,
        numel,
        bytes,
    })
}

/// The tensors' data, sorted by offsets (the reference's order), is contiguous from 0, with no
/// holes or overlaps, and ends exactly at the end of the `len`-byte file.
fn check_layout(tensors: &mut [Checked], data_start: u64, len: u64) -> Result<()> {
    tensors.sort_by_key(|t| (t.begin, t.end));
    let mut at = 0u64;
    for t in tensors.iter() {
        let (begin, end, name) = (t.begin, t.end, &t.name);
        if begin != at {
            let what = if begin < at {
                "overlaps"
            } else {
                "leaves a hole before"
            };
            return Err(bad(format!(
                "tensor `{name}`: data_offsets [{begin}, {end}] {what} the previous tensor's data (ends at {at})"
            )));
        }
        at = end;
    }
    let expected = data_start
        .checked_add(at)
        .ok_or_else(|| bad("data offsets overflow 64 bits"))?;
    if expected > len {
        return Err(bad(format!(
            "file is {len} bytes but its header describes {expected}: truncated ({} bytes missing; an interrupted download?)",
            expected - len
        )));
    }
    if expected < len {
        return Err(bad(format!(
            "{} trailing bytes after the last tensor's data (the format allows none)",
            len - expected
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: usize) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v.resize(v.len() + data, 0);
        v
    }

    fn err(bytes: &[u8]) -> String {
        parse(bytes).err().expect("should fail").to_string()
    }

    #[test]
    fn the_reference_golden_vector_parses() {
        let b = file(
            r#"{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}"#,
            24,
        );
        let p = parse(&b).unwrap();
        assert_eq!(p.tensors.len(), 1);
        assert_eq!(p.tensors[0].shape, vec![1, 2, 3]);
        assert_eq!(p.tensors[0].numel, 6);
    }

    #[test]
    fn malformed_headers_give_precise_messages() {
        let t = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        assert!(err(&file(t, 7)).contains("truncated (1 bytes missing"));
        assert!(err(&file(t, 9)).contains("1 trailing bytes"));
        let dup = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        assert!(err(&file(dup, 8)).contains("duplicate key `a`"));
        let overlap = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
        assert!(err(&file(overlap, 8)).contains("overlaps"));
        let wrong = r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#;
        assert!(err(&file(wrong, 8)).contains("needs 12"));
        let mut nul = file(t, 8);
        nul[8 + t.len() - 1] = 0;
        assert!(err(&nul).contains("NUL"));
        let mut huge = file(t, 8);
        huge[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(err(&huge).contains("over the format's limit"));
        assert!(err(&[1, 2, 3]).contains("too short"));
        let lower = r#"{"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}"#;
        assert!(err(&file(lower, 8)).contains("unknown dtype `f32`"));
        let meta = r#"{"__metadata__":{"x":1}}"#;
        assert!(err(&file(meta, 0)).contains("not valid safetensors JSON"));
    }
}
