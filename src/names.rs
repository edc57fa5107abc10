//! Forgiving name matching for the names users type (schemes, nonlinearities, dtypes, layer
//! types, spec keys): one normal form, and "did you mean" suggestions for a name that is not
//! known.
//!
//! Owns: the normal form (case-insensitive, `-` for `_`, and [`loose`]: underscores optional,
//! so Keras' and PyTorch's class names `GlorotUniform`, `LeakyReLU` match `glorot_uniform`,
//! `leaky_relu`) and the suggestion rule. Does not own: which names exist (each parser keeps
//! its own table).

/// Lower case, trimmed, `-` read as `_`.
pub(crate) fn normal(s: &str) -> String {
    s.trim().to_ascii_lowercase().replace('-', "_")
}

/// [`normal`] without underscores: the form two spellings of one name share.
pub(crate) fn loose(s: &str) -> String {
    normal(s).replace('_', "")
}

/// The candidates a user who typed `input` may have meant, best first: those within a small
/// edit distance (Damerau–Levenshtein on the [`normal`] forms: at most 1 for names of up to 4
/// characters, 2 up to 8, 3 beyond), those that extend it (by a `_` word: `he` → `he_uniform`,
/// `he_normal`; or, from three characters on, by anything: `conv` → `conv1d`), and those it
/// extends with a leading word (`random_normal` → `normal`). At most four.
pub(crate) fn suggestions<'a>(input: &str, candidates: &[&'a str]) -> Vec<&'a str> {
    let typed = normal(input);
    if typed.is_empty() {
        return Vec::new();
    }
    let limit = match typed.chars().count() {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    let mut scored: Vec<(usize, usize, &'a str)> = Vec::new();
    for (i, &c) in candidates.iter().enumerate() {
        let cand = normal(c);
        let d = distance(&typed, &cand).min(distance(&loose(&typed), &loose(&cand)));
        let related = cand.starts_with(&format!("{typed}_"))
            || (typed.len() >= 3 && cand.starts_with(&typed))
            || (cand.len() >= 3 && typed.ends_with(&format!("_{cand}")));
        if d <= limit || related {
            scored.push((if d <= limit { d } else { limit + 1 }, i, c));
        }
    }
    scored.sort();
    let mut out: Vec<&'a str> = Vec::new();
    for (_, _, c) in scored {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out.truncate(4);
    out
}

/// The value `s` names in `table` (name → value): its [`normal`] form equal to a name's, else
/// its [`loose`] form (tables are checked to have no two names with one loose form).
pub(crate) fn find<T: Copy>(s: &str, table: &[(&str, T)]) -> Option<T> {
    let k = normal(s);
    let l = loose(s);
    table
        .iter()
        .find(|(n, _)| *n == k)
        .or_else(|| table.iter().find(|(n, _)| loose(n) == l))
        .map(|&(_, v)| v)
}

/// `; did you mean `a` or `b`?`, or nothing when there is no suggestion.
pub(crate) fn did_you_mean(input: &str, candidates: &[&str]) -> String {
    let s = suggestions(input, candidates);
    match s.as_slice() {
        [] => String::new(),
        [one] => format!("; did you mean `{one}`?"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|c| format!("`{c}`")).collect();
            format!("; did you mean {} or `{last}`?", init.join(", "))
        }
    }
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and transpositions
/// of adjacent characters each cost 1.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits_and_adjacent_swaps() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("abc", ""), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("shpae", "shape"), 1);
        assert_eq!(distance("f23", "f32"), 1);
        assert_eq!(distance("ca", "abc"), 3); // OSA, not unrestricted Damerau (2)
    }

    #[test]
    fn suggestions_rank_close_names_and_family_names() {
        let schemes = [
            "normal",
            "truncated_normal",
            "xavier_uniform",
            "xavier_normal",
            "glorot_uniform",
            "glorot_normal",
            "kaiming_uniform",
        ];
        assert_eq!(suggestions("xavier_unifrom", &schemes), ["xavier_uniform"]);
        assert_eq!(
            suggestions("glorot", &schemes),
            ["glorot_uniform", "glorot_normal"]
        );
        assert_eq!(suggestions("random_normal", &schemes), ["normal"]);
        assert_eq!(
            suggestions("Kaiming-Uniformm", &schemes),
            ["kaiming_uniform"]
        );
        assert!(suggestions("zzz", &schemes).is_empty());
        assert!(suggestions("", &schemes).is_empty());
        // Short names get a tight limit: `fp8` is two edits from `fp16`, `f16` and `f32`.
        assert!(suggestions("fp8", &["fp16", "f16", "f32"]).is_empty());
        assert_eq!(suggestions("f23", &["fp16", "f16", "f32"]), ["f32"]);
    }

    #[test]
    fn did_you_mean_reads_as_one_clause() {
        assert_eq!(
            did_you_mean("sead", &["seed", "shape"]),
            "; did you mean `seed`?"
        );
        assert_eq!(
            did_you_mean("glorot", &["glorot_uniform", "glorot_normal"]),
            "; did you mean `glorot_uniform` or `glorot_normal`?"
        );
        assert_eq!(
            did_you_mean("he", &["he_uniform", "he_normal", "he_xy"]),
            "; did you mean `he_uniform`, `he_normal` or `he_xy`?"
        );
        assert_eq!(did_you_mean("qqq", &["seed"]), "");
    }
}

/// The kinds of name a front end offers for completion and lists in help: the values each
/// parser accepts (canonical names first, then aliases where there are any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Scheme,
    DType,
    Nonlinearity,
    Mode,
    Distribution,
    Format,
    Convention,
    Rng,
}

impl Choice {
    /// Every kind.
    pub const ALL: [Choice; 8] = [
        Choice::Scheme,
        Choice::DType,
        Choice::Nonlinearity,
        Choice::Mode,
        Choice::Distribution,
        Choice::Format,
        Choice::Convention,
        Choice::Rng,
    ];

    /// The names of this kind, canonical names first, then aliases.
    pub fn names(self) -> Vec<&'static str> {
        use crate::scheme::{Mode, Nonlinearity, Scheme, VsDistribution};
        match self {
            Choice::Scheme => (Scheme::ALL.iter().map(|s| s.name()))
                .chain(Scheme::ALL.iter().flat_map(|s| s.aliases().iter().copied()))
                .collect(),
            Choice::DType => crate::dtype::DType::NAMES.iter().map(|(n, _)| *n).collect(),
            Choice::Nonlinearity => Nonlinearity::ALL.iter().map(|n| n.name()).collect(),
            Choice::Mode => Mode::ALL.iter().map(|m| m.name()).collect(),
            Choice::Distribution => VsDistribution::ALL.iter().map(|d| d.name()).collect(),
            Choice::Format => crate::format::Format::ALL
                .iter()
                .map(|f| f.name())
                .collect(),
            Choice::Convention => crate::fans::Convention::ALL
                .iter()
                .map(|c| c.name())
                .collect(),
            Choice::Rng => crate::stream::RngKind::ALL
                .iter()
                .map(|r| r.name())
                .collect(),
        }
    }
}
