//! The `--rng torch` chunk sources (cargo feature `torch`): one ATen op filled chunk by chunk
//! from jumped-ahead generator states, whole-tensor inits drawn in memory, and the schedule that
//! places every tensor's draws in PyTorch's one sequence.

use super::{CHUNK_ELEMS, TensorStream};
use crate::stream::torch::{
    ChunkedFill, JUMP_MIN, TorchGenerator, TorchOp, TorchPlan, TorchStep, words_before,
    words_consumed,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Chunks of one ATen op (`uniform_`, `normal_`, a constant) on PyTorch's generator.
#[derive(Debug)]
pub(crate) struct TorchOpSource {
    /// The tensor's native stream: its dtype and zeroed range (a padding row).
    pub(super) stream: TensorStream,
    start: TorchStart,
    plan: TorchPlan,
    /// The fill that continues at chunk `c`, left by whoever filled chunk `c − 1`.
    anchors: Mutex<HashMap<u64, ChunkedFill>>,
}

/// A whole-tensor init on PyTorch's generator.
#[derive(Debug)]
pub(crate) struct TorchWholeSource {
    pub(super) stream: TensorStream,
    start: TorchStart,
    plan: TorchPlan,
    values: Mutex<Option<Arc<Vec<f64>>>>,
}

/// Consecutive chunks one task of a `--rng torch` op should fill: a jump (a few ms) then costs
/// little beside the chunks' generation.
pub(super) const TORCH_RUN: u64 = 32;

/// The source of `stream`'s tensor drawn from PyTorch's generator at `start`.
pub(super) fn source(stream: TensorStream, start: TorchStart) -> super::ChunkSource {
    let plan = start.plan();
    if plan.is_whole_tensor() {
        super::ChunkSource::TorchWhole(TorchWholeSource {
            stream,
            start,
            plan,
            values: Mutex::new(None),
        })
    } else {
        super::ChunkSource::TorchOp(TorchOpSource {
            stream,
            start,
            plan,
            anchors: Mutex::new(HashMap::new()),
        })
    }
}

impl TorchOpSource {
    /// Drop the kept fills (the tensor has been written).
    pub(super) fn release(&self) {
        self.anchors.lock().expect("anchors").clear();
    }

    /// Chunk `c`'s values (before the zeroed range), `out.len() == chunk_len(c)`.
    pub(super) fn fill_chunk(&self, c: u64, out: &mut [f64]) {
        let TorchPlan::Op(op, dtype) = self.plan else {
            unreachable!("an op source holds an op")
        };
        let numel = self.stream.numel();
        let anchor = self.anchors.lock().expect("anchors").remove(&c);
        let mut fill = anchor.unwrap_or_else(|| {
            let first = c * CHUNK_ELEMS;
            let mut g = self.start.state();
            g.advance(words_before(op, dtype, numel, first));
            ChunkedFill::starting_at(g, op, dtype, numel, first)
        });
        let n = fill.next_chunk(out);
        debug_assert_eq!(n, out.len());
        if c + 1 < self.stream.num_chunks() {
            self.anchors.lock().expect("anchors").insert(c + 1, fill);
        }
    }
}

impl TorchWholeSource {
    /// Drop the values drawn (the tensor has been written).
    pub(super) fn release(&self) {
        *self.values.lock().expect("values") = None;
    }

    pub(super) fn values(&self) -> Arc<Vec<f64>> {
        let mut guard = self.values.lock().expect("values");
        guard
            .get_or_insert_with(|| {
                let mut g = self.start.state();
                Arc::new(self.plan.whole_tensor(&mut g, self.stream.numel()))
            })
            .clone()
    }
}

/// Where one tensor's draws start in PyTorch's generator sequence, and how it draws.
#[derive(Debug, Clone)]
pub(crate) struct TorchStart {
    group: Arc<Group>,
    /// Index among the group's members.
    member: usize,
}

impl TorchStart {
    /// The generator state when the tensor's init starts.
    pub(crate) fn state(&self) -> TorchGenerator {
        self.group.states()[self.member].clone()
    }

    /// How the tensor draws.
    pub(crate) fn plan(&self) -> TorchPlan {
        self.group.members[self.member].1
    }
}

/// Tensors whose starts lie close together in the sequence: the group's first start is one
/// jump from a known state, the others follow by running the generator through short gaps.
/// Materialised on first use, so writing some tensors (`--shard K`) costs jumps to their
/// groups only.
#[derive(Debug)]
struct Group {
    /// A known state: the seeded generator, or the state after an op that had to run.
    from: Arc<TorchGenerator>,
    /// Engine outputs from `from` to the first member's start.
    jump: u64,
    /// Each member's start (outputs after the first member's) and plan.
    members: Vec<(u64, TorchPlan)>,
    states: OnceLock<Vec<TorchGenerator>>,
}

impl Group {
    fn states(&self) -> &[TorchGenerator] {
        self.states.get_or_init(|| {
            let mut g = (*self.from).clone();
            g.advance(self.jump);
            let mut at = 0;
            self.members
                .iter()
                .map(|&(offset, _)| {
                    g.advance(offset - at);
                    at = offset;
                    g.clone()
                })
                .collect()
        })
    }
}

/// The start of every tensor of a plan in PyTorch's generator sequence under `--rng torch`,
/// from the plan's schedule (`TorchStep`s: tensors in init order, draws made and thrown away).
///
/// Built without generating: each step's draw count is known ([`words_consumed`]), so starts
/// are positions, reached by jumps when needed. Only what cannot be counted runs the generator
/// while building: normal_ on fewer than 16 elements (it leaves a cached normal) and
/// whole-tensor inits (trunc_normal_ redraws until its values fit; sparse_).
pub(crate) struct TorchSchedule;

impl TorchSchedule {
    /// Starts for tensors `0..tensors.len()`: `tensors[i]` is (element count, plan) of tensor
    /// `i`; `None` for tensors that draw nothing (or that the schedule does not name).
    pub(crate) fn starts(
        seed: u64,
        steps: &[TorchStep],
        tensors: &[(u64, TorchPlan)],
    ) -> Vec<Option<TorchStart>> {
        let mut b = Builder {
            from: Arc::new(TorchGenerator::from_u64_seed(seed)),
            pos: 0,
            jump: 0,
            last: 0,
            members: Vec::new(),
            pending: Vec::new(),
            starts: vec![None; tensors.len()],
        };
        for &step in steps {
            match step {
                TorchStep::Discard { op, dtype, numel } => {
                    if is_path_a(TorchPlan::Op(op, dtype), numel) {
                        let mut g = b.state_here();
                        g.skip(op, dtype, numel);
                        b.restart(g);
                    } else {
                        b.pos += words_consumed(op, dtype, numel);
                    }
                }
                TorchStep::Tensor(i) => {
                    let (numel, plan) = tensors[i];
                    match plan {
                        TorchPlan::NoDraw => {}
                        TorchPlan::Op(op, dtype) if !is_path_a(plan, numel) => {
                            b.add(i, plan);
                            b.pos += words_consumed(op, dtype, numel);
                        }
                        _ => {
                            // Path A or a whole-tensor init: run it from its start.
                            b.add(i, plan);
                            let mut g = b.state_here();
                            match plan {
                                TorchPlan::Op(op, dtype) => g.skip(op, dtype, numel),
                                _ => drop(plan.whole_tensor(&mut g, numel)),
                            }
                            b.restart(g);
                        }
                    }
                }
            }
        }
        b.close();
        b.starts
    }
}

/// normal_ on fewer than 16 elements: per-element draws that leave a cached normal behind.
fn is_path_a(plan: TorchPlan, numel: u64) -> bool {
    numel < 16 && matches!(plan, TorchPlan::Op(TorchOp::Normal { .. }, _))
}

/// The schedule walk: positions relative to the known state `from`.
struct Builder {
    from: Arc<TorchGenerator>,
    /// Outputs from `from` to the current position.
    pos: u64,
    /// The open group's first start (outputs from `from`), and its last member's.
    jump: u64,
    last: u64,
    members: Vec<(u64, TorchPlan)>,
    /// Tensor index of each open member.
    pending: Vec<usize>,
    starts: Vec<Option<TorchStart>>,
}

impl Builder {
    /// Add tensor `i` starting at the current position; after a long gap it opens a new group.
    fn add(&mut self, i: usize, plan: TorchPlan) {
        if !self.members.is_empty() && self.pos - self.last >= JUMP_MIN {
            self.close();
        }
        if self.members.is_empty() {
            self.jump = self.pos;
        }
        self.last = self.pos;
        self.members.push((self.pos - self.jump, plan));
        self.pending.push(i);
    }

    /// Close the open group: its members get their starts.
    fn close(&mut self) {
        if self.members.is_empty() {
            return;
        }
        let group = Arc::new(Group {
            from: self.from.clone(),
            jump: self.jump,
            members: std::mem::take(&mut self.members),
            states: OnceLock::new(),
        });
        for (member, i) in std::mem::take(&mut self.pending).into_iter().enumerate() {
            self.starts[i] = Some(TorchStart {
                group: group.clone(),
                member,
            });
        }
    }

    /// The generator at the current position (closes the open group).
    fn state_here(&mut self) -> TorchGenerator {
        self.close();
        let mut g = (*self.from).clone();
        g.advance(self.pos);
        g
    }

    /// Continue from `g`, a state that had to be computed.
    fn restart(&mut self, g: TorchGenerator) {
        self.from = Arc::new(g);
        self.pos = 0;
    }
}
