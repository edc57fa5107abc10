//! Fan-in and fan-out of a weight shape, under each framework's axis convention.
//!
//! Owns: which axes count as inputs and outputs. Does not own: what a scheme does with the fans
//! (see `scheme`), nor explicit `fan_in`/`fan_out` overrides (applied by `plan`).

use crate::error::{Error, Result};
use std::fmt;

/// Which framework's layout and semantics to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Convention {
    /// PyTorch: weights are `[out, in, *kernel]`; named "normal" schemes are untruncated.
    #[default]
    Torch,
    /// Keras 3 / JAX: kernels are `[*kernel, in, out]`; named "normal" schemes are truncated at
    /// ±2σ with the std corrected by 1/0.87962566103423978.
    Keras,
}

impl Convention {
    /// Both conventions, the default first.
    pub const ALL: [Convention; 2] = [Convention::Torch, Convention::Keras];

    pub fn name(self) -> &'static str {
        match self {
            Convention::Torch => "torch",
            Convention::Keras => "keras",
        }
    }

    pub fn parse(s: &str) -> Result<Convention> {
        match s.to_ascii_lowercase().as_str() {
            "torch" | "pytorch" => Ok(Convention::Torch),
            "keras" | "tf" | "tensorflow" | "jax" => Ok(Convention::Keras),
            _ => Err(Error::invalid(
                "",
                format!(
                    "unknown convention `{s}`{} (valid: torch, keras)",
                    crate::names::did_you_mean(s, &["torch", "keras", "pytorch", "tensorflow"])
                ),
            )),
        }
    }
}

impl fmt::Display for Convention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Fans of a shape; `None` where the convention leaves them undefined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fans {
    pub fan_in: Option<u64>,
    pub fan_out: Option<u64>,
}

fn product(dims: &[u64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

/// Fans as the convention computes them from the shape alone.
///
/// - torch: `torch/nn/init.py: _calculate_fan_in_and_fan_out` — fewer than 2 dimensions is an
///   error there (here: undefined fans); `fan_in = size(1) · prod(shape[2:])`,
///   `fan_out = size(0) · prod(shape[2:])`. `groups` is ignored, as in PyTorch.
/// - keras: `keras/src/initializers/random_initializers.py: compute_fans` — rank 0 → (1, 1);
///   rank 1 → (`shape[0]`, `shape[0]`); rank 2 → (`shape[0]`, `shape[1]`); otherwise the receptive field
///   is `prod(shape[:-2])`, `fan_in = shape[-2] · rf`, `fan_out = shape[-1] · rf`.
///
/// A fan that does not fit in u64 is an error (possible only when another dimension is 0).
pub fn fans(shape: &[u64], convention: Convention) -> Result<Fans> {
    let overflow = || Error::invalid("", "fan-in/fan-out overflows a 64-bit integer");
    match convention {
        Convention::Torch => {
            if shape.len() < 2 {
                return Ok(Fans {
                    fan_in: None,
                    fan_out: None,
                });
            }
            let rf = product(&shape[2..]).ok_or_else(overflow)?;
            Ok(Fans {
                fan_in: Some(shape[1].checked_mul(rf).ok_or_else(overflow)?),
                fan_out: Some(shape[0].checked_mul(rf).ok_or_else(overflow)?),
            })
        }
        Convention::Keras => {
            let (fi, fo) = match shape.len() {
                0 => (1, 1),
                1 => (shape[0], shape[0]),
                2 => (shape[0], shape[1]),
                n => {
                    let rf = product(&shape[..n - 2]).ok_or_else(overflow)?;
                    (
                        shape[n - 2].checked_mul(rf).ok_or_else(overflow)?,
                        shape[n - 1].checked_mul(rf).ok_or_else(overflow)?,
                    )
                }
            };
            Ok(Fans {
                fan_in: Some(fi),
                fan_out: Some(fo),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(shape: &[u64], c: Convention) -> (Option<u64>, Option<u64>) {
        let x = fans(shape, c).unwrap();
        (x.fan_in, x.fan_out)
    }

    #[test]
    fn torch_fans_follow_out_in_kernel_layout() {
        assert_eq!(f(&[256, 784], Convention::Torch), (Some(784), Some(256)));
        assert_eq!(
            f(&[64, 3, 7, 7], Convention::Torch),
            (Some(147), Some(3136))
        );
        // Depthwise conv: PyTorch ignores groups, so fan_out is C·k² (pytorch/pytorch#23854).
        assert_eq!(f(&[32, 1, 3, 3], Convention::Torch), (Some(9), Some(288)));
        assert_eq!(f(&[100], Convention::Torch), (None, None));
        assert_eq!(f(&[], Convention::Torch), (None, None));
    }

    #[test]
    fn keras_fans_follow_kernel_in_out_layout() {
        assert_eq!(f(&[784, 256], Convention::Keras), (Some(784), Some(256)));
        assert_eq!(
            f(&[3, 3, 16, 32], Convention::Keras),
            (Some(144), Some(288))
        );
        assert_eq!(f(&[100], Convention::Keras), (Some(100), Some(100)));
        assert_eq!(f(&[], Convention::Keras), (Some(1), Some(1)));
    }

    #[test]
    fn fan_overflow_is_an_error_not_a_wrap() {
        let big = 1u64 << 40;
        assert!(fans(&[0, big, big], Convention::Torch).is_err());
        assert!(fans(&[big, big, 0, 5], Convention::Keras).is_err());
    }
}
