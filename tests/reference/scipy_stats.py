#!/usr/bin/env python3
"""SciPy reference values for the statistics `weightgen inspect --check` and the statistical
tests rely on, written to fixtures/reference/scipy_stats.json (relative to the repository root)
and compared by tests/scipy_reference.rs, so the KS/CDF oracle is not only the library's own
code.

Run with the pinned versions of tests/reference/requirements.txt (`make scipy-reference`
builds the venv under target/ and runs this). What each table holds, and which library function
it checks:

* normal: x, scipy.stats.norm.pdf/cdf/sf(x)                -> stats::pdf, cdf, sf
* mass: a, b, P(a <= Z <= b) in log space (scipy.special.log_ndtr, so tails keep their
  relative precision)                                        -> stats::mass
* truncnorm: mean, std, low, high; its mean, variance and kurtosis
  (scipy.stats.truncnorm.stats, excess kurtosis + 3) and cdf at points of the support
  (scipy.stats.truncnorm.cdf)                                -> Exact for TruncatedNormal
* ks_statistic: a fixed sample and scipy.stats.kstest(...).statistic against N(mu, sigma),
  U(low, high) and a truncated normal                       -> stats::ks
* ks_critical: n, alpha and the exact critical value scipy.stats.kstwo.isf(alpha, n)
                                                             -> stats::ks_critical
* kolmogorov: alpha and scipy.stats.kstwobign.isf(alpha), the asymptotic critical value of
  sqrt(n)*D_n                                                -> the tests' KS_C
"""

import json
import os

import numpy as np
import scipy
from scipy import special, stats

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures",
                   "reference", "scipy_stats.json")


def f(x):
    return float(x)


def normal():
    xs = [-38.0, -30.0, -20.0, -10.0, -8.0, -5.0, -3.0, -2.0, -1.0, -0.5, -1e-3, 0.0, 1e-3,
          0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 20.0, 30.0, 38.0]
    return [{"x": x, "pdf": f(stats.norm.pdf(x)), "cdf": f(stats.norm.cdf(x)),
             "sf": f(stats.norm.sf(x))} for x in xs]


def log_mass(a, b):
    """log P(a <= Z <= b), from the tail that keeps precision."""
    if a >= 0:
        a, b = -b, -a
    la, lb = special.log_ndtr(a), special.log_ndtr(b)
    return lb + np.log(-np.expm1(la - lb))


def mass():
    pairs = [(-2.0, 2.0), (-100.0, 100.0), (-1.0, 0.5), (0.0, 1.0), (3.0, 9.0), (8.0, 20.0),
             (-20.0, -8.0), (-0.5, 0.5), (1e-3, 2e-3), (5.0, 40.0),
             (-40.0, -5.0)]
    return [{"a": a, "b": b, "mass": f(np.exp(log_mass(a, b)))} for a, b in pairs]


def truncnorm():
    # (mean, std, low, high): torch trunc_normal_ defaults, keras' +-2 sigma, one-sided tails.
    cases = [(0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -2.0, 2.0), (0.1, 0.5, -0.9, 1.1),
             (0.0, 1.0, 3.0, 9.0), (0.0, 1.0, -0.5, 0.5), (0.0, 1.0, 8.0, 20.0),
             (1.0, 2.0, -30.0, 0.0), (0.0, 0.05, -0.1, 0.1)]
    out = []
    for mean, std, low, high in cases:
        a, b = (low - mean) / std, (high - mean) / std
        law = stats.truncnorm(a, b, loc=mean, scale=std)
        m, v, k = law.stats(moments="mvk")
        lo, hi = max(low, mean - 12 * std), min(high, mean + 12 * std)
        xs = [lo + (hi - lo) * t for t in (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)]
        out.append({"mean": mean, "std": std, "low": low, "high": high,
                    "law_mean": f(m), "law_var": f(v), "law_kurtosis": f(k) + 3.0,
                    "cdf": [[x, f(law.cdf(x))] for x in xs]})
    return out


def ks_statistic():
    rng = np.random.default_rng(2026)
    normal = [float(x) for x in rng.normal(0.1, 1.0, 64)]
    uniform = [float(x) for x in rng.uniform(-0.3, 0.4, 50)]
    tn = stats.truncnorm(-2.0, 2.0, loc=0.0, scale=0.5)
    trunc = [float(x) for x in tn.rvs(40, random_state=rng)]
    return [
        {"law": {"normal": {"mean": 0.0, "std": 1.0}}, "xs": normal,
         "d": f(stats.kstest(normal, "norm", args=(0.0, 1.0)).statistic)},
        {"law": {"normal": {"mean": 0.1, "std": 1.2}}, "xs": normal,
         "d": f(stats.kstest(normal, "norm", args=(0.1, 1.2)).statistic)},
        {"law": {"uniform": {"low": -0.3, "high": 0.4}}, "xs": uniform,
         "d": f(stats.kstest(uniform, "uniform", args=(-0.3, 0.7)).statistic)},
        {"law": {"truncated_normal": {"mean": 0.0, "std": 0.5, "low": -1.0, "high": 1.0}},
         "xs": trunc, "d": f(stats.kstest(trunc, tn.cdf).statistic)},
    ]


def ks_critical():
    return [{"n": n, "alpha": a, "d": f(stats.kstwo.isf(a, n))}
            for n in (1, 2, 5, 10, 20, 50, 100, 1000, 10_000, 100_000, 1_000_000)
            for a in (0.05, 0.001, 1e-6)]


def main():
    table = {
        "made_by": "tests/reference/scipy_stats.py",
        "versions": {"scipy": scipy.__version__, "numpy": np.__version__},
        "normal": normal(),
        "mass": mass(),
        "truncnorm": truncnorm(),
        "ks_statistic": ks_statistic(),
        "ks_critical": ks_critical(),
        "kolmogorov": [{"alpha": a, "c": f(stats.kstwobign.isf(a))} for a in (0.001, 1e-6)],
    }
    with open(OUT, "w") as fh:
        json.dump(table, fh, indent=1, allow_nan=False)
        fh.write("\n")
    print(f"wrote {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
