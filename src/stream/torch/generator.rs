//! PyTorch's CPU generator and the ATen kernels that draw from it (cargo feature `torch`):
//! MT19937, its jump ahead, the `uniform_`/`normal_` kernels, `trunc_normal_`, `sparse_`, the
//! MKL log table, and [`ChunkedFill`]. The plan-side types (ops, dtypes, draw counts) are in
//! the parent module, which the planner uses with or without this feature.

mod jump;

use super::*;

use std::f64::consts::PI;

const MT_N: usize = 624;
const MT_M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// MT19937's output tempering.
#[inline(always)]
fn temper(mut y: u32) -> u32 {
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c_5680;
    y ^= (y << 15) & 0xefc6_0000;
    y ^ (y >> 18)
}

/// PyTorch's `at::mt19937` (standard MT19937, 32-bit seeding).
#[derive(Clone)]
struct Mt19937 {
    state: [u32; MT_N],
    next: usize,
    left: usize,
}

impl Mt19937 {
    fn new(seed: u32) -> Self {
        let mut state = [0u32; MT_N];
        state[0] = seed;
        for j in 1..MT_N {
            let p = state[j - 1];
            state[j] = 1_812_433_253u32
                .wrapping_mul(p ^ (p >> 30))
                .wrapping_add(j as u32);
        }
        Mt19937 {
            state,
            next: 0,
            left: 1,
        }
    }

    #[inline]
    fn twist(u: u32, v: u32) -> u32 {
        (((u & UPPER_MASK) | (v & LOWER_MASK)) >> 1) ^ if v & 1 != 0 { MATRIX_A } else { 0 }
    }

    fn next_state(&mut self) {
        let s = &mut self.state;
        for j in 0..MT_N - MT_M {
            s[j] = s[j + MT_M] ^ Self::twist(s[j], s[j + 1]);
        }
        for j in MT_N - MT_M..MT_N - 1 {
            s[j] = s[j + MT_M - MT_N] ^ Self::twist(s[j], s[j + 1]);
        }
        s[MT_N - 1] = s[MT_M - 1] ^ Self::twist(s[MT_N - 1], s[0]);
        self.left = MT_N;
        self.next = 0;
    }

    #[inline]
    fn next_u32(&mut self) -> u32 {
        self.left -= 1;
        if self.left == 0 {
            self.next_state();
        }
        let y = self.state[self.next];
        self.next += 1;
        temper(y)
    }

    /// The next `out.len()` outputs, as that many [`next_u32`](Self::next_u32) calls (in bulk:
    /// whole runs of the state block at a time).
    fn fill(&mut self, out: &mut [u32]) {
        let mut i = 0;
        while i < out.len() {
            if self.left == 1 {
                self.next_state();
                // 624 outputs left in the block (`next_u32` keeps left = 625 − next).
                self.left = MT_N + 1;
            }
            let k = (self.left - 1).min(out.len() - i);
            for (o, &y) in out[i..i + k]
                .iter_mut()
                .zip(&self.state[self.next..self.next + k])
            {
                *o = temper(y);
            }
            self.next += k;
            self.left -= k;
            i += k;
        }
    }

    /// Advance by `n` outputs without tempering them.
    fn discard(&mut self, mut n: u64) {
        while n > 0 {
            if self.left == 1 {
                // The next output needs a new state block: whole blocks can be skipped by
                // twisting without reading.
                if n >= MT_N as u64 {
                    self.next_state();
                    self.left = 1;
                    self.next = MT_N;
                    n -= MT_N as u64;
                    continue;
                }
            }
            // Outputs left in the current block before the next twist.
            let avail = (self.left - 1) as u64;
            if avail == 0 {
                self.next_u32();
                n -= 1;
                continue;
            }
            let k = avail.min(n);
            self.left -= k as usize;
            self.next += k as usize;
            n -= k;
        }
    }
}

/// PyTorch's `CPUGeneratorImpl`: mt19937 + the cached double normal
/// (`next_double_normal_sample`) + the cached float normal (`next_float_normal_sample`, which
/// no op here reads, kept for fidelity: both are cleared by seeding).
#[derive(Clone)]
pub struct TorchGenerator {
    engine: Mt19937,
    seed: u64,
    next_double_normal: Option<f64>,
    next_float_normal: Option<f32>,
}

impl std::fmt::Debug for TorchGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TorchGenerator")
            .field("seed", &self.seed)
            .field("next", &self.engine.next)
            .field("left", &self.engine.left)
            .field("next_double_normal", &self.next_double_normal)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TorchGenerator {
    /// Same future output: same engine state and cached normals.
    fn eq(&self, o: &Self) -> bool {
        self.engine.state == o.engine.state
            && self.engine.next == o.engine.next
            && self.engine.left == o.engine.left
            && self.next_double_normal.map(f64::to_bits) == o.next_double_normal.map(f64::to_bits)
            && self.next_float_normal.map(f32::to_bits) == o.next_float_normal.map(f32::to_bits)
    }
}

impl TorchGenerator {
    /// As `torch.manual_seed(seed)`: negative seeds are taken as their 64-bit two's complement
    /// (see [`torch_seed_to_u64`]); only the low 32 bits seed mt19937.
    ///
    /// # Panics
    /// If `seed` is outside `[−2⁶³, 2⁶⁴)`, where PyTorch raises `RuntimeError`; validate with
    /// [`torch_seed_to_u64`] first.
    pub fn manual_seed(seed: i128) -> Self {
        let s = torch_seed_to_u64(seed)
            .unwrap_or_else(|| panic!("torch seed {seed} outside [-2^63, 2^64)"));
        Self::from_u64_seed(s)
    }

    /// `CPUGeneratorImpl::set_current_seed(seed)`.
    pub fn from_u64_seed(seed: u64) -> Self {
        TorchGenerator {
            engine: Mt19937::new(seed as u32),
            seed,
            next_double_normal: None,
            next_float_normal: None,
        }
    }

    /// The 64-bit seed, as `torch.initial_seed()` reports it.
    pub fn initial_seed(&self) -> u64 {
        self.seed
    }

    /// One engine output (`CPUGeneratorImpl::random`).
    #[inline]
    pub fn random(&mut self) -> u32 {
        self.engine.next_u32()
    }

    /// Two engine outputs, the first one the high word (`CPUGeneratorImpl::random64`).
    #[inline]
    pub fn random64(&mut self) -> u64 {
        let hi = self.engine.next_u32() as u64;
        let lo = self.engine.next_u32() as u64;
        (hi << 32) | lo
    }

    /// The cached second value of the last double Box–Muller pair, if any.
    pub fn next_double_normal_sample(&self) -> Option<f64> {
        self.next_double_normal
    }

    #[inline]
    fn uniform01_f32(&mut self) -> f32 {
        ((self.random() & 0x00ff_ffff) as f32) * (1.0 / 16_777_216.0)
    }

    #[inline]
    fn uniform01_f64(&mut self) -> f64 {
        ((self.random64() & ((1u64 << 53) - 1)) as f64) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `at::normal_distribution<double>` with mean 0 and std 1: the cached value or a new pair.
    fn standard_normal_path_a(&mut self) -> f64 {
        if let Some(z) = self.next_double_normal.take() {
            return z;
        }
        let u1 = self.uniform01_f64();
        let u2 = self.uniform01_f64();
        let r = (-2.0 * clib::log1p(-u2)).sqrt();
        let theta = 2.0 * PI * u1;
        self.next_double_normal = Some(r * clib::sin(theta));
        r * clib::cos(theta)
    }

    /// Values of the whole op, in order, widened to f64 (f32, bf16 and f16 values are exact in
    /// f64; for BF16/F16 every value is a bf16/f16 number). Consumes the generator exactly as
    /// the op does. `out.len()` is the element count.
    pub fn fill(&mut self, op: TorchOp, dtype: TorchDType, out: &mut [f64]) {
        let kernel = Kernel::new(op, dtype, out.len() as u64);
        self.fill_kernel(kernel, out);
    }

    fn fill_kernel(&mut self, kernel: Kernel, out: &mut [f64]) {
        let n = out.len();
        match kernel {
            Kernel::Fill(v) => out.fill(v),
            Kernel::Elementwise(e) => {
                for o in out.iter_mut() {
                    *o = e.next(self);
                }
            }
            Kernel::NormalA {
                mean, std, dtype, ..
            } => {
                for o in out.iter_mut() {
                    *o = normal_a_value(self, mean, std, dtype);
                }
            }
            Kernel::NormalB32 { mean, std, .. } => {
                // As normal_fill_AVX2: uniforms into the tensor, blocks in place, tail refill.
                let mut data: Vec<f32> = (0..n).map(|_| self.uniform01_f32()).collect();
                let mut i = 0;
                while i + 16 <= n {
                    normal16_f32(&mut data[i..i + 16], mean, std);
                    i += 16;
                }
                if !n.is_multiple_of(16) {
                    for d in &mut data[n - 16..] {
                        *d = self.uniform01_f32();
                    }
                    normal16_f32(&mut data[n - 16..], mean, std);
                }
                for (o, d) in out.iter_mut().zip(&data) {
                    *o = *d as f64;
                }
            }
            Kernel::NormalBReduced { mean, std, dtype } => {
                // As normal_fill for bf16/f16: one block of 16 float uniforms at a time in a
                // stack buffer, then (n % 16 ≠ 0) one more block for the last 16 slots.
                let mut i = 0;
                while i + 16 <= n {
                    self.normal_block_reduced(mean, std, dtype, &mut out[i..i + 16]);
                    i += 16;
                }
                if !n.is_multiple_of(16) {
                    self.normal_block_reduced(mean, std, dtype, &mut out[n - 16..]);
                }
            }
            Kernel::NormalB64 { mean, std, .. } => {
                for o in out.iter_mut() {
                    *o = self.uniform01_f64();
                }
                let mut i = 0;
                while i + 16 <= n {
                    normal16_f64(&mut out[i..i + 16], mean, std);
                    i += 16;
                }
                if !n.is_multiple_of(16) {
                    for d in &mut out[n - 16..] {
                        *d = self.uniform01_f64();
                    }
                    normal16_f64(&mut out[n - 16..], mean, std);
                }
            }
        }
    }

    /// One block of `normal_fill` for bf16/f16: 16 float uniforms, `NormalFill16<float>`,
    /// each value rounded to `dtype` into `out` (16 slots).
    fn normal_block_reduced(&mut self, mean: f32, std: f32, dtype: TorchDType, out: &mut [f64]) {
        let mut buf = [0f32; 16];
        for b in &mut buf {
            *b = self.uniform01_f32();
        }
        normal16_f32(&mut buf, mean, std);
        for (o, b) in out.iter_mut().zip(buf) {
            *o = dtype.narrow(b);
        }
    }

    /// Advance the generator exactly as [`fill`](Self::fill) of `numel` elements would, without
    /// keeping values: a jump ([`Self::advance`]) by [`words_consumed`]. Only path A (fewer
    /// than 16 normal values) computes anything, because it leaves a cached normal behind.
    pub fn skip(&mut self, op: TorchOp, dtype: TorchDType, numel: u64) {
        match Kernel::new(op, dtype, numel) {
            Kernel::NormalA {
                mean, std, dtype, ..
            } => {
                for _ in 0..numel {
                    normal_a_value(self, mean, std, dtype);
                }
            }
            _ => self.advance(words_consumed(op, dtype, numel)),
        }
    }

    /// Advance by `n` engine outputs, as `n` calls of [`random`](Self::random) would (the
    /// cached normals are untouched, as they are by every op but path A). Short distances are
    /// run through (twisting without tempering); from [`JUMP_MIN`] on, a jump ahead with the
    /// characteristic polynomial (a few milliseconds whatever `n`).
    pub fn advance(&mut self, n: u64) {
        if n >= JUMP_MIN {
            self.engine.jump(n);
        } else {
            self.engine.discard(n);
        }
    }

    /// Advance by `n` engine outputs with the jump ahead, whatever `n` (for tests and
    /// measurements; [`advance`](Self::advance) picks the cheaper way).
    pub fn jump(&mut self, n: u64) {
        self.engine.jump(n);
    }

    /// `torch.randperm(n)` on CPU (int64, `n < 2³²/20`): Fisher–Yates with
    /// `random() % (n − i)`, as `randperm_cpu` in `TensorFactories.cpp`. Consumes `n − 1` draws.
    ///
    /// # Panics
    /// If `n ≥ 2³²/20`, where PyTorch switches to a different (`random64`) algorithm that this
    /// module does not implement.
    pub fn randperm(&mut self, n: u64) -> Vec<u64> {
        assert!(
            n < (u32::MAX / 20) as u64,
            "randperm for n >= 2^32/20 uses another algorithm"
        );
        let mut r: Vec<u64> = (0..n).collect();
        for i in 0..n.saturating_sub(1) {
            let z = self.random() as u64 % (n - i);
            r.swap(i as usize, (i + z) as usize);
        }
        r
    }
}

impl TorchPlan {
    /// The values of a whole-tensor plan, drawn from `g` (left after the init).
    ///
    /// # Panics
    /// For `Op` and `NoDraw`, which are not whole-tensor plans.
    pub fn whole_tensor(&self, g: &mut TorchGenerator, numel: u64) -> Vec<f64> {
        match *self {
            TorchPlan::Sparse {
                rows,
                cols,
                zeros,
                std,
                dtype,
            } => sparse_with_zeros(g, rows, cols, zeros, std, dtype),
            TorchPlan::TruncRedraw {
                mean,
                std,
                a,
                b,
                dtype,
            } => trunc_normal_redraw(g, numel, mean, std, a, b, dtype),
            TorchPlan::TruncReject {
                mean,
                std,
                a,
                b,
                dtype,
            } => trunc_normal_reject(g, numel, mean, std, a, b, dtype),
            TorchPlan::Op(..) | TorchPlan::NoDraw => unreachable!("not a whole-tensor plan"),
        }
    }
}

/// [`uniform_f32`] on a block of engine outputs, widened to f64.
fn uniform32_block(words: &[u32], from: f32, to: f32, out: &mut [f64]) {
    #[inline(always)]
    fn body(words: &[u32], from: f32, to: f32, out: &mut [f64]) {
        let width = to - from;
        for (o, &w) in out.iter_mut().zip(words) {
            let x = ((w & 0x00ff_ffff) as f32) * (1.0 / 16_777_216.0);
            let v = x.mul_add(width, from);
            *o = if v == to { from } else { v } as f64;
        }
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("fma") && std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2,fma")]
        fn fast(words: &[u32], from: f32, to: f32, out: &mut [f64]) {
            body(words, from, to, out)
        }
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        unsafe { fast(words, from, to, out) };
        return;
    }
    body(words, from, to, out)
}

/// `uniform_real<float>` followed by the kernel's cast check.
#[inline]
fn uniform_f32(g: &mut TorchGenerator, from: f32, to: f32) -> f32 {
    let x = g.uniform01_f32();
    let v = x.mul_add(to - from, from);
    if v == to { from } else { v }
}

#[inline]
fn uniform_f64(g: &mut TorchGenerator, from: f64, to: f64) -> f64 {
    let x = g.uniform01_f64();
    let v = x.mul_add(to - from, from);
    if v == to { from } else { v }
}

impl Elementwise {
    /// `out.len()` values, as that many [`next`](Self::next) calls: the engine's outputs drawn
    /// in bulk, f32 uniforms transformed with hardware FMA where the CPU has it.
    fn fill(&self, g: &mut TorchGenerator, out: &mut [f64]) {
        let Elementwise::Uniform32 { from, to } = *self else {
            for o in out.iter_mut() {
                *o = self.next(g);
            }
            return;
        };
        let mut words = [0u32; 512];
        for os in out.chunks_mut(words.len()) {
            let ws = &mut words[..os.len()];
            g.engine.fill(ws);
            uniform32_block(ws, from, to, os);
        }
    }

    #[inline]
    fn next(&self, g: &mut TorchGenerator) -> f64 {
        match *self {
            Elementwise::Uniform32 { from, to } => uniform_f32(g, from, to) as f64,
            Elementwise::Uniform64 { from, to } => uniform_f64(g, from, to),
            Elementwise::UniformReduced {
                from,
                to,
                from_s,
                to_s,
                dtype,
            } => {
                // uniform_real<float> (no f32 clamp here: the kernel clamps the rounded value).
                let x = g.uniform01_f32();
                let v = dtype.narrow(x.mul_add(to - from, from));
                if v == to_s { from_s } else { v }
            }
        }
    }
}

/// The C library functions PyTorch calls in double precision.
///
/// The pure-Rust `libm` crate (FreeBSD msun) and glibc (PyTorch's libm on Linux) disagree in
/// the last bit often enough to matter: with `libm` for `log`, `sin` and `cos`, 946 of the 1000
/// values of `randn(1000, dtype=float64)` matched PyTorch (972 with only glibc's `log`, 971 with
/// only glibc's `sin`/`cos`); with the platform's functions (glibc) all 1000 match. So these
/// call the platform libm through `std`, as PyTorch does. On Linux that is glibc and bit-exact;
/// elsewhere f64 normal values (and path A) can differ from Linux PyTorch in the last bit
/// (f32 outputs essentially never: a 1-ulp f64 difference rarely survives rounding to f32).
mod clib {
    #[inline]
    pub(super) fn log(x: f64) -> f64 {
        x.ln()
    }
    #[inline]
    pub(super) fn log1p(x: f64) -> f64 {
        x.ln_1p()
    }
    #[inline]
    pub(super) fn sin(x: f64) -> f64 {
        x.sin()
    }
    #[inline]
    pub(super) fn cos(x: f64) -> f64 {
        x.cos()
    }
}

/// One value of path A: `static_cast<dtype>(normal_distribution<double>(mean, std)(rng))`.
#[inline]
fn normal_a_value(g: &mut TorchGenerator, mean: f64, std: f64, dtype: TorchDType) -> f64 {
    let v = g.standard_normal_path_a().mul_add(std, mean);
    dtype.cast(v)
}

/// `normal_fill_16_AVX2` on one block of 16 f32 uniforms in [0, 1).
///
/// Same results with or without hardware FMA (`mul_add` is exact either way); on x86-64 CPUs
/// with FMA the block is compiled with it, which avoids a C library `fmaf` call per operation.
fn normal16_f32(d: &mut [f32], mean: f32, std: f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports FMA, checked just above.
        unsafe { normal16_f32_fma(d, mean, std) };
        return;
    }
    normal16_f32_body(d, mean, std);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn normal16_f32_fma(d: &mut [f32], mean: f32, std: f32) {
    normal16_f32_body(d, mean, std);
}

#[inline(always)]
fn normal16_f32_body(d: &mut [f32], mean: f32, std: f32) {
    // _mm256_set1_ps(2.0f * c10::pi<double>): 2π in double, then rounded to f32.
    let two_pi = (2.0 * PI) as f32;
    for j in 0..8 {
        let u1 = 1.0 - d[j];
        let u2 = d[j + 8];
        let radius = (-2.0 * cephes::log(u1)).sqrt();
        let theta = two_pi * u2;
        let (s, c) = cephes::sincos(theta);
        d[j] = (radius * c).mul_add(std, mean);
        d[j + 8] = (radius * s).mul_add(std, mean);
    }
}

/// Scalar `normal_fill_16<double>`.
fn normal16_f64(d: &mut [f64], mean: f64, std: f64) {
    for j in 0..8 {
        let u1 = 1.0 - d[j];
        let u2 = d[j + 8];
        let radius = (-2.0 * clib::log(u1)).sqrt();
        let theta = 2.0 * PI * u2;
        d[j] = (radius * clib::cos(theta)).mul_add(std, mean);
        d[j + 8] = (radius * clib::sin(theta)).mul_add(std, mean);
    }
}

/// Lane-by-lane transliteration of `log256_ps` and `sincos256_ps` from ATen's `avx_mathfun.h`
/// (Cephes via Pommier and Garberoglio), in the order the header writes the operations.
///
/// PyTorch's x86 wheels are built by GCC with `-mavx2 -mfma` and floating-point contraction on;
/// the `_mm256_mul_ps`/`_mm256_add_ps` intrinsics are plain vector `*` and `+` to GCC, so a
/// product whose only use is an addition becomes one FMA. [`FUSED`] selects that contracted
/// form (Horner steps, the Cody–Waite reduction, `y·z + e·q1`). Measured against PyTorch 2.15
/// (`tests/torch_rng.rs`): fused, all 14 436 f32 path-B values of the reference files match;
/// unfused, 14 308 (randn 994/1000, xavier_normal 2034/2048, kaiming_normal 8106/8192,
/// embedding 3174/3200; up to 2 ulp off).
///
/// `f32::mul_add` is IEEE fused multiply-add (correctly rounded on every platform; without
/// hardware FMA in the target features it calls the C library's `fmaf`).
#[allow(
    clippy::excessive_precision,
    clippy::unreadable_literal,
    clippy::approx_constant
)]
mod cephes {
    /// Whether products feeding additions are fused, as GCC contracts them.
    pub(super) const FUSED: bool = true;

    #[inline(always)]
    fn madd(a: f32, b: f32, c: f32) -> f32 {
        if FUSED { a.mul_add(b, c) } else { a * b + c }
    }

    // The header's constants are double literals converted to float (`_PS256_CONST`), so they
    // are written here as f64 literals rounded to f32, not as f32 literals.
    const SQRTHF: f32 = 0.707106781186547524_f64 as f32;
    const LOG_P: [f32; 9] = [
        7.0376836292E-2_f64 as f32,
        -1.1514610310E-1_f64 as f32,
        1.1676998740E-1_f64 as f32,
        -1.2420140846E-1_f64 as f32,
        1.4249322787E-1_f64 as f32,
        -1.6668057665E-1_f64 as f32,
        2.0000714765E-1_f64 as f32,
        -2.4999993993E-1_f64 as f32,
        3.3333331174E-1_f64 as f32,
    ];
    const LOG_Q1: f32 = -2.12194440e-4_f64 as f32;
    const LOG_Q2: f32 = 0.693359375_f64 as f32;

    /// `log256_ps` for one lane.
    #[inline(always)]
    pub(super) fn log(x: f32) -> f32 {
        let invalid = x <= 0.0;
        // _mm256_max_ps(x, min_norm_pos): cut off denormals.
        let x = if x > f32::MIN_POSITIVE {
            x
        } else {
            f32::MIN_POSITIVE
        };
        let imm0 = (x.to_bits() >> 23) as i32 - 0x7f;
        let mut x = f32::from_bits((x.to_bits() & !0x7f80_0000) | 0.5f32.to_bits());
        let mut e = imm0 as f32 + 1.0;
        let mask = x < SQRTHF;
        let tmp = if mask { x } else { 0.0 };
        x -= 1.0;
        e -= if mask { 1.0 } else { 0.0 };
        x += tmp;
        let z = x * x;
        let mut y = LOG_P[0];
        for p in &LOG_P[1..] {
            y = madd(y, x, *p);
        }
        y *= x;
        // y = y*z; tmp = e*q1; y = y + tmp  →  fma(y, z, e*q1) when contracted.
        y = madd(y, z, e * LOG_Q1);
        // z*0.5 is exact, so fusing `y - z*0.5` does not change it.
        y -= z * 0.5;
        // e*q2 is exact (|e| ≤ 150, q2 has 9 significant bits).
        x += y;
        x += e * LOG_Q2;
        if invalid { f32::NAN } else { x }
    }

    const DP1: f32 = -0.78515625_f64 as f32;
    const DP2: f32 = -2.4187564849853515625e-4_f64 as f32;
    const DP3: f32 = -3.77489497744594108e-8_f64 as f32;
    const SINCOF: [f32; 3] = [
        -1.9515295891E-4_f64 as f32,
        8.3321608736E-3_f64 as f32,
        -1.6666654611E-1_f64 as f32,
    ];
    const COSCOF: [f32; 3] = [
        2.443315711809948E-005_f64 as f32,
        -1.388731625493765E-003_f64 as f32,
        4.166664568298827E-002_f64 as f32,
    ];
    /// 4/π.
    const FOPI: f32 = 1.27323954473516_f64 as f32;

    /// `sincos256_ps` for one lane: (sin, cos).
    #[inline(always)]
    pub(super) fn sincos(x: f32) -> (f32, f32) {
        let sign_bit_sin = x.to_bits() & 0x8000_0000;
        let mut x = f32::from_bits(x.to_bits() & 0x7fff_ffff);
        let y = x * FOPI;
        // _mm256_cvttps_epi32 truncates; out-of-range gives 0x80000000.
        let mut imm2: i32 = if y.is_nan() || y >= 2_147_483_648.0 {
            i32::MIN
        } else {
            y as i32
        };
        imm2 = imm2.wrapping_add(1) & !1;
        let y = imm2 as f32;
        let imm4 = imm2;
        let swap_sign_bit_sin = ((imm2 & 4) as u32) << 29;
        let poly_mask = (imm2 & 2) == 0;
        x = madd(y, DP1, x);
        x = madd(y, DP2, x);
        x = madd(y, DP3, x);
        let imm4 = imm4.wrapping_sub(2);
        let sign_bit_cos = ((!imm4 & 4) as u32) << 29;
        let sign_bit_sin = sign_bit_sin ^ swap_sign_bit_sin;

        let z = x * x;
        let mut y = madd(COSCOF[0], z, COSCOF[1]);
        y = madd(y, z, COSCOF[2]);
        y *= z;
        // y = y*z; tmp = z*0.5; y = y - tmp  (z*0.5 exact; fused or not, one rounding of y*z - tmp).
        y = madd(y, z, -(z * 0.5));
        y += 1.0;

        let mut y2 = madd(SINCOF[0], z, SINCOF[1]);
        y2 = madd(y2, z, SINCOF[2]);
        y2 *= z;
        y2 = madd(y2, x, x);

        let ysin2 = if poly_mask { y2 } else { 0.0 };
        let ysin1 = if poly_mask { 0.0 } else { y };
        let y2 = y2 - ysin2;
        let y = y - ysin1;
        let s = ysin1 + ysin2;
        let c = y + y2;
        (
            f32::from_bits(s.to_bits() ^ sign_bit_sin),
            f32::from_bits(c.to_bits() ^ sign_bit_cos),
        )
    }
}

/// `trunc_normal_` when [a, b] holds more than 30% of the mass (PyTorch 2.15): `normal_(mean,
/// std)`, then while any value lies outside [a, b] (bounds cast to the dtype, as
/// `tensor.new_tensor(a).item()`), a whole new `normal_` tensor is drawn and the outside values
/// replaced (`torch.where(mask, fresh, result)`). Values in order; holds the tensor twice.
pub fn trunc_normal_redraw(
    g: &mut TorchGenerator,
    numel: u64,
    mean: f64,
    std: f64,
    a: f64,
    b: f64,
    dtype: TorchDType,
) -> Vec<f64> {
    let (lo, hi) = (dtype.cast(a), dtype.cast(b));
    let op = TorchOp::Normal { mean, std };
    let mut result = vec![0.0; numel as usize];
    g.fill(op, dtype, &mut result);
    let mut fresh = vec![0.0; numel as usize];
    while result.iter().any(|x| *x < lo || *x > hi) {
        g.fill(op, dtype, &mut fresh);
        for (r, f) in result.iter_mut().zip(&fresh) {
            if *r < lo || *r > hi {
                *r = *f;
            }
        }
    }
    result
}

/// `trunc_normal_` when [a, b] holds at most 30% of the mass (PyTorch 2.15's uniform rejection,
/// `torch/nn/init.py` `_no_grad_trunc_normal_`):
///
/// ```text
/// mode = max(a, min(mean, b)); log_peak = -0.5 * ((mode - mean) / std) ** 2   # Python floats
/// tensor.uniform_(a, b); candidates = tensor.clone()
/// candidates.sub_(mean).div_(std).pow_(2).mul_(-0.5).sub_(log_peak)
/// pending = accept_buf.uniform_().log_().gt(candidates)
/// while pending.any():                       # every round draws two whole tensors
///     candidates.uniform_(a, b); result = where(pending, candidates, result)
///     candidates.sub_(mean)...sub_(log_peak)
///     pending = where(pending, accept_buf.uniform_().log_().gt(candidates), pending)
/// ```
///
/// The tensor ops work in the dtype with the Python scalars cast to it (`/ std` a true
/// division, `** 2` a product; measured: 8 × 10⁶ values equal to PyTorch's). `log_` is MKL's
/// (see [`mkl_log`]). Values in order; holds the tensor and two buffers.
///
/// # Panics
/// For [`TorchDType::BF16`] and [`TorchDType::F16`], whose tensor arithmetic is not reproduced.
pub fn trunc_normal_reject(
    g: &mut TorchGenerator,
    numel: u64,
    mean: f64,
    std: f64,
    a: f64,
    b: f64,
    dtype: TorchDType,
) -> Vec<f64> {
    assert!(
        !dtype.is_reduced(),
        "trunc_normal_reject is implemented for F32 and F64 only, not {dtype:?}"
    );
    let n = numel as usize;
    let mode = a.max(mean.min(b));
    // Python's `x ** 2` is C `pow(x, 2.0)`; keep the library call (black_box stops LLVM from
    // turning it into x·x, which could differ from the C library in the last bit).
    let log_peak = -0.5 * ((mode - mean) / std).powf(std::hint::black_box(2.0));
    let mut result = vec![0.0f64; n];
    // Round one draws into every element.
    let mut pending = vec![true; n];
    match dtype {
        TorchDType::F32 => {
            let (from, to) = (a as f32, b as f32);
            let (m, s, lp) = (mean as f32, std as f32, log_peak as f32);
            let mut cand = vec![0f32; n];
            while pending.iter().any(|&p| p) {
                for (i, c) in cand.iter_mut().enumerate() {
                    let x = uniform_f32(g, from, to);
                    if pending[i] {
                        result[i] = x as f64;
                    }
                    let z = (x - m) / s;
                    *c = z * z * -0.5 - lp;
                }
                for (i, c) in cand.iter().enumerate() {
                    let k = g.random() & 0x00ff_ffff;
                    if pending[i] {
                        pending[i] = mkl_log::logf_of_uniform(k) > *c;
                    }
                }
            }
        }
        TorchDType::F64 => {
            let mut cand = vec![0f64; n];
            while pending.iter().any(|&p| p) {
                for (i, c) in cand.iter_mut().enumerate() {
                    let x = uniform_f64(g, a, b);
                    if pending[i] {
                        result[i] = x;
                    }
                    let z = (x - mean) / std;
                    *c = z * z * -0.5 - log_peak;
                }
                for (i, c) in cand.iter().enumerate() {
                    let u = g.uniform01_f64();
                    if pending[i] {
                        pending[i] = mkl_log::log_f64(u) > *c;
                    }
                }
            }
        }
        TorchDType::BF16 | TorchDType::F16 => unreachable!("asserted above"),
    }
    result
}

/// `log_` as PyTorch 2.15's x86 wheels compute it on contiguous CPU tensors.
///
/// `log_kernel` (`native/cpu/UnaryOpsKernel.cpp`) calls `at::vml::vlog`, which in MKL builds
/// (the x86 wheels: `torch.backends.mkl.is_available()`) is MKL's `vmsLn`/`vmdLn` with
/// `VML_HA | VML_FTZDAZ_OFF | VML_ERRMODE_IGNORE` (`cpu/vml.h`), not Sleef. Measured on the
/// 2.15.0 wheel: `torch.log` equals `vmsLn`/`vmdLn` called directly on all 2²⁴ f32 inputs
/// and 2·10⁶ f64 inputs, and differs from both Sleef's `logf8_u10`/`logd4_u10` and correctly
/// rounded results.
///
/// MKL is closed, so its f32 results are reproduced from a measurement: the only f32 inputs
/// `trunc_normal_` passes to `log_` are `uniform_()` values `k·2⁻²⁴`, `k < 2²⁴`; for each, MKL
/// returns one of the two floats around the true logarithm (never further: checked on all
/// 2²⁴), and `mkl_logf.zlib` is the bitmap of the `k` where it is not the nearest one
/// (1 264 763 of 16 777 216), zlib-compressed, bit `k % 8` of byte `k / 8`. Measured with MKL
/// 2024.2 on an AVX2 CPU; identical with `ATEN_CPU_CAPABILITY=default`, `MKL_CBWR=COMPATIBLE`
/// and `MKL_ENABLE_INSTRUCTIONS=SSE4_2`. MKL's AVX-512 path was not observed.
///
/// f64 uses the C library's `log` (glibc, correctly rounded in practice). MKL's `vmdLn`
/// differs from it by one ulp on about 0.1% of inputs (2225 of 2·10⁶ uniforms measured), which
/// changes an accept/reject decision only if the candidate's log-density falls between the two
/// values: of order 10⁻¹⁹ per comparison (0.1% × one f64 ulp).
pub mod mkl_log {
    use std::sync::OnceLock;

    static TABLE_Z: &[u8] = include_bytes!("mkl_logf.zlib");

    fn table() -> &'static [u8] {
        static T: OnceLock<Vec<u8>> = OnceLock::new();
        T.get_or_init(|| {
            use std::io::Read;
            let mut out = Vec::with_capacity(1 << 21);
            flate2::read::ZlibDecoder::new(TABLE_Z)
                .read_to_end(&mut out)
                .expect("embedded MKL log table");
            assert_eq!(out.len(), 1 << 21, "embedded MKL log table size");
            out
        })
    }

    /// The float nearest to ln(k·2⁻²⁴) and the other float around it (equal to the first
    /// when the logarithm is exactly representable or infinite). ln is the C library's double
    /// `log` (the input is exact in f64; rounding a double once more to f32 is correct except
    /// within 2⁻²⁹ ulp of a tie, which the exhaustive check would have caught).
    pub fn logf_neighbours(k: u32) -> (f32, f32) {
        let t = ((k as f64) * (1.0 / 16_777_216.0)).ln();
        let near = t as f32;
        let other = if (near as f64) < t {
            near.next_up()
        } else if (near as f64) > t {
            near.next_down()
        } else {
            near
        };
        (near, other)
    }

    /// MKL's `vmsLn` of `k·2⁻²⁴` (`k < 2²⁴`), the f32 `uniform_()` values.
    pub fn logf_of_uniform(k: u32) -> f32 {
        let (near, other) = logf_neighbours(k);
        let t = table();
        if t[(k >> 3) as usize] >> (k & 7) & 1 == 1 {
            other
        } else {
            near
        }
    }

    /// `log_` on an f64 tensor (see the module docs for its one-ulp caveat).
    pub fn log_f64(u: f64) -> f64 {
        super::clib::log(u)
    }

    /// The bitmap (uncompressed) for MKL's results `logs[k]` on every `k·2⁻²⁴`, `k < 2²⁴`;
    /// `None` if some result is neither float around the logarithm. Used to build
    /// `mkl_logf.zlib` from PyTorch's output (`tests/torch_verify/mkl_logf.py`).
    pub fn bitmap_from_reference(logs: &[f32]) -> Option<Vec<u8>> {
        assert_eq!(logs.len(), 1 << 24);
        let mut bits = vec![0u8; 1 << 21];
        for (k, &m) in logs.iter().enumerate() {
            let (near, other) = logf_neighbours(k as u32);
            if m.to_bits() == near.to_bits() {
                continue;
            }
            if m.to_bits() != other.to_bits() {
                return None;
            }
            bits[k >> 3] |= 1 << (k & 7);
        }
        Some(bits)
    }
}

/// `torch.nn.init.sparse_(t, sparsity, std)` on a `rows × cols` tensor: `normal_(0, std)`, then
/// for each column `torch.randperm(rows)` from the same (global) generator and the first
/// `ceil(sparsity·rows)` rows of the permutation set to zero. Values in C order.
pub fn sparse(
    rng: &mut TorchGenerator,
    rows: u64,
    cols: u64,
    sparsity: f64,
    std: f64,
    dtype: TorchDType,
) -> Vec<f64> {
    let num_zeros = (sparsity * rows as f64).ceil() as u64;
    sparse_with_zeros(rng, rows, cols, num_zeros, std, dtype)
}

/// [`sparse`] with the number of zeros per column already computed (`ceil(sparsity·rows)`).
pub fn sparse_with_zeros(
    rng: &mut TorchGenerator,
    rows: u64,
    cols: u64,
    num_zeros: u64,
    std: f64,
    dtype: TorchDType,
) -> Vec<f64> {
    let mut t = vec![0.0; (rows * cols) as usize];
    rng.fill(TorchOp::Normal { mean: 0.0, std }, dtype, &mut t);
    for col in 0..cols {
        let perm = rng.randperm(rows);
        for &r in perm.iter().take(num_zeros as usize) {
            t[(r * cols + col) as usize] = 0.0;
        }
    }
    t
}

/// A tensor's values in order, chunk by chunk, consuming the generator exactly as one
/// [`TorchGenerator::fill`] of the whole tensor: concatenated chunks equal `fill`'s output,
/// and [`into_generator`](Self::into_generator) returns the state `fill` leaves.
///
/// Owns its generator (pass a clone, or move it in and take it back with `into_generator`).
/// Memory is bounded by the caller's chunk plus 32 values: for normal path B with
/// `numel % 16 ≠ 0`, the first `numel % 16` values of the last full block of 16 are emitted,
/// then the generator skips the rest of that block's uniforms and the 16 values of the refilled
/// tail follow (they overwrite the remaining values of that block in PyTorch). For BF16/F16
/// there is nothing to skip: PyTorch never draws the partial block's uniforms.
#[derive(Debug)]
pub struct ChunkedFill {
    rng: TorchGenerator,
    kernel: Kernel,
    numel: u64,
    /// Values emitted so far.
    emitted: u64,
    /// Normal path B: index of the next block of 16 to draw.
    block: u64,
    pending: [f64; 32],
    pending_start: usize,
    pending_end: usize,
}

impl ChunkedFill {
    pub fn new(rng: TorchGenerator, op: TorchOp, dtype: TorchDType, numel: u64) -> Self {
        let mut s = ChunkedFill {
            rng,
            kernel: Kernel::new(op, dtype, numel),
            numel,
            emitted: 0,
            block: 0,
            pending: [0.0; 32],
            pending_start: 0,
            pending_end: 0,
        };
        if let Kernel::NormalA { .. } = s.kernel {
            // Fewer than 16 values: draw them now.
            let mut v = [0.0; 16];
            let n = numel as usize;
            s.rng.fill(op, dtype, &mut v[..n]);
            s.pending[..n].copy_from_slice(&v[..n]);
            s.pending_end = n;
        }
        s
    }

    /// The same op's values from element `first` on (a multiple of 16 below `numel`), with
    /// `rng` already advanced by [`words_before`]`(op, dtype, numel, first)` from the op's start:
    /// the values equal those of [`new`](Self::new) past its first `first`, and so does the
    /// generator left at the end.
    pub fn starting_at(
        rng: TorchGenerator,
        op: TorchOp,
        dtype: TorchDType,
        numel: u64,
        first: u64,
    ) -> Self {
        if first == 0 {
            return ChunkedFill::new(rng, op, dtype, numel);
        }
        words_before(op, dtype, numel, first); // checks `first`
        let mut s = ChunkedFill::new(rng, op, dtype, numel);
        s.emitted = first;
        s.block = first / 16;
        let r = (numel % 16) as usize;
        let path_b = matches!(
            s.kernel,
            Kernel::NormalB32 { .. } | Kernel::NormalB64 { .. } | Kernel::NormalBReduced { .. }
        );
        if path_b && s.block == numel / 16 && r != 0 {
            // Past the last full block: the last r values of the refilled tail block.
            let mut tail = [0.0; 16];
            s.draw_block(&mut tail);
            s.pending[..16].copy_from_slice(&tail);
            s.pending_start = 16 - r;
            s.pending_end = 16;
            s.block += 1;
        }
        s
    }

    /// Elements not yet emitted.
    pub fn remaining(&self) -> u64 {
        self.numel - self.emitted
    }

    /// Write the next values into `out`; returns how many (0 once all `numel` were emitted).
    pub fn next_chunk(&mut self, out: &mut [f64]) -> usize {
        let mut w = 0;
        while w < out.len() && self.emitted < self.numel {
            if self.pending_start < self.pending_end {
                let k = (self.pending_end - self.pending_start).min(out.len() - w);
                out[w..w + k]
                    .copy_from_slice(&self.pending[self.pending_start..self.pending_start + k]);
                self.pending_start += k;
                w += k;
                self.emitted += k as u64;
                continue;
            }
            match self.kernel {
                Kernel::Fill(v) => {
                    let k = ((self.numel - self.emitted) as usize).min(out.len() - w);
                    out[w..w + k].fill(v);
                    w += k;
                    self.emitted += k as u64;
                }
                Kernel::Elementwise(e) => {
                    let k = ((self.numel - self.emitted) as usize).min(out.len() - w);
                    e.fill(&mut self.rng, &mut out[w..w + k]);
                    w += k;
                    self.emitted += k as u64;
                }
                Kernel::NormalA { .. } => unreachable!("path A values are pending from new()"),
                Kernel::NormalB32 { .. }
                | Kernel::NormalB64 { .. }
                | Kernel::NormalBReduced { .. } => {
                    // Whole blocks straight into `out` (no copy through `pending`), up to the
                    // last full block when a partial one follows: that one needs the tail
                    // handling of `refill_normal_b`.
                    let q = self.numel / 16;
                    let direct_until = if self.numel.is_multiple_of(16) {
                        q
                    } else {
                        q - 1
                    };
                    let mut drew = false;
                    while self.block < direct_until && out.len() - w >= 16 {
                        let dst: &mut [f64; 16] =
                            (&mut out[w..w + 16]).try_into().expect("16 slots");
                        self.draw_block(dst);
                        self.block += 1;
                        w += 16;
                        self.emitted += 16;
                        drew = true;
                    }
                    if !drew {
                        self.refill_normal_b();
                    }
                }
            }
        }
        w
    }

    /// Draw and transform one block of 16 path-B values.
    fn draw_block(&mut self, out: &mut [f64; 16]) {
        let rng = &mut self.rng;
        match self.kernel {
            Kernel::NormalB32 { mean, std, .. } => {
                let mut w = [0u32; 16];
                rng.engine.fill(&mut w);
                let mut d = w.map(|w| ((w & 0x00ff_ffff) as f32) * (1.0 / 16_777_216.0));
                normal16_f32(&mut d, mean, std);
                for (o, v) in out.iter_mut().zip(d) {
                    *o = v as f64;
                }
            }
            Kernel::NormalB64 { mean, std, .. } => {
                for o in out.iter_mut() {
                    *o = rng.uniform01_f64();
                }
                normal16_f64(out, mean, std);
            }
            Kernel::NormalBReduced { mean, std, dtype } => {
                rng.normal_block_reduced(mean, std, dtype, out);
            }
            _ => unreachable!("path B only"),
        }
    }

    /// Draw and transform the next block(s) of path B into `pending`.
    fn refill_normal_b(&mut self) {
        let q = self.numel / 16;
        let r = (self.numel % 16) as usize;
        let last_full = self.block + 1 == q;
        let mut first = [0.0; 16];
        self.draw_block(&mut first);
        self.pending[..16].copy_from_slice(&first);
        self.block += 1;
        self.pending_start = 0;
        if !(last_full && r != 0) {
            self.pending_end = 16;
            return;
        }
        // Keep the first r values of the last full block, skip the uniforms of the partial
        // block (f32/f64 draw them; bf16/f16 never do), then the refilled last 16 slots follow.
        let per = match self.kernel {
            Kernel::NormalB64 { .. } => 2,
            Kernel::NormalBReduced { .. } => 0,
            _ => 1,
        };
        self.rng.engine.discard((r * per) as u64);
        let mut tail = [0.0; 16];
        self.draw_block(&mut tail);
        self.pending[r..r + 16].copy_from_slice(&tail);
        self.pending_end = r + 16;
    }

    /// The generator after the whole op (values not yet emitted are drawn and dropped).
    pub fn into_generator(mut self) -> TorchGenerator {
        let mut buf = [0.0; 256];
        while self.next_chunk(&mut buf) > 0 {}
        self.rng
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt19937_matches_the_reference_sequence_for_5489() {
        // std::mt19937 with the default seed 5489: the 10000th output is 4123659995 (C++11
        // [rand.predef]); the first is 3499211612.
        let mut g = TorchGenerator::manual_seed(5489);
        assert_eq!(g.random(), 3_499_211_612);
        for _ in 1..9999 {
            g.random();
        }
        assert_eq!(g.random(), 4_123_659_995);
    }

    #[test]
    fn discard_equals_drawing() {
        for n in [0u64, 1, 2, 622, 623, 624, 625, 1247, 1248, 1249, 5000] {
            for pre in [0u64, 1, 300, 623, 624] {
                let mut a = TorchGenerator::manual_seed(7);
                let mut b = a.clone();
                for _ in 0..pre {
                    a.random();
                    b.random();
                }
                for _ in 0..n {
                    a.random();
                }
                b.engine.discard(n);
                assert!(a == b, "n {n} pre {pre}");
                assert_eq!(a.random(), b.random());
            }
        }
    }

    #[test]
    fn bulk_outputs_equal_single_ones() {
        for pre in [0u64, 1, 623, 624, 625, 1000] {
            for n in [0usize, 1, 623, 624, 625, 2000] {
                let mut a = TorchGenerator::manual_seed(3);
                a.engine.discard(pre);
                let mut b = a.clone();
                let mut bulk = vec![0u32; n];
                a.engine.fill(&mut bulk);
                let single: Vec<u32> = (0..n).map(|_| b.random()).collect();
                assert_eq!(bulk, single, "pre {pre} n {n}");
                assert!(a == b, "pre {pre} n {n}");
            }
        }
    }

    #[test]
    fn negative_seeds_are_twos_complement() {
        assert_eq!(torch_seed_to_u64(-1), Some(u64::MAX));
        assert_eq!(torch_seed_to_u64(i64::MIN as i128), Some(1 << 63));
        assert_eq!(torch_seed_to_u64(u64::MAX as i128), Some(u64::MAX));
        assert_eq!(torch_seed_to_u64(u64::MAX as i128 + 1), None);
        assert_eq!(torch_seed_to_u64(i64::MIN as i128 - 1), None);
        // Only the low 32 bits reach mt19937.
        let mut a = TorchGenerator::manual_seed(5);
        let mut b = TorchGenerator::manual_seed(5 + (1 << 32));
        assert_eq!(a.random(), b.random());
    }

    /// Published vector (docs/torch-rng.md §9): karpathy/llm.c `llmc/rand.h`, seed 137.
    #[test]
    fn llm_c_vectors_for_seed_137() {
        let mut g = TorchGenerator::manual_seed(137);
        let r: Vec<u32> = (0..5).map(|_| g.random()).collect();
        assert_eq!(
            r,
            [4053805790, 2173880614, 380293709, 1237255315, 2986595568]
        );
        let mut a = [0.0; 8];
        g.fill(
            TorchOp::Normal {
                mean: 0.0,
                std: 1.0,
            },
            TorchDType::F32,
            &mut a,
        );
        assert_eq!(
            &a[..3],
            &[0.7947664260864258, 1.4369317293167114, -0.2292192131280899]
        );
        assert_eq!(g.random(), 2186503452);
        let mut b = [0.0; 16];
        g.fill(
            TorchOp::Normal {
                mean: 0.0,
                std: 1.0,
            },
            TorchDType::F32,
            &mut b,
        );
        assert_eq!(b[0], -1.2813878059387207);
        assert_eq!(b[1], -2.646395683288574);
        assert_eq!(b[15], 0.3961987793445587);
        assert_eq!(g.random(), 2756748748);
    }

    #[test]
    fn randperm_is_a_permutation_consuming_n_minus_1_draws() {
        let mut g = TorchGenerator::manual_seed(0);
        let mut h = g.clone();
        let p = g.randperm(100);
        let mut s = p.clone();
        s.sort();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
        h.engine.discard(99);
        assert!(g == h);
        assert!(TorchGenerator::manual_seed(0).randperm(0).is_empty());
        assert_eq!(TorchGenerator::manual_seed(0).randperm(1), [0]);
    }
}

#[cfg(test)]
mod chunk_tests {
    /// Every value `c` has left, pulled `chunk` at a time.
    pub(super) fn drain(c: &mut super::ChunkedFill, chunk: usize) -> Vec<f64> {
        let mut got = Vec::with_capacity(c.remaining() as usize);
        let mut buf = vec![0.0; chunk];
        loop {
            let k = c.next_chunk(&mut buf);
            if k == 0 {
                return got;
            }
            got.extend_from_slice(&buf[..k]);
        }
    }

    use super::*;

    const NUMELS: [u64; 9] = [1, 15, 16, 17, 31, 32, 33, 1000, 65537];
    const CHUNKS: [usize; 4] = [1, 7, 16, 4096];

    fn ops() -> Vec<TorchOp> {
        vec![
            TorchOp::Uniform {
                from: -0.25,
                to: 0.5,
            },
            TorchOp::Normal {
                mean: 0.5,
                std: 0.1,
            },
            TorchOp::Fill { value: 0.3 },
        ]
    }

    /// A generator with a cached double normal, so path A's carry-over is exercised.
    fn start() -> TorchGenerator {
        let mut g = TorchGenerator::manual_seed(2024);
        let mut v = [0.0; 3];
        g.fill(
            TorchOp::Normal {
                mean: 0.0,
                std: 1.0,
            },
            TorchDType::F64,
            &mut v,
        );
        assert!(g.next_double_normal_sample().is_some());
        g
    }

    #[test]
    fn chunked_fill_equals_fill_and_skip_equals_fill() {
        for op in ops() {
            for dtype in [TorchDType::F32, TorchDType::F64] {
                for n in NUMELS {
                    let mut g = start();
                    let mut want = vec![0.0; n as usize];
                    g.fill(op, dtype, &mut want);

                    let mut s = start();
                    s.skip(op, dtype, n);
                    assert!(s == g, "skip {op:?} {dtype:?} {n}");

                    for chunk in CHUNKS {
                        let mut c = ChunkedFill::new(start(), op, dtype, n);
                        let got = drain(&mut c, chunk);
                        let same = got.len() == want.len()
                            && got
                                .iter()
                                .zip(&want)
                                .all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(same, "{op:?} {dtype:?} n {n} chunk {chunk}");
                        assert!(
                            c.into_generator() == g,
                            "state {op:?} {dtype:?} {n} {chunk}"
                        );
                    }
                    // Taking the generator back early finishes the op.
                    let mut c = ChunkedFill::new(start(), op, dtype, n);
                    let mut buf = [0.0; 5];
                    c.next_chunk(&mut buf);
                    assert!(c.into_generator() == g);
                }
            }
        }
    }

    const ALL_DTYPES: [TorchDType; 4] = [
        TorchDType::F32,
        TorchDType::F64,
        TorchDType::BF16,
        TorchDType::F16,
    ];

    fn same_engine(a: &TorchGenerator, b: &TorchGenerator) -> bool {
        a.engine.state == b.engine.state
            && a.engine.next == b.engine.next
            && a.engine.left == b.engine.left
    }

    #[test]
    fn words_consumed_is_what_fill_consumes() {
        for op in ops() {
            for dtype in ALL_DTYPES {
                for n in (1..=70).chain([1000, 4099, 65537]) {
                    // From a fresh generator (no cached normal), as words_consumed counts.
                    let mut g = TorchGenerator::manual_seed(11);
                    g.fill(op, dtype, &mut vec![0.0; n as usize]);
                    let mut h = TorchGenerator::manual_seed(11);
                    h.engine.discard(words_consumed(op, dtype, n));
                    assert!(same_engine(&g, &h), "{op:?} {dtype:?} {n}");
                }
            }
        }
    }

    #[test]
    fn a_fill_started_at_any_block_from_an_advanced_generator_is_the_rest_of_the_op() {
        for op in ops() {
            for dtype in ALL_DTYPES {
                for n in [
                    1u64, 15, 16, 17, 31, 32, 33, 47, 48, 63, 1000, 1009, 4099, 65537,
                ] {
                    let mut end = start();
                    let mut want = vec![0.0; n as usize];
                    end.fill(op, dtype, &mut want);
                    let firsts: Vec<u64> = if n <= 1009 {
                        (0..n.div_ceil(16)).map(|b| 16 * b).collect()
                    } else {
                        vec![16, 4096, 16 * (n / 16 - 1), 16 * (n / 16)]
                    };
                    for first in firsts.into_iter().filter(|&f| f < n && (n >= 16 || f == 0)) {
                        let mut g = start();
                        g.advance(words_before(op, dtype, n, first));
                        let mut c = ChunkedFill::starting_at(g, op, dtype, n, first);
                        let got = drain(&mut c, 7);
                        let same = got.len() as u64 == n - first
                            && got
                                .iter()
                                .zip(&want[first as usize..])
                                .all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(same, "{op:?} {dtype:?} n {n} first {first}");
                        assert!(c.into_generator() == end, "{op:?} {dtype:?} {n} {first}");
                    }
                }
            }
        }
    }

    #[test]
    fn skip_by_a_jump_equals_skip_by_generation() {
        // Sizes whose draws pass JUMP_MIN, so `skip` jumps; odd sizes exercise the tails.
        let big = JUMP_MIN + 17;
        for op in ops() {
            for dtype in ALL_DTYPES {
                for n in [big, big + 16, JUMP_MIN / 2 + 1] {
                    let mut by_fill = start();
                    let mut v = vec![0.0; n as usize];
                    by_fill.fill(op, dtype, &mut v);
                    let mut by_jump = start();
                    by_jump.skip(op, dtype, n);
                    assert!(by_jump == by_fill, "{op:?} {dtype:?} {n}");
                    assert_eq!(by_jump.random(), by_fill.random());
                }
            }
        }
    }

    #[test]
    fn path_b_tail_overwrites_the_last_full_block() {
        // n = 17: slots 1..16 come from the refilled tail, slot 0 from the first block.
        let op = TorchOp::Normal {
            mean: 0.0,
            std: 1.0,
        };
        let mut g = TorchGenerator::manual_seed(0);
        let mut v17 = [0.0; 17];
        g.fill(op, TorchDType::F32, &mut v17);
        let mut h = TorchGenerator::manual_seed(0);
        let mut v16 = [0.0; 16];
        h.fill(op, TorchDType::F32, &mut v16);
        assert_eq!(v17[0], v16[0]);
        assert_ne!(v17[1], v16[1]);
        // 17 uniforms, then 16 more.
        let mut k = TorchGenerator::manual_seed(0);
        k.engine.discard(33);
        assert!(g == k);
    }

    #[test]
    fn sparse_zeroes_ceil_sparsity_rows_per_column() {
        let mut g = TorchGenerator::manual_seed(0);
        let v = sparse(&mut g, 10, 6, 0.25, 0.01, TorchDType::F32);
        for c in 0..6 {
            let zeros = (0..10).filter(|r| v[r * 6 + c] == 0.0).count();
            assert_eq!(zeros, 3);
        }
        // normal_ of 60 (path B, 60 + 16 draws) then 6 × randperm(10) (9 draws each).
        let mut h = TorchGenerator::manual_seed(0);
        h.engine.discard(76 + 54);
        assert!(g == h);
    }
}

/// The bf16/f16 kernels, pinned to what `normal_fill`, `NormalFill16` and `uniform_kernel` in
/// `native/cpu/DistributionTemplates.h` (after pytorch/pytorch#179834) do: self-consistency of
/// `fill`, `skip` and `ChunkedFill`, and the relation to the F32 kernels the source implies.
#[cfg(test)]
mod half_tests {
    use super::chunk_tests::drain;
    use super::*;

    const REDUCED: [TorchDType; 2] = [TorchDType::BF16, TorchDType::F16];

    fn sizes() -> Vec<u64> {
        let mut v: Vec<u64> = (1..=70).collect();
        v.extend([1000, 4099]);
        v
    }

    fn normal(mean: f64, std: f64) -> TorchOp {
        TorchOp::Normal { mean, std }
    }

    fn fill(g: &mut TorchGenerator, op: TorchOp, dtype: TorchDType, n: u64) -> Vec<f64> {
        let mut v = vec![0.0; n as usize];
        g.fill(op, dtype, &mut v);
        v
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    fn round_all(v: &[f64], dtype: TorchDType) -> Vec<f64> {
        v.iter().map(|&x| dtype.narrow(x as f32)).collect()
    }

    /// A generator with a cached double normal (path A leaves one behind).
    fn start() -> TorchGenerator {
        let mut g = TorchGenerator::manual_seed(77);
        fill(&mut g, normal(0.0, 1.0), TorchDType::F64, 3);
        assert!(g.next_double_normal_sample().is_some());
        g
    }

    /// How many engine words an op took, measured by replaying the engine alone.
    fn words_used(op: TorchOp, dtype: TorchDType, n: u64) -> u64 {
        let mut g = TorchGenerator::manual_seed(5);
        fill(&mut g, op, dtype, n);
        let mut h = TorchGenerator::manual_seed(5);
        for k in 0..20_000u64 {
            let mut probe = h.clone();
            probe.next_double_normal = g.next_double_normal;
            if probe == g {
                return k;
            }
            h.random();
        }
        panic!("more than 20000 words for {op:?} {dtype:?} {n}");
    }

    #[test]
    fn skip_consumes_exactly_the_words_fill_does() {
        let ops = [
            TorchOp::Uniform {
                from: -0.125,
                to: 0.125,
            },
            normal(0.0, 0.02),
            TorchOp::Fill { value: 1.0 },
        ];
        for dtype in REDUCED {
            for op in ops {
                for n in sizes() {
                    let mut a = start();
                    fill(&mut a, op, dtype, n);
                    let mut b = start();
                    b.skip(op, dtype, n);
                    assert!(a == b, "{op:?} {dtype:?} n {n}");
                }
            }
        }
    }

    #[test]
    fn word_counts_follow_the_source() {
        for dtype in REDUCED {
            for n in sizes() {
                // uniform_: one random() per element, as float.
                let u = TorchOp::Uniform {
                    from: -1.0,
                    to: 1.0,
                };
                assert_eq!(words_used(u, dtype, n), n, "uniform {dtype:?} {n}");
                // normal_: path A (two random64 per pair, from a fresh generator) below 16;
                // 16 per block, partial block never drawn, one refill block from 16 on.
                let want = if n < 16 {
                    4 * n.div_ceil(2)
                } else {
                    16 * n.div_ceil(16)
                };
                assert_eq!(
                    words_used(normal(0.0, 1.0), dtype, n),
                    want,
                    "{dtype:?} {n}"
                );
                // Where F32 differs: it draws the partial block too.
                let f32_words = if n < 16 || n % 16 == 0 { want } else { n + 16 };
                assert_eq!(words_used(normal(0.0, 1.0), TorchDType::F32, n), f32_words);
            }
        }
    }

    #[test]
    fn normal_values_are_float_blocks_rounded_with_a_fresh_tail_block() {
        // The float blocks a bf16 op of n ≥ 16 uses are the blocks of an F32 op of
        // 16·⌈n/16⌉ elements (a multiple of 16: no F32 tail rule there). Slots [0, 16q) take
        // the first q blocks; for n % 16 ≠ 0, slots [n−16, n) take block q.
        let op = normal(0.25, 0.5);
        for dtype in REDUCED {
            for n in sizes().into_iter().filter(|&n| n >= 16) {
                let q = (n / 16) as usize;
                let m = 16 * n.div_ceil(16);
                let float = fill(&mut start(), op, TorchDType::F32, m);
                let mut want = round_all(&float[..16 * q], dtype);
                if n % 16 != 0 {
                    want.truncate(n as usize - 16);
                    want.extend(round_all(&float[16 * q..16 * q + 16], dtype));
                }
                let got = fill(&mut start(), op, dtype, n);
                assert_eq!(bits(&got), bits(&want), "{dtype:?} n {n}");
                // Every value is a number of the dtype.
                assert_eq!(bits(&got), bits(&round_all(&got, dtype)));
            }
        }
    }

    #[test]
    fn small_normal_is_path_a_rounded_through_float() {
        let op = normal(0.0, 0.02);
        for dtype in REDUCED {
            for n in 1..16u64 {
                let mut a = start();
                let got = fill(&mut a, op, dtype, n);
                let mut b = start();
                let want = round_all(&fill(&mut b, op, TorchDType::F32, n), dtype);
                assert_eq!(bits(&got), bits(&want), "{dtype:?} n {n}");
                assert!(a == b, "state {dtype:?} {n}");
            }
        }
        // double → float → bf16, not double → bf16: a double just above a bf16 tie that
        // float rounds onto the tie, which then goes to even.
        let x = 1.0 + f64::powi(2.0, -8) + f64::powi(2.0, -40);
        assert_eq!(TorchDType::BF16.cast(x), 1.0);
        let y = 1.0 + f64::powi(2.0, -11) + f64::powi(2.0, -40);
        assert_eq!(TorchDType::F16.cast(y), 1.0);
    }

    #[test]
    fn uniform_is_the_float_draw_rounded_with_the_clamp_on_the_rounded_value() {
        // A kaiming_uniform_(a=√5) bound for fan_in 64, computed as Python does.
        let gain = (2.0f64 / (1.0 + 5.0)).sqrt();
        let bound = 3.0f64.sqrt() * (gain / 64f64.sqrt());
        let op = TorchOp::Uniform {
            from: -bound,
            to: bound,
        };
        let n = 200_000u64;
        for dtype in REDUCED {
            let got = fill(&mut start(), op, dtype, n);
            let (from, to) = (-bound as f32, bound as f32);
            let (from_s, to_s) = (dtype.cast(-bound), dtype.cast(bound));
            let mut raw = start();
            let mut clamped = 0;
            for (i, &v) in got.iter().enumerate() {
                let x = ((raw.random() & 0x00ff_ffff) as f32) * (1.0 / 16_777_216.0);
                let r = dtype.narrow(x.mul_add(to - from, from));
                if r == to_s {
                    clamped += 1;
                    assert_eq!(v, from_s, "{dtype:?} {i}");
                } else {
                    assert_eq!(v.to_bits(), r.to_bits(), "{dtype:?} {i}");
                }
                assert!(v >= from_s && v < to_s);
            }
            // The clamp acts on the rounded value, so it fires far more often than the f32
            // kernel's (about once in 2²⁴): this is where f32-then-round differs.
            let f32_rounded = round_all(&fill(&mut start(), op, TorchDType::F32, n), dtype);
            let differ = got
                .iter()
                .zip(&f32_rounded)
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            assert_eq!(differ, clamped, "{dtype:?}");
            assert!(clamped > 10, "{dtype:?} clamped {clamped}");
        }
    }

    #[test]
    fn fill_constant_rounds_through_float() {
        let mut v = [0.0; 3];
        TorchGenerator::manual_seed(0).fill(TorchOp::Fill { value: 0.1 }, TorchDType::BF16, &mut v);
        assert_eq!(v[0], half::bf16::from_f32(0.1).to_f64());
        TorchGenerator::manual_seed(0).fill(TorchOp::Fill { value: 0.1 }, TorchDType::F16, &mut v);
        assert_eq!(v[2], half::f16::from_f32(0.1).to_f64());
    }

    #[test]
    fn chunked_fill_equals_fill() {
        let ops = [
            TorchOp::Uniform {
                from: -0.25,
                to: 0.5,
            },
            normal(0.5, 0.1),
            TorchOp::Fill { value: 0.3 },
        ];
        let numels = [1u64, 15, 16, 17, 31, 32, 33, 47, 48, 49, 1000, 4099, 65537];
        for dtype in REDUCED {
            for op in ops {
                for n in numels {
                    let mut g = start();
                    let want = fill(&mut g, op, dtype, n);
                    for chunk in [1usize, 7, 16, 17, 4096] {
                        let mut c = ChunkedFill::new(start(), op, dtype, n);
                        let got = drain(&mut c, chunk);
                        assert_eq!(bits(&got), bits(&want), "{op:?} {dtype:?} {n} {chunk}");
                        assert!(c.into_generator() == g, "state {op:?} {dtype:?} {n}");
                    }
                    let mut c = ChunkedFill::new(start(), op, dtype, n);
                    c.next_chunk(&mut [0.0; 5]);
                    assert!(c.into_generator() == g);
                }
            }
        }
    }
}
