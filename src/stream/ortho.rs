//! Orthogonal matrices from Gaussian ones: QR (faer, single-threaded so the bits do not depend
//! on a thread count), then Q's columns times sign(diag R) so that Q is Haar-distributed
//! (Mezzadri 2007, "How to generate random matrices from the classical compact groups").

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::{householder, qr::no_pivoting::factor};
use faer::{Conj, Mat, Par};

/// Thin Q and the diagonal of R of the (rows ≥ cols) matrix `a`, with `Par::Seq` passed
/// explicitly: faer's global parallelism (rayon when that feature is on) would make the bits
/// depend on the thread count, and nested rayon work inside a writer's chunk fill could deadlock.
fn thin_qr(mut a: Mat<f64>) -> (Mat<f64>, Vec<f64>) {
    let (m, n) = a.shape();
    let size = m.min(n);
    let par = Par::Seq;
    let block = factor::recommended_block_size::<f64>(m, n);
    let mut coeff = Mat::<f64>::zeros(block, size);
    factor::qr_in_place(
        a.as_mut(),
        coeff.as_mut(),
        par,
        MemStack::new(&mut MemBuffer::new(factor::qr_in_place_scratch::<f64>(
            m,
            n,
            block,
            par,
            Default::default(),
        ))),
        Default::default(),
    );
    let r_diag: Vec<f64> = (0..size).map(|j| a[(j, j)]).collect();
    let mut q = Mat::<f64>::identity(m, size);
    householder::apply_block_householder_sequence_on_the_left_in_place_with_conj(
        a.as_ref(),
        coeff.as_ref(),
        Conj::No,
        q.as_mut(),
        par,
        MemStack::new(&mut MemBuffer::new(
            householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(
                m, block, size,
            ),
        )),
    );
    (q, r_diag)
}

/// `gain · Q` for the (m × n) Gaussian `a` (C order): for m ≥ n the thin Q of `a`; for m < n the
/// transpose of the thin Q of `aᵀ` (as `torch.nn.init.orthogonal_` and Keras do). Returns
/// (m × n) in C order. Takes `a` so that at most two m × n matrices are held at once (its
/// estimate: `memory_limit::orthogonal`).
pub(crate) fn orthogonal_from_gaussian(a: Vec<f64>, m: usize, n: usize, gain: f64) -> Vec<f64> {
    orthogonal_impl(a, m, n, gain, true)
}

fn orthogonal_impl(a: Vec<f64>, m: usize, n: usize, gain: f64, sign_fix: bool) -> Vec<f64> {
    if m == 0 || n == 0 {
        return Vec::new();
    }
    let tall = m >= n;
    let (rows, cols) = if tall { (m, n) } else { (n, m) };
    let mat = Mat::<f64>::from_fn(
        rows,
        cols,
        |i, j| if tall { a[i * n + j] } else { a[j * n + i] },
    );
    drop(a);
    let (q, r_diag) = thin_qr(mat);
    let signs: Vec<f64> = r_diag
        .iter()
        .map(|&d| if sign_fix && d < 0.0 { -1.0 } else { 1.0 })
        .collect();
    let mut out = vec![0.0; m * n];
    for i in 0..rows {
        for j in 0..cols {
            let v = gain * q[(i, j)] * signs[j];
            if tall {
                out[i * n + j] = v;
            } else {
                out[j * n + i] = v;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::Distribution;
    use crate::stream::TensorStream;

    fn ks_normal(xs: &mut [f64]) -> f64 {
        xs.sort_unstable_by(f64::total_cmp);
        let n = xs.len() as f64;
        let mut d = 0.0f64;
        for (i, &x) in xs.iter().enumerate() {
            let f = 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2);
            d = d.max(f - i as f64 / n).max((i + 1) as f64 / n - f);
        }
        d * n.sqrt()
    }

    #[test]
    fn without_the_sign_fix_q_is_not_haar_and_the_ks_test_catches_it() {
        let n = 24;
        let (mut fixed, mut raw) = (Vec::new(), Vec::new());
        for seed in 0..400 {
            let s = TensorStream::new(
                seed,
                "g",
                (n * n) as u64,
                &Distribution::Normal {
                    mean: 0.0,
                    std: 1.0,
                },
            );
            let mut a = vec![0.0; n * n];
            s.fill_chunk(0, &mut a);
            fixed.push(orthogonal_impl(a.clone(), n, n, 1.0, true)[0] * (n as f64).sqrt());
            raw.push(orthogonal_impl(a, n, n, 1.0, false)[0] * (n as f64).sqrt());
        }
        assert!(ks_normal(&mut fixed) <= 1.95);
        assert!(
            ks_normal(&mut raw) > 1.95,
            "raw QR passed KS: the test could not tell"
        );
    }
}
