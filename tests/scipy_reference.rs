//! The library's normal CDF, truncated-normal law, KS statistic and KS critical values against
//! SciPy 1.17.1 (`fixtures/reference/scipy_stats.json`, written by
//! `tests/reference/scipy_stats.py`; `make scipy-reference` regenerates it), so the oracle of
//! `inspect --check` and of the statistical tests is not only the library's own code.
//!
//! Tolerances (the largest differences measured against SciPy 1.17.1 in brackets):
//! - φ(x), Φ(x), 1 − Φ(x): relative 1e-15·(1 + x²) (plus 1e-300 absolute, for SciPy's 0 where
//!   the value is subnormal). Both codes lose about x²·ε in the tails, where x² itself is
//!   rounded before the exponential [1.7e-13 at x = ±30; mpmath puts SciPy 6e-14 and us 1.2e-13
//!   from Φ(−30)]; 1e-15 at x = 0.
//! - P(a ≤ Z ≤ b): relative 1e-15·(1 + d²), d the distance of the cut from 0 (0 when it
//!   straddles 0), plus ε·(1 − Φ(d)) absolute for the subtraction of two tail probabilities
//!   [1.5e-14 for [8, 20]; 4.9e-14 relative, 1.9e-17 absolute, for the narrow [0.001, 0.002]].
//! - truncated normal mean, variance, kurtosis: relative 1e-12·(1 + d²)^k with k = 1, 2, 3:
//!   1e-12 for cuts that straddle 0; for a one-sided tail the variance and fourth moment are
//!   differences of nearly equal raw moments [for [8, 20]: variance 6.4e-11, kurtosis 3.6e-8,
//!   where mpmath puts SciPy's own error at 3.9e-11 and 2.3e-8]. CDF: 1e-14 absolute [3.2e-15].
//! - the KS statistic of a fixed sample: 1e-15 absolute [9.7e-17];
//! - the KS critical value (Stephens' finite-n formula): never more than 0.2% below SciPy's
//!   exact `kstwo` quantile [−0.13% at n = 100, α = 0.001; SciPy puts the actual level of the
//!   formula's value at most 1.04·α over the table], and within 0.5% of it for n ≥ 50 [0.41%].
//!   Below that it is conservative, far above the quantile for a small n at α = 1e-6 (+18% at
//!   n = 5): `inspect --check` on a tiny tensor fails only a grosser misfit.

use serde_json::Value;
use weightgen::scheme::Distribution;

mod common;
use common::cli::fixture;
use common::stat::{self, Exact, KS_C};

fn table() -> Value {
    let text = std::fs::read_to_string(fixture("reference/scipy_stats.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn rows<'a>(t: &'a Value, key: &str) -> &'a [Value] {
    let rows = t[key]
        .as_array()
        .unwrap_or_else(|| panic!("no `{key}` table"));
    assert!(!rows.is_empty(), "empty `{key}` table");
    rows
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("`{key}` is not a number in {v}"))
}

/// |ours − theirs| ≤ rel·|theirs| + abs, naming the case on failure; returns the relative error.
#[track_caller]
fn close(what: &str, ours: f64, theirs: f64, rel: f64, abs: f64) -> f64 {
    let err = (ours - theirs).abs();
    assert!(
        err <= rel * theirs.abs() + abs,
        "{what}: ours {ours:e}, SciPy {theirs:e} (error {err:e})"
    );
    if theirs == 0.0 {
        0.0
    } else {
        err / theirs.abs()
    }
}

/// How far the cut [a, b] of a standard normal lies from 0 (0 when it straddles 0).
fn depth(a: f64, b: f64) -> f64 {
    if a >= 0.0 {
        a
    } else if b <= 0.0 {
        -b
    } else {
        0.0
    }
}

fn law(v: &Value) -> Distribution {
    if let Some(n) = v.get("normal") {
        Distribution::Normal {
            mean: num(n, "mean"),
            std: num(n, "std"),
        }
    } else if let Some(u) = v.get("uniform") {
        Distribution::Uniform {
            low: num(u, "low"),
            high: num(u, "high"),
        }
    } else {
        let t = &v["truncated_normal"];
        Distribution::TruncatedNormal {
            mean: num(t, "mean"),
            std: num(t, "std"),
            low: num(t, "low"),
            high: num(t, "high"),
        }
    }
}

#[test]
fn normal_pdf_cdf_and_tails_match_scipy() {
    let t = table();
    let mut worst = 0.0f64;
    for r in rows(&t, "normal") {
        let x = num(r, "x");
        let rel = 1e-15 * (1.0 + x * x);
        for (what, ours, key) in [
            (format!("φ({x})"), stat::pdf(x), "pdf"),
            (format!("Φ({x})"), stat::cdf(x), "cdf"),
            (format!("1 − Φ({x})"), stat::sf(x), "sf"),
        ] {
            worst = worst.max(close(&what, ours, num(r, key), rel, 1e-300));
        }
    }
    println!("normal: largest relative error {worst:e}");
}

#[test]
fn normal_mass_between_bounds_matches_scipy_in_the_tails() {
    let t = table();
    let mut worst = 0.0f64;
    for r in rows(&t, "mass") {
        let (a, b) = (num(r, "a"), num(r, "b"));
        let what = format!("P({a} ≤ Z ≤ {b})");
        let d = depth(a, b);
        // The library subtracts two tail probabilities of at most 1 − Φ(d): ε of that, absolute.
        let abs = f64::EPSILON * stat::sf(d);
        let rel = 1e-15 * (1.0 + d * d);
        worst = worst.max(close(&what, stat::mass(a, b), num(r, "mass"), rel, abs));
    }
    println!("mass: largest relative error {worst:e}");
}

#[test]
fn truncated_normal_moments_and_cdf_match_scipy() {
    let t = table();
    let (mut worst_mv, mut worst_k, mut worst_cdf) = (0.0f64, 0.0f64, 0.0f64);
    for r in rows(&t, "truncnorm") {
        let (mean, std) = (num(r, "mean"), num(r, "std"));
        let (low, high) = (num(r, "low"), num(r, "high"));
        let d = Distribution::TruncatedNormal {
            mean,
            std,
            low,
            high,
        };
        let what = format!("{d:?}");
        let c = 1.0 + depth((low - mean) / std, (high - mean) / std).powi(2);
        let m = close(&what, d.mean(), num(r, "law_mean"), 1e-12 * c, 1e-300);
        let v = close(&what, d.var(), num(r, "law_var"), 1e-12 * c.powi(2), 0.0);
        let k = close(
            &what,
            d.kurtosis(),
            num(r, "law_kurtosis"),
            1e-12 * c.powi(3),
            0.0,
        );
        worst_mv = worst_mv.max(m).max(v);
        worst_k = worst_k.max(k);
        let points = r["cdf"].as_array().unwrap();
        assert!(points.len() >= 5);
        for p in points {
            let (x, want) = (p[0].as_f64().unwrap(), p[1].as_f64().unwrap());
            let err = (d.cdf(x) - want).abs();
            assert!(
                err <= 1e-14,
                "{what} cdf({x}): ours {}, SciPy {want}",
                d.cdf(x)
            );
            worst_cdf = worst_cdf.max(err);
        }
    }
    println!(
        "truncnorm: mean/var relative {worst_mv:e}, kurtosis relative {worst_k:e}, cdf absolute {worst_cdf:e}"
    );
}

#[test]
fn ks_statistic_matches_scipy_kstest() {
    let t = table();
    for r in rows(&t, "ks_statistic") {
        let d = law(&r["law"]);
        let mut xs: Vec<f64> = r["xs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let ours = stat::ks(&mut xs, |x| d.cdf(x));
        let want = num(r, "d");
        assert!(
            (ours - want).abs() <= 1e-15,
            "{d:?}: D = {ours} here, {want} from scipy.stats.kstest"
        );
    }
}

#[test]
fn ks_critical_values_are_scipys_exact_quantiles_or_above() {
    let t = table();
    let mut worst_large_n = 0.0f64;
    for r in rows(&t, "ks_critical") {
        let (n, alpha, exact) = (r["n"].as_u64().unwrap(), num(r, "alpha"), num(r, "d"));
        let ours = stat::ks_critical(n, alpha);
        let rel = ours / exact - 1.0;
        // Below the exact quantile, a correct file would fail more often than α says.
        assert!(
            rel >= -2e-3,
            "n = {n}, α = {alpha}: critical {ours} is {:.3}% below the exact {exact}",
            -100.0 * rel
        );
        if n >= 50 {
            assert!(
                rel.abs() <= 5e-3,
                "n = {n}, α = {alpha}: critical {ours} vs exact {exact} ({rel:e})"
            );
            worst_large_n = worst_large_n.max(rel.abs());
        }
    }
    println!("ks_critical: largest relative difference for n ≥ 50: {worst_large_n:e}");
}

#[test]
fn the_tests_kolmogorov_constant_is_scipys_asymptotic_quantile_rounded_up() {
    let t = table();
    let c = rows(&t, "kolmogorov")
        .iter()
        .find(|r| num(r, "alpha") == 0.001)
        .map(|r| num(r, "c"))
        .expect("α = 0.001 row");
    assert!(
        c <= KS_C && KS_C - c < 1e-3,
        "kstwobign.isf(0.001) = {c}, KS_C = {KS_C}"
    );
}
