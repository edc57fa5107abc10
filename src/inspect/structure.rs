//! Checks that need each element's position, not just summary statistics.
//!
//! Owns two streaming checks, fed the decoded values of a tensor in file order:
//!
//! - [`Pattern`] (`exact`): constant, eye and dirac tensors are functions of the element's
//!   index, so every element is compared with its expected value rounded to the file's dtype,
//!   exactly (no tolerance), chunk by chunk in parallel; a failure names the first differing
//!   element by its coordinates. The expected values are written here from PyTorch's
//!   definitions (`torch.eye`, `torch.nn.init.dirac_`), independently of the generator in
//!   `stream`.
//! - [`Gram`] (`orthogonality`): the largest entry of |G − gain²·I|, G the Gram matrix of the
//!   tensor's smaller side (WᵀW for rows ≥ cols, else WWᵀ), W the tensor reshaped to the
//!   (rows × cols) its plan says (PyTorch: `shape[0]` × the rest; Keras: the rest × `shape[-1]`),
//!   compared with a tolerance derived in [`Gram::tolerance`]. For rows ≥ cols G is accumulated
//!   while rows stream past (memory cols² plus one block of rows); for rows < cols the matrix is
//!   held whole. Memory and work are capped ([`ORTHO_MAX_BYTES`], [`ORTHO_MAX_WORK`]): past
//!   them the test is reported as not checked rather than allocated from file data.
//! - [`SparseColumns`] (`zeros`): the number of zeros in each column of a `sparse` tensor.
//!
//! A Fortran-ordered `.npy` streams its elements with the first axis fastest; both checks map
//! stream positions to coordinates accordingly (for the Gram matrix, the stream is then the
//! transposed matrix up to a permutation of rows and of columns, which leaves the Gram matrix of
//! the smaller side the same up to a permutation, and so max |G − gain²·I| unchanged).
//!
//! Does not own: reading bytes, or the statistical tests (`check`).

use super::check::{CheckResult, round_to, unit_roundoff};
use crate::read::ElemType;
use crate::scheme::Distribution;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};

/// Most memory the orthogonality check may hold, in bytes (f64 Gram matrix plus the rows it
/// buffers: a block for rows ≥ cols, the whole matrix for rows < cols). 256 MiB covers a
/// 4096 × 4096 matrix either way.
pub(crate) const ORTHO_MAX_BYTES: u64 = 256 << 20;

/// Most multiply-adds the orthogonality check may spend (numel × min(rows, cols), about a
/// minute single-threaded at the worst): 2³⁷ ≈ 1.4·10¹¹, twice a 4096 × 4096 product.
pub(crate) const ORTHO_MAX_WORK: u64 = 1 << 37;

/// Elements of rows buffered between Gram updates when rows ≥ cols (at least one row).
const GRAM_BLOCK_ELEMS: u64 = 1 << 16;

/// Mismatches of a stretch of values against an exact pattern, mergeable in any order.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Mismatches {
    pub count: u64,
    /// (stream position, value found, value expected) of the earliest mismatch.
    pub first: Option<(u64, f64, f64)>,
}

impl Mismatches {
    pub(crate) fn merge(&mut self, o: &Mismatches) {
        self.count += o.count;
        if let Some(f) = o.first
            && self.first.is_none_or(|s| f.0 < s.0)
        {
            self.first = Some(f);
        }
    }
}

/// What each element of a non-random tensor must equal.
#[derive(Debug, Clone, PartialEq)]
enum Expected {
    /// Every element.
    Constant(f64),
    /// `gain` (rounded) where row == column of a 2-D tensor, 0 elsewhere.
    Eye { gain: f64 },
    /// `torch.nn.init.dirac_(w, groups)`: for g < groups and d < min(out/groups, in),
    /// w[g·(out/groups) + d, d, k₁//2, …] = 1, every other element 0; with `channels_last`
    /// (Keras layout `[*k, in, out]`) the same on those axes.
    Dirac { groups: u64, channels_last: bool },
}

/// The exact-pattern check of one tensor.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pattern {
    shape: Vec<u64>,
    fortran: bool,
    expected: Expected,
}

impl Pattern {
    /// The pattern a law fixes, for a tensor of `shape` stored as `t` (None for random laws).
    /// A law that does not fit the shape (possible in a hand-edited plan) is a failed check.
    pub(crate) fn for_law(
        law: &Distribution,
        shape: &[u64],
        fortran: bool,
        t: &ElemType,
    ) -> Option<Result<Pattern, CheckResult>> {
        let expected = match *law {
            Distribution::Eye { gain } => {
                if shape.len() != 2 {
                    return Some(Err(CheckResult::new(
                        "exact",
                        false,
                        format!("eye needs a 2-D tensor, the shape is {shape:?}"),
                    )));
                }
                Expected::Eye {
                    gain: round_to(t, gain),
                }
            }
            Distribution::Dirac {
                groups,
                channels_last,
            } => {
                let rank = shape.len();
                if !(3..=5).contains(&rank) {
                    return Some(Err(CheckResult::new(
                        "exact",
                        false,
                        format!("dirac needs a 3-, 4- or 5-D tensor, the shape is {shape:?}"),
                    )));
                }
                let out = shape[if channels_last { rank - 1 } else { 0 }];
                if groups == 0 || !out.is_multiple_of(groups) {
                    return Some(Err(CheckResult::new(
                        "exact",
                        false,
                        format!("dirac groups {groups} do not divide the {out} output channels"),
                    )));
                }
                Expected::Dirac {
                    groups,
                    channels_last,
                }
            }
            _ => Expected::Constant(round_to(t, super::check::constant_value(law)?)),
        };
        Some(Ok(Pattern {
            shape: shape.to_vec(),
            fortran,
            expected,
        }))
    }

    /// Coordinates of the element at stream position `p` (C order, or first axis fastest for
    /// Fortran order). Only called for positions inside the tensor, so no axis is 0.
    fn coords(&self, mut p: u64, out: &mut [u64; 5]) {
        let r = self.shape.len().min(5);
        if self.fortran {
            for (a, c) in out.iter_mut().enumerate().take(r) {
                *c = p % self.shape[a];
                p /= self.shape[a];
            }
        } else {
            for a in (0..r).rev() {
                out[a] = p % self.shape[a];
                p /= self.shape[a];
            }
        }
    }

    /// The expected value at stream position `p`.
    fn at(&self, p: u64) -> f64 {
        let mut c = [0u64; 5];
        match self.expected {
            Expected::Constant(v) => v,
            Expected::Eye { gain } => {
                self.coords(p, &mut c);
                if c[0] == c[1] { gain } else { 0.0 }
            }
            Expected::Dirac {
                groups,
                channels_last,
            } => {
                self.coords(p, &mut c);
                let s = &self.shape;
                let rank = s.len();
                let (out_axis, in_axis, spatial) = if channels_last {
                    (rank - 1, rank - 2, 0..rank - 2)
                } else {
                    (0, 1, 2..rank)
                };
                let per_group = s[out_axis] / groups;
                let min_dim = per_group.min(s[in_axis]);
                let d = c[out_axis] % per_group;
                let one =
                    d < min_dim && c[in_axis] == d && spatial.into_iter().all(|a| c[a] == s[a] / 2);
                if one { 1.0 } else { 0.0 }
            }
        }
    }

    /// Compare `xs`, the values at stream positions `start..`, with the pattern (exactly:
    /// a NaN never matches).
    pub(crate) fn scan(&self, start: u64, xs: &[f64]) -> Mismatches {
        let mut m = Mismatches::default();
        for (i, &x) in xs.iter().enumerate() {
            let p = start + i as u64;
            let want = self.at(p);
            if x != want {
                m.count += 1;
                if m.first.is_none() {
                    m.first = Some((p, x, want));
                }
            }
        }
        m
    }

    /// The `exact` result of a tensor with `n` elements and mismatches `m`.
    pub(crate) fn result(&self, n: u64, m: &Mismatches) -> CheckResult {
        let what = match self.expected {
            Expected::Constant(v) => format!("{v}"),
            Expected::Eye { gain } => format!("the identity pattern ({gain} on the diagonal)"),
            Expected::Dirac { groups, .. } => format!("the dirac pattern (groups = {groups})"),
        };
        match m.first {
            None => CheckResult::new("exact", true, format!("all {n} values equal {what}")),
            Some((p, got, want)) => {
                let mut c = [0u64; 5];
                self.coords(p, &mut c);
                let at: Vec<u64> = c[..self.shape.len().min(5)].to_vec();
                CheckResult::new(
                    "exact",
                    false,
                    format!(
                        "{} of {n} values differ from {what}; first at index {at:?}: {got} where {want} is expected",
                        m.count
                    ),
                )
            }
        }
    }
}

/// The orthogonality check of one tensor: its Gram matrix, accumulated as values stream in.
pub(crate) struct Gram {
    gain: f64,
    /// The stream as a C-order matrix (rows × cols); `tall` when rows ≥ cols.
    rows: usize,
    cols: usize,
    tall: bool,
    /// Unit roundoff of the stored type, and of the precision the QR was computed in.
    u_store: f64,
    u_qr: f64,
    qr_in_f64: bool,
    /// Half the spacing of the stored type's subnormals (the absolute rounding error there).
    eta: f64,
    g: Mat<f64>,
    buf: Vec<f64>,
    /// Values buffered before a Gram update (whole rows; the whole matrix when wide).
    block: usize,
}

/// Half the smallest subnormal of the stored type: below the normal range, rounding errs by up
/// to this much absolutely rather than relatively.
fn half_subnormal(t: &ElemType) -> f64 {
    match t {
        ElemType::F16 => f64::powi(2.0, -25),
        ElemType::BF16 => f64::powi(2.0, -134),
        ElemType::F32 => f64::powi(2.0, -150),
        _ => 0.0, // 2⁻¹⁰⁷⁵ underflows; f64 is the working precision anyway
    }
}

impl Gram {
    /// Bytes the check of a streamed `r × c` matrix holds (the f64 Gram matrix and the values
    /// buffered between updates), and that buffer's length in elements.
    pub(crate) fn bytes(r: u64, c: u64) -> (u64, u64) {
        let block = if r >= c {
            (GRAM_BLOCK_ELEMS / c).max(1) * c
        } else {
            r * c
        };
        // No overflow for a real file: k² ≤ numel, and numel elements of the file exist.
        let k = r.min(c);
        (8 * (k * k + block), block)
    }

    /// The check for `Orthogonal { gain, rows, cols }` on a tensor of `numel` elements stored
    /// as `t`. `qr_in_f64`: the values are known to come from weightgen, which computes Q in
    /// f64 whatever the stored type; otherwise (`--expect`, another tool) Q is taken to have
    /// been computed in the stored type, as `torch.nn.init.orthogonal_` does. Err: a failed
    /// check (rows × cols is not the element count) or a "not checked" note (over the caps).
    pub(crate) fn new(
        law: &Distribution,
        numel: u64,
        fortran: bool,
        t: &ElemType,
        qr_in_f64: bool,
    ) -> Option<Result<Gram, CheckResult>> {
        let Distribution::Orthogonal { gain, rows, cols } = *law else {
            return None;
        };
        if rows.checked_mul(cols) != Some(numel) {
            return Some(Err(CheckResult::new(
                "orthogonality",
                false,
                format!("rows × cols = {rows} × {cols} is not the tensor's {numel} elements"),
            )));
        }
        if numel == 0 {
            return None;
        }
        // Fortran order streams the transposed matrix (up to permutations, see the module doc).
        let (r, c) = if fortran { (cols, rows) } else { (rows, cols) };
        let tall = r >= c;
        let k = r.min(c);
        let (bytes, block) = Gram::bytes(r, c);
        let work = numel.saturating_mul(k);
        if bytes > ORTHO_MAX_BYTES || work > ORTHO_MAX_WORK {
            return Some(Err(CheckResult::skipped(
                "orthogonality",
                format!(
                    "not checked: matrix too large ({rows} × {cols} needs {} MiB and {work} multiply-adds; caps {} MiB, {ORTHO_MAX_WORK})",
                    bytes.div_ceil(1 << 20),
                    ORTHO_MAX_BYTES >> 20
                ),
            )));
        }
        let u_store = unit_roundoff(t);
        Some(Ok(Gram {
            gain,
            rows: r as usize,
            cols: c as usize,
            tall,
            u_store,
            u_qr: if qr_in_f64 {
                unit_roundoff(&ElemType::F64)
            } else {
                u_store
            },
            qr_in_f64,
            eta: half_subnormal(t),
            g: Mat::zeros(k as usize, k as usize),
            buf: Vec::with_capacity(block as usize),
            block: block as usize,
        }))
    }

    /// The next values of the stream, in order.
    pub(crate) fn feed(&mut self, mut xs: &[f64]) {
        while !xs.is_empty() {
            let take = xs.len().min(self.block - self.buf.len());
            self.buf.extend_from_slice(&xs[..take]);
            xs = &xs[take..];
            if self.tall && self.buf.len() == self.block {
                self.flush();
            }
        }
    }

    /// G += BᵀB for the buffered block of rows B (f64 products and sums).
    fn flush(&mut self) {
        let n = self.buf.len() / self.cols;
        if n == 0 {
            return;
        }
        let b = MatRef::from_row_major_slice(&self.buf[..n * self.cols], n, self.cols);
        // Par::Seq: the residual's bits do not depend on the thread count.
        matmul(self.g.as_mut(), Accum::Add, b.transpose(), b, 1.0, Par::Seq);
        self.buf.clear();
    }

    /// The largest |G − gain²·I| that a correct tensor can show, with L = max(rows, cols) the
    /// length of each inner product, n = rows·cols, u the stored type's unit roundoff, η half
    /// its smallest subnormal and u_w the unit roundoff the QR was computed in. Write the file's
    /// columns (of the smaller side) as w = fl(g·q̂) = g·q̂∘(1+δ) + e with |δ| ≤ u, |e| ≤ η, and
    /// q̂ the computed Q, within γ = n·u_w per column of an exactly orthonormal Q (Householder
    /// QR, Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., Thm 19.4: γ̃_{mn},
    /// its small constant taken as 1; in practice the error is nearer √n·u_w). Then, by
    /// Cauchy–Schwarz with ‖q̂ᵢ‖ ≤ 1 + γ:
    ///
    /// - Q itself: |g²(q̂ᵢᵀq̂ⱼ − δᵢⱼ)| ≤ g²(2γ + γ²);
    /// - relative rounding: Σ|g q̂ₖᵢ||g q̂ₖⱼ|(2u + u²) ≤ g²(1 + γ)²(2u + u²);
    /// - absolute rounding (subnormals): ≤ 2(1 + u)·η·√L·g(1 + γ) + L·η²;
    /// - summing G in f64 (inner products of length L): ≤ L·2⁻⁵³·‖wᵢ‖‖wⱼ‖, with
    ///   ‖wᵢ‖ ≤ g(1 + u)(1 + γ) + √L·η.
    ///
    /// For f32 the rounding term 2u ≈ 1.2·10⁻⁷ dominates (weightgen's f64 QR adds n·2⁻⁵³, below
    /// 4·10⁻⁹ under the caps); for f64 the QR term does. Every term is a worst case, so a
    /// correct file never fails, while a row with half its signs flipped moves entries of G by
    /// about 2g²/L.
    pub(crate) fn tolerance(&self) -> f64 {
        let l = self.rows.max(self.cols) as f64;
        let (g, u, eta) = (self.gain.abs(), self.u_store, self.eta);
        let gamma = (self.rows as f64 * self.cols as f64) * self.u_qr;
        let q = g * g * (2.0 * gamma + gamma * gamma);
        let rel = g * g * (1.0 + gamma).powi(2) * (2.0 * u + u * u);
        let abs = 2.0 * (1.0 + u) * eta * l.sqrt() * g * (1.0 + gamma) + l * eta * eta;
        let norm = g * (1.0 + u) * (1.0 + gamma) + l.sqrt() * eta;
        let sum = l * unit_roundoff(&ElemType::F64) * norm * norm;
        q + rel + abs + sum
    }

    /// max |G − gain²·I| (NaN if any value was NaN or infinite).
    pub(crate) fn residual(mut self) -> f64 {
        if self.tall {
            self.flush();
        } else {
            let w = MatRef::from_row_major_slice(&self.buf, self.rows, self.cols);
            matmul(
                self.g.as_mut(),
                Accum::Replace,
                w,
                w.transpose(),
                1.0,
                Par::Seq,
            );
        }
        let g2 = self.gain * self.gain;
        let k = self.g.nrows();
        let mut worst = 0.0f64;
        for j in 0..k {
            for i in 0..k {
                let want = if i == j { g2 } else { 0.0 };
                let d = (self.g[(i, j)] - want).abs();
                if d.is_nan() || d > worst {
                    worst = d;
                }
            }
        }
        worst
    }

    /// The `orthogonality` result.
    pub(crate) fn result(self) -> CheckResult {
        let tol = self.tolerance();
        let side = if self.tall { "WᵀW" } else { "WWᵀ" };
        let (r, c) = (self.rows, self.cols);
        let qr = if self.qr_in_f64 {
            "Q computed in f64 by weightgen"
        } else {
            "Q possibly computed in the stored type"
        };
        let gain = self.gain;
        let res = self.residual();
        let ok = res <= tol;
        CheckResult::new(
            "orthogonality",
            ok,
            format!(
                "max |{side} − gain²·I| = {res:.3e} {} tolerance {tol:.3e} ({r} × {c}, gain {gain}, {qr})",
                if ok { "<=" } else { ">" }
            ),
        )
    }
}

/// Most columns whose zeros the sparse check counts (a u64 counter each: 128 MiB).
pub(crate) const SPARSE_MAX_COLS: u64 = 1 << 24;

/// The `zeros` check of a `sparse` tensor: PyTorch's `sparse_` (and weightgen's) sets exactly
/// `zeros_per_column` = ⌈sparsity·rows⌉ elements of every column to 0 and draws the rest from
/// N(0, std²). A normal draw rounds to 0 only below half the smallest subnormal of the stored
/// type — never in practice for f32, f64 and bf16 (|x| < 10⁻⁴⁵·…), but for f16 any
/// |x| < 2⁻²⁵ ≈ 3·10⁻⁸ does — so every column must hold exactly that many zeros, or for f16
/// at least that many.
pub(crate) struct SparseColumns {
    rows: u64,
    cols: u64,
    fortran: bool,
    zeros: u64,
    at_least: bool,
    counts: Vec<u64>,
    at: u64,
}

impl SparseColumns {
    pub(crate) fn new(
        law: &Distribution,
        shape: &[u64],
        fortran: bool,
        t: &ElemType,
    ) -> Option<Result<SparseColumns, CheckResult>> {
        let Distribution::Sparse {
            zeros_per_column, ..
        } = *law
        else {
            return None;
        };
        let &[rows, cols] = shape else {
            return Some(Err(CheckResult::new(
                "zeros",
                false,
                format!("sparse needs a 2-D tensor, the shape is {shape:?}"),
            )));
        };
        if rows == 0 || cols == 0 {
            return None;
        }
        if cols > SPARSE_MAX_COLS {
            return Some(Err(CheckResult::skipped(
                "zeros",
                format!("not checked: {cols} columns, over the cap of {SPARSE_MAX_COLS}"),
            )));
        }
        Some(Ok(SparseColumns {
            rows,
            cols,
            fortran,
            zeros: zeros_per_column,
            at_least: *t == ElemType::F16,
            counts: vec![0; cols as usize],
            at: 0,
        }))
    }

    /// The next values of the stream, in order.
    pub(crate) fn feed(&mut self, xs: &[f64]) {
        for (i, &x) in xs.iter().enumerate() {
            if x == 0.0 {
                let p = self.at + i as u64;
                let c = if self.fortran {
                    p / self.rows
                } else {
                    p % self.cols
                };
                self.counts[c as usize] += 1;
            }
        }
        self.at += xs.len() as u64;
    }

    pub(crate) fn result(self) -> CheckResult {
        let (z, at_least) = (self.zeros, self.at_least);
        let bad = |n: u64| if at_least { n < z } else { n != z };
        let wrong = self.counts.iter().filter(|&&n| bad(n)).count();
        let want = if at_least {
            format!("at least {z}")
        } else {
            format!("{z}")
        };
        match self.counts.iter().position(|&n| bad(n)) {
            None => CheckResult::new(
                "zeros",
                true,
                format!("each of the {} columns has {want} zeros", self.cols),
            ),
            Some(c) => CheckResult::new(
                "zeros",
                false,
                format!(
                    "{wrong} of {} columns do not have {want} zeros; column {c} has {}",
                    self.cols, self.counts[c]
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(law: Distribution, shape: &[u64], fortran: bool) -> Pattern {
        Pattern::for_law(&law, shape, fortran, &ElemType::F32)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn dirac_pattern_matches_pytorchs_loop() {
        // torch.nn.init.dirac_(torch.empty(4, 2, 3), groups=2): ones at [g·2 + d, d, 1].
        let p = pattern(
            Distribution::Dirac {
                groups: 2,
                channels_last: false,
            },
            &[4, 2, 3],
            false,
        );
        let ones: Vec<u64> = (0..24).filter(|&i| p.at(i) == 1.0).collect();
        // [o, i, k] is at 6o + 3i + k: [0,0,1] = 1, [1,1,1] = 10, [2,0,1] = 13, [3,1,1] = 22.
        assert_eq!(ones, vec![1, 10, 13, 22]);
        // More output channels per group than inputs: d < min(out/groups, in) = 2.
        let p = pattern(
            Distribution::Dirac {
                groups: 1,
                channels_last: false,
            },
            &[3, 2, 1, 1],
            false,
        );
        let ones: Vec<u64> = (0..6).filter(|&i| p.at(i) == 1.0).collect();
        assert_eq!(ones, vec![0, 3]);
    }

    #[test]
    fn fortran_order_maps_positions_first_axis_fastest() {
        let p = pattern(Distribution::Eye { gain: 2.0 }, &[2, 3], true);
        // Column-major 2×3: positions 0 = [0,0], 3 = [1,1].
        let v: Vec<f64> = (0..6).map(|i| p.at(i)).collect();
        assert_eq!(v, vec![2.0, 0.0, 0.0, 2.0, 0.0, 0.0]);
        let m = p.scan(0, &[2.0, 0.0, 0.0, 2.0, 1.0, 0.0]);
        assert_eq!((m.count, m.first), (1, Some((4, 1.0, 0.0))));
        assert!(p.result(6, &m).detail.contains("index [0, 2]"));
    }

    #[test]
    fn a_law_that_does_not_fit_the_shape_fails_instead_of_panicking() {
        for (law, shape) in [
            (Distribution::Eye { gain: 1.0 }, &[2u64, 3, 4][..]),
            (
                Distribution::Dirac {
                    groups: 0,
                    channels_last: false,
                },
                &[2, 2, 3],
            ),
            (
                Distribution::Dirac {
                    groups: 1,
                    channels_last: true,
                },
                &[2, 2],
            ),
        ] {
            let r = Pattern::for_law(&law, shape, false, &ElemType::F32).unwrap();
            assert!(!r.unwrap_err().passed);
        }
        let o = Distribution::Orthogonal {
            gain: 1.0,
            rows: u64::MAX,
            cols: 2,
        };
        let r = Gram::new(&o, 6, false, &ElemType::F32, true).unwrap();
        assert!(!r.err().unwrap().passed);
    }

    #[test]
    fn caps_skip_instead_of_allocating() {
        let o = Distribution::Orthogonal {
            gain: 1.0,
            rows: 1 << 20,
            cols: 1 << 20,
        };
        let r = Gram::new(&o, 1 << 40, false, &ElemType::F32, true).unwrap();
        let e = r.err().unwrap();
        assert!(e.passed && e.skipped && e.detail.contains("not checked"));
    }

    #[test]
    fn gram_of_an_exact_rotation_and_of_a_perturbed_one() {
        // A 3×2 matrix with orthonormal columns, fed in odd pieces.
        let s = 0.5f64.sqrt();
        let w = [s, s, s, -s, 0.0, 0.0];
        let o = Distribution::Orthogonal {
            gain: 1.0,
            rows: 3,
            cols: 2,
        };
        let mk = || {
            Gram::new(&o, 6, false, &ElemType::F64, true)
                .unwrap()
                .ok()
                .unwrap()
        };
        let mut g = mk();
        g.feed(&w[..1]);
        g.feed(&w[1..5]);
        g.feed(&w[5..]);
        assert!(g.residual() < 1e-15);
        // The same matrix in Fortran order streams as the wide 2×3 transpose: WWᵀ = I.
        let mut g = Gram::new(&o, 6, true, &ElemType::F64, true)
            .unwrap()
            .ok()
            .unwrap();
        assert!(!g.tall);
        g.feed(&[s, s, 0.0, s, -s, 0.0]);
        assert!(g.residual() < 1e-15);
        let mut bad = w;
        bad[1] = -bad[1];
        let mut g = mk();
        g.feed(&bad);
        assert!((g.residual() - 1.0).abs() < 1e-15);
        let mut g = mk();
        g.feed(&[f64::NAN, s, s, -s, 0.0, 0.0]);
        assert!(g.residual().is_nan());
    }
}
