//! `.npy` reader (docs/file-formats.md §3.1): magic, version 1.0/2.0/3.0, header length checked
//! against a cap and the bytes present, the header dict parsed as the Python literal it is
//! (exactly the keys `descr`, `fortran_order`, `shape`, no duplicates), sizes with checked
//! arithmetic, and the data exactly as long as the shape says (no trailing bytes).

use super::{ByteOrder, ElemType, Location, Parsed, TensorInfo, bad, sizes};
use crate::error::Result;
use std::collections::BTreeMap;

/// Largest header accepted (NumPy's own default cap is 10,000 characters; enormous ranks aside,
/// real headers are under 200 bytes).
pub(crate) const MAX_HEADER: usize = 1 << 20;

/// A parsed npy prefix.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NpyHeader {
    /// Bytes before the data (magic, version, length, dict, padding).
    pub data_offset: usize,
    pub dtype: ElemType,
    pub byte_order: ByteOrder,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
    pub numel: u64,
    pub bytes: u64,
}

impl NpyHeader {
    /// The tensor this header describes, named `name`, whose data is at `location`.
    pub(super) fn tensor(self, name: String, location: Location) -> TensorInfo {
        TensorInfo {
            name,
            dtype: self.dtype,
            shape: self.shape,
            numel: self.numel,
            bytes: self.bytes,
            byte_order: self.byte_order,
            fortran_order: self.fortran_order,
            location,
        }
    }
}

/// Parse the npy prefix at the start of `bytes` (which may hold only the prefix). `name` is
/// the tensor name used in messages.
pub(crate) fn parse_header(bytes: &[u8], name: &str) -> Result<NpyHeader> {
    if bytes.len() < 10 || !bytes.starts_with(b"\x93NUMPY") {
        if bytes.len() < 10 && b"\x93NUMPY".starts_with(&bytes[..bytes.len().min(6)]) {
            return Err(bad(format!(
                "only {} bytes: truncated before the end of the npy header",
                bytes.len()
            )));
        }
        return Err(bad(
            "not an npy file (it does not start with the magic \\x93NUMPY)",
        ));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (len, prefix) = match (major, minor) {
        (1, 0) => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        (2, 0) | (3, 0) => {
            if bytes.len() < 12 {
                return Err(bad("truncated before the end of the npy header"));
            }
            (
                u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize,
                12,
            )
        }
        _ => {
            return Err(bad(format!(
                "unsupported npy format version {major}.{minor} (NumPy writes 1.0, 2.0 and 3.0)"
            )));
        }
    };
    if len > MAX_HEADER {
        return Err(bad(format!(
            "npy header length {len} is over the limit of {MAX_HEADER} bytes"
        )));
    }
    let end = prefix + len;
    if end > bytes.len() {
        return Err(bad(format!(
            "npy header length {len} runs past the end of the data ({} bytes; truncated?)",
            bytes.len()
        )));
    }
    let raw = &bytes[prefix..end];
    let text: String = if major == 3 {
        std::str::from_utf8(raw)
            .map_err(|_| bad("npy 3.0 header is not UTF-8"))?
            .to_string()
    } else {
        // 1.0 and 2.0 headers are latin-1; only ASCII is meaningful in a valid one.
        if let Some(b) = raw.iter().find(|b| !b.is_ascii()) {
            return Err(bad(format!("npy header has a non-ASCII byte 0x{b:02x}")));
        }
        String::from_utf8(raw.to_vec()).expect("ascii")
    };
    if text.contains('\0') {
        return Err(bad(
            "npy header contains a NUL byte (headers are padded with spaces)",
        ));
    }
    let dict = parse_dict(text.trim_end_matches([' ', '\n', '\r', '\t']))?;
    let (dtype, byte_order) = descr(&dict.descr)?;
    let (numel, nbytes) = sizes(&dict.shape, dtype.bits(), name)?;
    Ok(NpyHeader {
        data_offset: end,
        dtype,
        byte_order,
        fortran_order: dict.fortran_order,
        shape: dict.shape,
        numel,
        bytes: nbytes,
    })
}

/// Parse a whole `.npy` file; the tensor is named `array`.
pub(crate) fn parse_file(bytes: &[u8]) -> Result<Parsed<'_>> {
    let h = parse_header(bytes, "array")?;
    let have = (bytes.len() - h.data_offset) as u64;
    if have < h.bytes {
        return Err(bad(format!(
            "truncated: shape {:?} of {} needs {} data bytes but the file has {have} ({} missing; an interrupted download?)",
            h.shape,
            h.dtype.name(),
            h.bytes,
            h.bytes - have
        )));
    }
    if have > h.bytes {
        return Err(bad(format!(
            "{} trailing bytes after the array data (shape {:?} of {} is {} bytes)",
            have - h.bytes,
            h.shape,
            h.dtype.name(),
            h.bytes
        )));
    }
    let location = Location::Range {
        start: h.data_offset,
        end: bytes.len(),
        crc: None,
    };
    Ok(Parsed {
        metadata: BTreeMap::new(),
        tensors: vec![h.tensor("array".into(), location)],
        bytes,
        zip: None,
    })
}

/// The three keys of the header dict.
struct Dict {
    descr: String,
    fortran_order: bool,
    shape: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
}

/// A tokenizer-parser for the small subset of Python literals a header dict uses.
struct P<'a> {
    s: &'a [u8],
    i: usize,
}

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        match self.peek() {
            Some(x) if x == c => {
                self.i += 1;
                Ok(())
            }
            Some(x) => Err(bad(format!(
                "npy header: expected `{}` at offset {} but found `{}`",
                c as char, self.i, x as char
            ))),
            None => Err(bad(format!(
                "npy header: expected `{}` but the header ended",
                c as char
            ))),
        }
    }

    fn string(&mut self) -> Result<String> {
        let q = self.peek().ok_or_else(|| bad("npy header ended early"))?;
        if q != b'\'' && q != b'"' {
            return Err(bad(format!(
                "npy header: expected a quoted string at offset {}",
                self.i
            )));
        }
        self.i += 1;
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != q {
            if self.s[self.i] == b'\\' {
                return Err(bad("npy header: escapes in strings are not supported"));
            }
            self.i += 1;
        }
        if self.i >= self.s.len() {
            return Err(bad("npy header: unterminated string"));
        }
        let v = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.i += 1;
        Ok(v)
    }

    fn int(&mut self) -> Result<u64> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        if start == self.i {
            return Err(bad(format!(
                "npy header: shape must be a tuple of non-negative integers (offset {})",
                self.i
            )));
        }
        let digits = std::str::from_utf8(&self.s[start..self.i]).expect("digits");
        let v = digits.parse::<u64>().map_err(|_| {
            bad(format!(
                "npy header: dimension {digits} does not fit 64 bits"
            ))
        })?;
        if self.s.get(self.i) == Some(&b'L') {
            self.i += 1; // Python 2 long suffix, still accepted by NumPy
        }
        Ok(v)
    }

    fn value(&mut self) -> Result<Lit> {
        match self.peek() {
            Some(b'\'' | b'"') => Ok(Lit::Str(self.string()?)),
            Some(b'(') => {
                self.i += 1;
                let mut dims = Vec::new();
                loop {
                    if self.peek() == Some(b')') {
                        self.i += 1;
                        break;
                    }
                    dims.push(self.int()?);
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b')') => {
                            self.i += 1;
                            break;
                        }
                        _ => return Err(bad("npy header: malformed shape tuple")),
                    }
                }
                Ok(Lit::Tuple(dims))
            }
            Some(b'[') => Err(bad(
                "npy header: structured dtypes (a list descr) and list shapes are not supported",
            )),
            _ => {
                let rest = &self.s[self.i..];
                if rest.starts_with(b"True") {
                    self.i += 4;
                    Ok(Lit::Bool(true))
                } else if rest.starts_with(b"False") {
                    self.i += 5;
                    Ok(Lit::Bool(false))
                } else {
                    Err(bad(format!(
                        "npy header: unexpected value at offset {} (expected a string, True/False or a tuple)",
                        self.i
                    )))
                }
            }
        }
    }
}

fn parse_dict(text: &str) -> Result<Dict> {
    let mut p = P {
        s: text.as_bytes(),
        i: 0,
    };
    p.expect(b'{')?;
    let mut entries: Vec<(String, Lit)> = Vec::new();
    loop {
        if p.peek() == Some(b'}') {
            p.i += 1;
            break;
        }
        let k = p.string()?;
        // Checked as soon as read, so a huge header cannot make this loop quadratic.
        if !["descr", "fortran_order", "shape"].contains(&k.as_str()) {
            return Err(bad(format!(
                "npy header: unexpected key `{k}` (only descr, fortran_order, shape)"
            )));
        }
        if entries.iter().any(|(e, _)| *e == k) {
            return Err(bad(format!("npy header: duplicate key `{k}`")));
        }
        p.expect(b':')?;
        let v = p.value()?;
        entries.push((k, v));
        match p.peek() {
            Some(b',') => p.i += 1,
            Some(b'}') => {
                p.i += 1;
                break;
            }
            _ => return Err(bad("npy header: expected `,` or `}` after a value")),
        }
    }
    if p.peek().is_some() {
        return Err(bad(format!(
            "npy header: unexpected text after the dict at offset {}",
            p.i
        )));
    }
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (k, v) in entries {
        match (k.as_str(), v) {
            ("descr", Lit::Str(s)) => descr = Some(s),
            ("fortran_order", Lit::Bool(b)) => fortran = Some(b),
            ("shape", Lit::Tuple(t)) => shape = Some(t),
            ("descr" | "fortran_order" | "shape", _) => {
                return Err(bad(format!("npy header: `{k}` has the wrong type")));
            }
            _ => {
                return Err(bad(format!(
                    "npy header: unexpected key `{k}` (only descr, fortran_order, shape)"
                )));
            }
        }
    }
    match (descr, fortran, shape) {
        (Some(descr), Some(fortran_order), Some(shape)) => Ok(Dict {
            descr,
            fortran_order,
            shape,
        }),
        _ => Err(bad(
            "npy header: missing key (needs descr, fortran_order and shape)",
        )),
    }
}

/// A NumPy type string → element type and byte order.
fn descr(d: &str) -> Result<(ElemType, ByteOrder)> {
    let (order, rest) = match d.as_bytes().first() {
        Some(b'<') => (Some(ByteOrder::Little), &d[1..]),
        Some(b'>') => (Some(ByteOrder::Big), &d[1..]),
        Some(b'|') => (None, &d[1..]),
        Some(b'=') => {
            return Err(bad(format!(
                "npy descr `{d}` uses the writer's native byte order, which a file cannot tell"
            )));
        }
        _ => (None, d),
    };
    let t = match rest {
        "f8" => ElemType::F64,
        "f4" => ElemType::F32,
        "f2" => ElemType::F16,
        "i8" => ElemType::I64,
        "i4" => ElemType::I32,
        "i2" => ElemType::I16,
        "i1" => ElemType::I8,
        "u8" => ElemType::U64,
        "u4" => ElemType::U32,
        "u2" => ElemType::U16,
        "u1" => ElemType::U8,
        "b1" => ElemType::Bool,
        "c8" | "c16" => ElemType::Other {
            name: d.to_string(),
            bits: if rest == "c8" { 64 } else { 128 },
        },
        "O" => {
            return Err(bad(
                "npy descr `|O`: an object array (pickled Python data), which is never loaded",
            ));
        }
        v if v.starts_with('V')
            && v.len() > 1
            && v.len() <= 6
            && v[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            let n: u64 = v[1..].parse().expect("digits");
            if n == 0 {
                return Err(bad(format!("npy descr `{d}` has zero-sized elements")));
            }
            // `<V2` is how ml_dtypes' bfloat16 is saved; it is opaque to NumPy itself.
            ElemType::Other {
                name: d.to_string(),
                bits: n * 8,
            }
        }
        _ => return Err(bad(format!("unsupported npy descr `{d}`"))),
    };
    let size = t.bits() / 8;
    let order = match order {
        Some(o) => o,
        None if size <= 1 || matches!(t, ElemType::Other { .. }) => ByteOrder::Little,
        None => {
            return Err(bad(format!(
                "npy descr `{d}` has no byte order (`<` or `>`)"
            )));
        }
    };
    Ok((t, order))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::write::npy_header;

    fn with_header(dict: &str, data: usize) -> Vec<u8> {
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        v.extend_from_slice(dict.as_bytes());
        v.resize(v.len() + data, 0);
        v
    }

    fn err(b: &[u8]) -> String {
        parse_file(b).err().expect("should fail").to_string()
    }

    #[test]
    fn reads_back_the_writers_headers() {
        for (dt, shape) in [
            (DType::F32, vec![2u64, 3]),
            (DType::F16, vec![5]),
            (DType::F64, vec![]),
        ] {
            let mut b = npy_header(dt, &shape).unwrap();
            let n: u64 = shape.iter().product();
            b.resize(b.len() + (n as usize) * dt.size(), 0);
            let p = parse_file(&b).unwrap();
            assert_eq!(p.tensors[0].shape, shape);
            assert_eq!(p.tensors[0].dtype.as_dtype(), Some(dt));
        }
    }

    #[test]
    fn accepts_what_numpy_accepts() {
        let b = with_header(
            "{'shape': (2,), 'fortran_order': True, 'descr': '>f4'}\n",
            8,
        );
        let p = parse_file(&b).unwrap();
        assert!(p.tensors[0].fortran_order);
        assert_eq!(p.tensors[0].byte_order, ByteOrder::Big);
        let b = with_header(
            "{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": (3L, 1)}",
            3,
        );
        assert_eq!(parse_file(&b).unwrap().tensors[0].numel, 3);
    }

    #[test]
    fn rejects_bad_headers_with_a_reason() {
        let ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n";
        assert!(err(&with_header(ok, 7)).contains("truncated"));
        assert!(err(&with_header(ok, 9)).contains("1 trailing bytes"));
        assert!(
            err(&with_header(
                &ok.replace("'shape'", "'shape': (1,), 'shape'"),
                8
            ))
            .contains("duplicate key")
        );
        assert!(err(&with_header(&ok.replace("(2,)", "[2]"), 8)).contains("not supported"));
        assert!(err(&with_header(&ok.replace("False", "false"), 8)).contains("unexpected value"));
        assert!(err(&with_header(&ok.replace("'<f4'", "'|O'"), 8)).contains("pickled"));
        assert!(err(&with_header(&ok.replace("'<f4'", "'f4'"), 8)).contains("no byte order"));
        assert!(
            err(&with_header(&ok.replace("(2,), }", "(2,), 'x': 1 }"), 8))
                .contains("unexpected key")
        );
        assert!(err(&with_header(&ok.replace("}\n", "}\0"), 8)).contains("NUL"));
        let huge = ok.replace("(2,)", "(4294967296, 4294967296, 2)");
        assert!(err(&with_header(&huge, 8)).contains("overflows"));
        let mut v = with_header(ok, 8);
        v[6] = 4;
        assert!(err(&v).contains("version 4.0"));
        let mut v = with_header(ok, 8);
        v[8] = 0xff;
        v[9] = 0xff;
        assert!(err(&v).contains("runs past the end"));
        assert!(err(b"\x93NUM").contains("truncated"));
        assert!(err(b"PK\x03\x04 not npy at all").contains("magic"));
    }
}
