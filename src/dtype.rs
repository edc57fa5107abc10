//! Output element types and the one place values are rounded to them.
//!
//! Owns: the dtype names (`f32`, `f64`, `f16`, `bf16`), their sizes, their names in each file
//! format, and the conversion of f64 values to little-endian bytes. Rounding is always to
//! nearest, ties to even: f64 → f32 by IEEE conversion, and f16/bf16 from the *f32* value (so a
//! bf16 file equals the f32 file cast to bf16, as PyTorch users get with `.to(torch.bfloat16)`).
//! Does not own: how values are drawn (see `stream`).

use crate::error::{Error, Result};
use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};
use std::fmt;

/// Element type of an output tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    F32,
    F64,
    F16,
    BF16,
    /// 64-bit signed integer: only for buffers such as BatchNorm's `num_batches_tracked`, and
    /// only with constant schemes.
    I64,
}

impl DType {
    /// Every dtype, in the order `--help` lists them.
    pub const ALL: [DType; 5] = [DType::F32, DType::F64, DType::F16, DType::BF16, DType::I64];

    /// Floating-point (random schemes allowed).
    pub fn is_float(self) -> bool {
        self != DType::I64
    }

    /// The name users type and that summaries print.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::I64 => "i64",
        }
    }

    /// Every accepted name, canonical first for each dtype. `float` is PyTorch's and C's
    /// (`torch.float` = float32), not NumPy's (`np.float64`); see the README's table of names.
    pub const NAMES: [(&'static str, DType); 17] = [
        ("f32", DType::F32),
        ("float32", DType::F32),
        ("fp32", DType::F32),
        ("float", DType::F32),
        ("f64", DType::F64),
        ("float64", DType::F64),
        ("fp64", DType::F64),
        ("double", DType::F64),
        ("f16", DType::F16),
        ("float16", DType::F16),
        ("fp16", DType::F16),
        ("half", DType::F16),
        ("bf16", DType::BF16),
        ("bfloat16", DType::BF16),
        ("i64", DType::I64),
        ("int64", DType::I64),
        ("long", DType::I64),
    ];

    /// Parse a user-supplied dtype name (case-insensitive; `float32`, `fp16`, `half`, `bfloat16`,
    /// … accepted: [`DType::NAMES`]); an unknown name's error offers the closest ones.
    pub fn parse(s: &str) -> Result<DType> {
        crate::names::find(s, &DType::NAMES).ok_or_else(|| {
            let all: Vec<&str> = DType::NAMES.iter().map(|(n, _)| *n).collect();
            let aliases: Vec<String> = DType::ALL
                .iter()
                .map(|&d| {
                    let other: Vec<&str> = DType::NAMES
                        .iter()
                        .filter(|(n, v)| *v == d && *n != d.name())
                        .map(|(n, _)| *n)
                        .collect();
                    format!("{} = {}", other.join("/"), d.name())
                })
                .collect();
            Error::invalid(
                "",
                format!(
                    "unknown dtype `{s}`{} (valid: f32, f64, f16, bf16, i64; aliases: {})",
                    crate::names::did_you_mean(s, &all),
                    aliases.join(", ")
                ),
            )
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 | DType::I64 => 8,
            DType::F16 | DType::BF16 => 2,
        }
    }

    /// The safetensors dtype string.
    pub fn safetensors_name(self) -> &'static str {
        match self {
            DType::F32 => "F32",
            DType::F64 => "F64",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::I64 => "I64",
        }
    }

    /// Rank in the safetensors reference writer's `Dtype` enum declaration order. The reference
    /// layout puts tensors in *descending* rank, then by name (docs/file-formats.md §1.4).
    pub fn safetensors_rank(self) -> u8 {
        // BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ,
        // F8_E5M2FNUZ, I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64
        match self {
            DType::F16 => 13,
            DType::BF16 => 14,
            DType::F32 => 17,
            DType::F64 => 19,
            DType::I64 => 20,
        }
    }

    /// The NumPy `descr`, explicit little-endian; `None` for bf16, which NumPy has no type for.
    pub fn npy_descr(self) -> Option<&'static str> {
        match self {
            DType::F32 => Some("<f4"),
            DType::F64 => Some("<f8"),
            DType::F16 => Some("<f2"),
            DType::I64 => Some("<i8"),
            DType::BF16 => None,
        }
    }

    /// Round an f64 value to this dtype and return it as f64 again (exact).
    pub fn round(self, x: f64) -> f64 {
        match self {
            DType::F64 => x,
            DType::F32 => x as f32 as f64,
            DType::F16 => f16::from_f32(x as f32).to_f64(),
            DType::BF16 => bf16::from_f32(x as f32).to_f64(),
            DType::I64 => x as i64 as f64,
        }
    }

    /// Values of this dtype are rounded through f32 (f32, f16, bf16): the stream may draw them
    /// with f32 precision.
    pub fn is_narrow(self) -> bool {
        matches!(self, DType::F32 | DType::F16 | DType::BF16)
    }

    /// Write f32 `values` as little-endian bytes of this narrow dtype (f32, f16 or bf16, rounded
    /// to nearest even) into `out`, exactly `values.len() * self.size()` bytes long.
    pub fn encode_f32(self, values: &[f32], out: &mut [u8]) {
        debug_assert_eq!(out.len(), values.len() * self.size());
        match self {
            DType::F32 => {
                for (v, o) in values.iter().zip(out.chunks_exact_mut(4)) {
                    o.copy_from_slice(&v.to_le_bytes());
                }
            }
            DType::F16 => encode_half_f32(values, out, f16::ZERO, f16::to_le_bytes),
            DType::BF16 => encode_half_f32(values, out, bf16::ZERO, bf16::to_le_bytes),
            DType::F64 | DType::I64 => unreachable!("encode_f32 on a wide dtype"),
        }
    }

    /// Write `values` (f64, one per element) as little-endian bytes of this dtype into `out`,
    /// which must be exactly `values.len() * self.size()` bytes long.
    pub fn encode(self, values: &[f64], out: &mut [u8]) {
        debug_assert_eq!(out.len(), values.len() * self.size());
        match self {
            DType::F64 => {
                for (v, o) in values.iter().zip(out.chunks_exact_mut(8)) {
                    o.copy_from_slice(&v.to_le_bytes());
                }
            }
            DType::F32 | DType::F16 | DType::BF16 => encode_via_f32(self, values, out),
            DType::I64 => {
                for (v, o) in values.iter().zip(out.chunks_exact_mut(8)) {
                    o.copy_from_slice(&(*v as i64).to_le_bytes());
                }
            }
        }
    }
}

/// Elements converted per step (stack buffers, no allocation).
const BLOCK: usize = 512;

/// Round the f64 `values` to f32, then encode them as the narrow `dtype` a block at a time.
fn encode_via_f32(dtype: DType, values: &[f64], out: &mut [u8]) {
    let mut f = [0f32; BLOCK];
    for (vs, os) in values
        .chunks(BLOCK)
        .zip(out.chunks_mut(dtype.size() * BLOCK))
    {
        for (a, b) in f.iter_mut().zip(vs) {
            *a = *b as f32;
        }
        dtype.encode_f32(&f[..vs.len()], os);
    }
}

/// f32 values to f16/bf16 little-endian bytes through `half`'s slice conversion.
fn encode_half_f32<H: Copy>(values: &[f32], out: &mut [u8], zero: H, bytes: fn(H) -> [u8; 2])
where
    [H]: HalfFloatSliceExt,
{
    let mut h = [zero; BLOCK];
    for (vs, os) in values.chunks(BLOCK).zip(out.chunks_mut(2 * BLOCK)) {
        let n = vs.len();
        h[..n].convert_from_f32_slice(vs);
        for (x, o) in h[..n].iter().zip(os.chunks_exact_mut(2)) {
            o.copy_from_slice(&bytes(*x));
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_is_round_to_nearest_even_of_the_f32_value() {
        // 1 + 2^-8 is exactly halfway between two bf16 values (1 and 1 + 2^-7): ties to even → 1.
        let halfway = 1.0 + f64::powi(2.0, -8);
        assert_eq!(DType::BF16.round(halfway), 1.0);
        // Just above halfway rounds up.
        let above = 1.0 + f64::powi(2.0, -8) + f64::powi(2.0, -20);
        assert_eq!(DType::BF16.round(above), 1.0 + f64::powi(2.0, -7));
        // Truncation would give 1.0 here; round-to-nearest gives the upper value.
        let mut out = [0u8; 2];
        DType::BF16.encode(&[above], &mut out);
        assert_eq!(u16::from_le_bytes(out), 0x3f81);
    }

    #[test]
    fn f16_goes_through_f32_first() {
        // A value whose f64 → f16 direct rounding would differ from f64 → f32 → f16.
        // 1 + 2^-11 + 2^-40: direct rounding goes up (above the tie); via f32 the 2^-40 is lost,
        // leaving an exact tie that rounds to even (1.0).
        let x = 1.0 + f64::powi(2.0, -11) + f64::powi(2.0, -40);
        assert_eq!(DType::F16.round(x), 1.0);
    }

    /// The slice conversion gives, element for element, `from_f32(x as f32)`: over ties,
    /// subnormals, overflow to infinity, signed zeros and more than one block.
    #[test]
    fn slice_encoding_equals_the_scalar_rule() {
        let mut values = vec![
            0.0, -0.0, 65504.0, 65520.0, 1e6, -1e6, 6e-8, 3e-8, 1e-40, 3.4e38,
        ];
        values.push(1.0 + f64::powi(2.0, -11) + f64::powi(2.0, -40));
        values.push(1.0 + f64::powi(2.0, -8));
        let mut x = 0x1234_5678_9abc_def0u64;
        for _ in 0..3000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Random signs, mantissas and exponents across f16/bf16's whole range.
            let e = (x >> 52) as i32 % 80 - 40;
            values.push(
                f64::from_bits(x & 0x800f_ffff_ffff_ffff | 0x3ff0_0000_0000_0000)
                    * f64::powi(2.0, e),
            );
        }
        for dt in [DType::F16, DType::BF16] {
            let mut out = vec![0u8; values.len() * 2];
            dt.encode(&values, &mut out);
            for (v, o) in values.iter().zip(out.chunks_exact(2)) {
                let want = match dt {
                    DType::F16 => f16::from_f32(*v as f32).to_bits(),
                    _ => bf16::from_f32(*v as f32).to_bits(),
                };
                assert_eq!(u16::from_le_bytes([o[0], o[1]]), want, "{dt} {v:e}");
            }
        }
    }

    #[test]
    fn parse_lists_valid_names_on_error() {
        let e = DType::parse("f8").unwrap_err().to_string();
        assert!(e.contains("f32, f64, f16, bf16, i64"), "{e}");
        assert_eq!(DType::parse("BFloat16").unwrap(), DType::BF16);
    }
}
