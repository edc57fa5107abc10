//! The study's readable table: one block per scheme, one row per hidden layer, each measurement
//! followed by the theory in brackets.
//!
//! Owns: text layout only. Does not own: any number (see [`super::Report`]).

use super::Report;
use std::fmt::Write;

fn pct(x: Option<f64>) -> String {
    match x {
        Some(f) => format!("{:.1}%", 100.0 * f),
        None => "-".into(),
    }
}

/// The report as text.
pub fn to_table(r: &Report) -> String {
    let mut out = String::new();
    let hidden = &r.dims[1..r.dims.len() - 1];
    let widths = if hidden.iter().all(|&w| w == hidden[0]) {
        format!("{} × {}", hidden.len(), hidden[0])
    } else {
        hidden
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join("-")
    };
    let act = match r.negative_slope {
        Some(a) => format!("{} (slope {a})", r.activation),
        None => r.activation.to_string(),
    };
    let _ = writeln!(
        out,
        "study: {} inputs → {widths} {act} → softmax over {} classes; batch {} of {}, seed {}",
        r.dims[0],
        r.dims[r.dims.len() - 1],
        r.batch,
        r.input,
        r.seed
    );
    let _ = writeln!(
        out,
        "[brackets]: theory with the activation's own gain (Gaussian s; linear regime: Glorot & Bengio, ReLU: He et al.); saturated: {}; Jacobian σ̄: mean singular value of ∂z^k/∂z^(k-1) over {} example{}",
        r.saturation_rule.unwrap_or("-"),
        r.jacobian_samples,
        if r.jacobian_samples == 1 { "" } else { "s" }
    );
    for s in &r.schemes {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{}: mean Jacobian σ̄ {}, loss {:.3}, output ∂c/∂s std {:.3e}",
            s.label,
            s.jacobian_mean_sv
                .map_or("-".to_string(), |j| format!("{j:.3}")),
            s.loss,
            s.output.grad_std
        );
        let _ = writeln!(
            out,
            "{:>5} {:>13} {:>9} {:>18} {:>8} {:>8} {:>6} {:>22} {:>22} {:>14}",
            "layer",
            "nVar[W] in/out",
            "act mean",
            "act std",
            "p2",
            "p98",
            "sat",
            "∂c/∂s std",
            "Var[∂C/∂W]",
            "Jacobian σ̄"
        );
        for l in &s.layers {
            let _ = writeln!(
                out,
                "{:>5} {:>13} {:>9.4} {:>18} {:>8.4} {:>8.4} {:>6} {:>22} {:>22} {:>14}",
                l.layer,
                format!("{:.3}/{:.3}", l.weights.n_in_var, l.weights.n_out_var),
                l.act_mean,
                format!("{:.4} [{:.4}]", l.act_std, l.theory.act_std),
                l.act_percentiles.p2,
                l.act_percentiles.p98,
                pct(l.saturated),
                format!("{:.3e} [{:.3e}]", l.grad_std, l.theory.grad_std),
                format!(
                    "{:.3e} [{:.3e}]",
                    l.weight_grad_var, l.theory.weight_grad_var
                ),
                match l.jacobian_mean_sv {
                    Some(j) => format!("{j:.3} [{:.3}]", l.theory.jacobian_mean_sv),
                    None => format!("- [{:.3}]", l.theory.jacobian_mean_sv),
                },
            );
        }
        let o = &s.output;
        let _ = writeln!(
            out,
            "{:>5} {:>13} {:>9} {:>18} {:>8} {:>8} {:>6} {:>22} {:>22} {:>14}",
            "out",
            format!("{:.3}/{:.3}", o.weights.n_in_var, o.weights.n_out_var),
            "",
            "",
            "",
            "",
            "",
            format!("{:.3e}", o.grad_std),
            format!(
                "{:.3e} [{:.3e}]",
                o.weight_grad_var, o.theory_weight_grad_var
            ),
            ""
        );
    }
    // The output row leaves its last columns empty: no trailing blanks.
    out.lines()
        .map(|l| l.trim_end().to_string() + "\n")
        .collect()
}
