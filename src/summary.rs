//! The run summary printed by `--json` and `--dry-run`.
//!
//! Owns: the summary's JSON shape and its human-readable table. Does not own: deciding where it
//! is printed (the binary).

use crate::plan::{Plan, TensorSummary};
use crate::write::Format;
use crate::write::shard::Layout;
use serde::Serialize;
use std::collections::BTreeMap;

/// Everything a script needs to know about a run.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    pub weightgen: &'static str,
    pub stream: &'static str,
    pub seed: u64,
    pub convention: &'static str,
    pub format: &'static str,
    pub outputs: Vec<String>,
    pub dry_run: bool,
    pub total_bytes: u64,
    pub tensors: Vec<TensorSummary<'a>>,
    /// A sharded checkpoint's files (`--max-shard-size`): each shard's tensors and sizes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<&'a Layout>,
    /// A dry run's estimate of the memory the run would hold at its peak.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_memory: Option<PeakMemory>,
}

/// The peak-memory estimate (`memory_limit`): chunk buffers of every thread, plus the
/// whole-tensor steps (orthogonal QR, `rng` torch sparse_/trunc_normal_) that may run at once.
/// The page cache of the file being written is not counted (the kernel reclaims it).
#[derive(Debug, Serialize)]
pub struct PeakMemory {
    pub bytes: u64,
    pub threads: u64,
    /// Chunk buffers of every thread, a writer's batch and output buffer, headers.
    pub streaming_bytes: u64,
    /// Whole-tensor steps, largest first; the `threads` largest are counted.
    pub whole_tensor: Vec<WholeTensorNeed>,
}

/// One whole-tensor step of [`PeakMemory`].
#[derive(Debug, Serialize)]
pub struct WholeTensorNeed {
    pub what: String,
    pub bytes: u64,
}

impl<'a> Summary<'a> {
    /// Summary of `plan`; `hashes` maps tensor names to the SHA-256 of their data (absent for a
    /// dry run, which draws nothing).
    pub fn new(
        plan: &'a Plan,
        format: Format,
        outputs: Vec<String>,
        dry_run: bool,
        hashes: &'a BTreeMap<String, String>,
    ) -> Summary<'a> {
        Summary {
            weightgen: env!("CARGO_PKG_VERSION"),
            stream: plan.rng.stream_version(),
            seed: plan.seed,
            convention: plan.convention.name(),
            format: format.name(),
            outputs,
            dry_run,
            total_bytes: plan.data_bytes(),
            tensors: plan
                .tensors
                .iter()
                .map(|t| t.summary(hashes.get(&t.name).map(String::as_str)))
                .collect(),
            checkpoint: None,
            peak_memory: None,
        }
    }

    /// The summary with a dry run's peak-memory estimate.
    pub(crate) fn with_peak_memory(mut self, e: &crate::memory_limit::Estimate) -> Summary<'a> {
        self.peak_memory = Some(PeakMemory {
            bytes: e.peak(),
            threads: e.threads,
            streaming_bytes: e.streaming,
            whole_tensor: (e.whole.iter())
                .map(|n| WholeTensorNeed {
                    what: n.what.clone(),
                    bytes: n.bytes,
                })
                .collect(),
        });
        self
    }

    /// The summary of a sharded checkpoint laid out as `layout`.
    pub fn with_checkpoint(mut self, layout: &'a Layout) -> Summary<'a> {
        self.checkpoint = Some(layout);
        self
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("summary serialises")
    }

    /// A readable table for `--dry-run` without `--json`.
    pub fn to_table(&self) -> String {
        let mut rows = vec![[
            "name".to_string(),
            "shape".into(),
            "dtype".into(),
            "scheme".into(),
            "distribution".into(),
            "bytes".into(),
        ]];
        for t in &self.tensors {
            let shape = crate::table::shape(t.shape);
            let d = match *t.distribution {
                crate::scheme::Distribution::Constant { value } => format!("constant {value}"),
                crate::scheme::Distribution::Uniform { low, high } => {
                    format!("U[{low:.6}, {high:.6}]")
                }
                crate::scheme::Distribution::Normal { mean, std } => {
                    format!("N({mean}, {std:.6}²)")
                }
                crate::scheme::Distribution::TruncatedNormal {
                    mean,
                    std,
                    low,
                    high,
                } => {
                    format!("N({mean}, {std:.6}²) in [{low:.6}, {high:.6}]")
                }
                crate::scheme::Distribution::Orthogonal { gain, rows, cols } => {
                    format!("orthogonal {rows}×{cols} · {gain}")
                }
                crate::scheme::Distribution::Eye { gain } => format!("eye · {gain}"),
                crate::scheme::Distribution::Dirac { groups, .. } => {
                    format!("dirac, groups {groups}")
                }
                crate::scheme::Distribution::Sparse {
                    std,
                    zeros_per_column,
                } => {
                    format!("N(0, {std:.6}²), {zeros_per_column} zeros per column")
                }
            };
            rows.push([
                t.name.to_string(),
                shape,
                t.dtype.to_string(),
                t.scheme.to_string(),
                d,
                t.bytes.to_string(),
            ]);
        }
        let mut out = format!(
            "seed {}  stream {}  convention {}  format {}  total {} bytes\n",
            self.seed, self.stream, self.convention, self.format, self.total_bytes
        );
        out.push_str(&crate::table::aligned(&rows));
        if let Some(p) = &self.peak_memory {
            use crate::memory_limit::human;
            let mut parts = vec![format!(
                "chunk buffers on {} thread{} {}",
                p.threads,
                if p.threads == 1 { "" } else { "s" },
                human(p.streaming_bytes)
            )];
            parts.extend(
                (p.whole_tensor.iter().take(p.threads as usize))
                    .map(|n| format!("{} {}", n.what, human(n.bytes))),
            );
            let more = p.whole_tensor.len().saturating_sub(p.threads as usize);
            if more > 0 {
                parts.push(format!("{more} more whole-tensor step(s) after those"));
            }
            out.push_str(&format!(
                "peak memory (estimate) {}: {}\n",
                human(p.bytes),
                parts.join(" + ")
            ));
        }
        if let Some(l) = self.checkpoint {
            out.push_str(&format!(
                "\n{} shard{} of at most {} bytes{}\n",
                l.shards.len(),
                if l.shards.len() == 1 { "" } else { "s" },
                l.max_shard_size,
                match &l.index {
                    Some(i) => format!(", index {i}"),
                    None => ", no index".into(),
                }
            ));
            let mut rows = vec![[
                "shard".to_string(),
                "file".into(),
                "tensors".into(),
                "bytes".into(),
                "file bytes".into(),
            ]];
            for (k, s) in l.shards.iter().enumerate() {
                rows.push([
                    (k + 1).to_string(),
                    s.file.clone(),
                    s.tensors.len().to_string(),
                    s.bytes.to_string(),
                    s.file_bytes.to_string(),
                ]);
            }
            out.push_str(&crate::table::aligned(&rows));
        }
        out
    }
}
