//! MT19937 jump-ahead: the state `k` outputs ahead in milliseconds, whatever `k`.
//!
//! MT19937 is linear over GF(2). Call `W_p` the 624 words `x_p … x_{p+623}` of its sequence
//! (`x_{p+624} = x_{p+397} ⊕ twist(x_p, x_{p+1})`) and `T` the map `W_p ↦ W_{p+1}`. On the
//! states that can follow a twist (the image of `T`, 19937-dimensional) the characteristic
//! polynomial of `T` is the degree-19937 polynomial `P` ([`P_EXPONENTS`]), so by
//! Cayley–Hamilton `T^k = r(T)` with `r(x) = x^k mod P(x)`: `W_{p+k} = Σ r_i W_{p+i}`, the XOR
//! of the windows `W_{p+i}` (`i < 19937`) where `r` has a coefficient 1 (Haramoto, Matsumoto,
//! Nishimura, Panneton and L'Ecuyer, "Efficient jump ahead for F2-linear random number
//! generators", INFORMS J. on Computing 20(3), 2008 — the sliding-window form of their
//! Horner evaluation; NumPy's `MT19937.jumped` uses the same method for a fixed `k = 2¹²⁸`).
//!
//! `x^k mod P` is computed by square-and-multiply on bit-packed polynomials: a square spreads
//! the bits, and the reduction is cheap because `P` has only 135 terms. The windows `W_{p+i}`
//! are slices of the next 19937 + 623 words of the sequence, so the sum is about 10⁴ XORs of
//! 624-word slices.
//!
//! `P` is a committed constant; `tests::p_is_the_minimal_polynomial_of_the_output` derives it
//! again from the generator's own output by Berlekamp–Massey.

use super::{MT_M, MT_N, Mt19937};

/// Degree of `P`: the MT19937 state has 19937 bits.
const DEG: usize = 19937;

/// The exponents of the terms of `P(x)`, the characteristic polynomial of the MT19937 state
/// transition (one output), highest first: 135 terms. Derived again from the generator's output
/// by `tests::p_is_the_minimal_polynomial_of_the_output`.
#[rustfmt::skip]
pub(super) const P_EXPONENTS: &[u16] = &[
    19937, 19314, 19087, 18860, 18691, 18633, 18406, 18237, 18179, 18068, 17952, 17841,
    17783, 17725, 17498, 17445, 17329, 17271, 17160, 17044, 16933, 16875, 16822, 16817,
    16595, 16590, 16537, 16421, 16368, 16363, 16252, 16141, 16136, 16025, 15967, 15909,
    15682, 15629, 15576, 15513, 15455, 15349, 15344, 15228, 15117, 15059, 15006, 15001,
    14953, 14779, 14774, 14721, 14605, 14552, 14547, 14436, 14325, 14320, 14209, 14151,
    14093, 13866, 13813, 13760, 13697, 13639, 13533, 13528, 13412, 13301, 13243, 13190,
    13185, 13137, 12963, 12958, 12905, 12789, 12736, 12731, 12673, 12620, 12509, 12504,
    12393, 12335, 12277, 11997, 11944, 11881, 11838, 11717, 11712, 11611, 11485, 11384,
    11374, 11321, 11215, 11157, 11147, 11089, 10920, 10761, 10693, 10128, 9969, 9901,
    9505, 8206, 7979, 7752, 7583, 7525, 7477, 7129, 6569, 6337, 5661, 4753,
    4362, 4135, 3908, 3681, 3454, 3227, 3000, 2773, 2493, 1870, 1643, 1585,
    1416, 1189, 0,
];

/// Words of a bit-packed polynomial of degree < 2·DEG.
const WORDS: usize = (2 * DEG).div_ceil(64) + 1;

/// Bit-packed polynomial over GF(2): bit `i` of word `i / 64` is the coefficient of `x^i`.
type Poly = Vec<u64>;

/// Read 64 bits of `a` starting at bit `pos` (bits past the end are 0).
#[inline]
fn get64(a: &[u64], pos: usize) -> u64 {
    let (w, s) = (pos / 64, pos % 64);
    let lo = a.get(w).copied().unwrap_or(0) >> s;
    if s == 0 {
        lo
    } else {
        lo | a.get(w + 1).copied().unwrap_or(0) << (64 - s)
    }
}

/// XOR the `width` low bits of `v` into `a` at bit `pos`.
#[inline]
fn xor_at(a: &mut [u64], pos: usize, v: u64) {
    let (w, s) = (pos / 64, pos % 64);
    a[w] ^= v << s;
    if s != 0 {
        let hi = v >> (64 - s);
        if hi != 0 {
            a[w + 1] ^= hi;
        }
    }
}

/// Reduce `a` (degree < 2·DEG) modulo `P`, in place. Bits are folded from the top down in
/// pieces narrow enough that a piece's images all land below it.
fn reduce(a: &mut [u64]) {
    let lower = &P_EXPONENTS[1..];
    let width = (DEG - lower[0] as usize).min(64);
    let mask = if width == 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    let mut top = a.len() * 64;
    while top > DEG {
        let lo = top.saturating_sub(width).max(DEG);
        let v = get64(a, lo) & mask >> (width - (top - lo));
        if v != 0 {
            xor_at(a, lo, v);
            let shift = lo - DEG;
            for &e in lower {
                xor_at(a, shift + e as usize, v);
            }
        }
        top = lo;
    }
}

/// `a²` (over GF(2) a square only spreads the bits).
fn square(a: &[u64], out: &mut [u64]) {
    #[inline]
    fn spread(x: u32) -> u64 {
        let mut x = x as u64;
        x = (x | x << 16) & 0x0000_ffff_0000_ffff;
        x = (x | x << 8) & 0x00ff_00ff_00ff_00ff;
        x = (x | x << 4) & 0x0f0f_0f0f_0f0f_0f0f;
        x = (x | x << 2) & 0x3333_3333_3333_3333;
        (x | x << 1) & 0x5555_5555_5555_5555
    }
    out.fill(0);
    for (i, &w) in a.iter().enumerate() {
        if w != 0 {
            out[2 * i] = spread(w as u32);
            out[2 * i + 1] = spread((w >> 32) as u32);
        }
    }
}

/// `x^k mod P`.
pub(super) fn x_pow_mod_p(k: u64) -> Poly {
    let mut r: Poly = vec![0; WORDS];
    // Start from the largest power of x below the degree given by k's top bits, then square
    // and multiply by x for each remaining bit.
    let bits = 64 - k.leading_zeros() as usize;
    let mut used = 0;
    let mut e = 0u64;
    while used < bits && (e << 1 | (k >> (bits - used - 1) & 1)) < DEG as u64 {
        e = e << 1 | (k >> (bits - used - 1) & 1);
        used += 1;
    }
    r[e as usize / 64] = 1 << (e % 64);
    let mut sq: Poly = vec![0; WORDS];
    for i in used..bits {
        square(&r[..DEG.div_ceil(64)], &mut sq);
        reduce(&mut sq);
        std::mem::swap(&mut r, &mut sq);
        if k >> (bits - i - 1) & 1 == 1 {
            // Multiply by x: shift left one bit, then fold the x^DEG term if it appeared.
            let mut carry = 0;
            for w in r.iter_mut() {
                let c = *w >> 63;
                *w = *w << 1 | carry;
                carry = c;
            }
            reduce(&mut r);
        }
    }
    r.truncate(DEG.div_ceil(64));
    r
}

/// `acc ^= src` (the same length), in AVX2 registers where the CPU has them.
#[inline]
fn xor_into(acc: &mut [u64], src: &[u64]) {
    #[inline(always)]
    fn body(acc: &mut [u64], src: &[u64]) {
        for (a, s) in acc.iter_mut().zip(src) {
            *a ^= *s;
        }
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        fn avx2(acc: &mut [u64], src: &[u64]) {
            body(acc, src)
        }
        // SAFETY: the CPU has AVX2, checked just above.
        unsafe { avx2(acc, src) };
        return;
    }
    body(acc, src)
}

impl Mt19937 {
    /// Replace the state block `W_b` (a block that followed a twist) with `W_{b + 624·blocks}`.
    fn jump_blocks(&mut self, blocks: u64) {
        let r = x_pow_mod_p(blocks * MT_N as u64);
        // The sequence x_b … x_{b + DEG − 1 + 623}: window i is seq[i..i + 624].
        let mut seq = vec![0u32; DEG + MT_N];
        seq[..MT_N].copy_from_slice(&self.state);
        for j in 0..DEG {
            seq[j + MT_N] = seq[j + MT_M] ^ Mt19937::twist(seq[j], seq[j + 1]);
        }
        // The windows as u64 pairs, from even and from odd offsets, so every window is a
        // slice of 312 u64.
        let pairs = |from: usize| -> Vec<u64> {
            seq[from..]
                .chunks_exact(2)
                .map(|p| p[0] as u64 | (p[1] as u64) << 32)
                .collect()
        };
        let (even, odd) = (pairs(0), pairs(1));
        let mut acc = [0u64; MT_N / 2];
        for (wi, &w) in r.iter().enumerate() {
            let mut w = w;
            while w != 0 {
                let i = wi * 64 + w.trailing_zeros() as usize;
                w &= w - 1;
                let src = if i.is_multiple_of(2) { &even } else { &odd };
                xor_into(&mut acc, &src[i / 2..i / 2 + MT_N / 2]);
            }
        }
        for (j, a) in acc.iter().enumerate() {
            self.state[2 * j] = *a as u32;
            self.state[2 * j + 1] = (*a >> 32) as u32;
        }
    }

    /// Advance by `n` outputs, as `n` calls of `next_u32` would, in time independent of `n`
    /// (a few milliseconds): leaves exactly the state sequential calls leave.
    pub(super) fn jump(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        // Position of the next output in the block: `next` (1..=624 after an output, the fresh
        // state counts as 624: its first output follows a twist).
        let pos = if self.left == 1 {
            MT_N as u64
        } else {
            self.next as u64
        };
        let q = pos + n;
        // Twists needed so that the target lies at 1..=624 in its block.
        let blocks = (q - 1) / MT_N as u64;
        if blocks > 0 {
            // One real twist first: the fresh seeding block is not one that follows a twist.
            self.next_state();
            if blocks > 1 {
                self.jump_blocks(blocks - 1);
            }
        }
        let next = (q - blocks * MT_N as u64) as usize;
        self.next = next;
        self.left = MT_N + 1 - next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Berlekamp–Massey over GF(2): the shortest recurrence `s[n] = Σ_{i=1..L} c_i s[n−i]`,
    /// returned as the characteristic polynomial `x^L + Σ c_i x^{L−i}` (bit-packed).
    fn berlekamp_massey(s: &[bool]) -> Poly {
        let n = s.len();
        let words = n / 64 + 2;
        // rev bit j = s[n − 1 − j], so s[t − i] for i = 0.. is rev from bit n − 1 − t on.
        let mut rev = vec![0u64; words + 1];
        for (j, &b) in s.iter().rev().enumerate() {
            if b {
                rev[j / 64] |= 1 << (j % 64);
            }
        }
        let mut c = vec![0u64; 2 * words + 2];
        let mut b = vec![0u64; 2 * words + 2];
        c[0] = 1;
        b[0] = 1;
        let (mut l, mut m) = (0usize, 1usize);
        for t in 0..n {
            // d = Σ_{i=0..L} c_i s[t − i]
            let base = n - 1 - t;
            let mut d = 0u64;
            for (k, cw) in c[..=l / 64].iter().enumerate() {
                d ^= cw & get64(&rev, base + 64 * k);
            }
            if d.count_ones().is_multiple_of(2) {
                m += 1;
                continue;
            }
            let old = c.clone();
            // c += x^m b
            for (k, &bw) in b[..=words].iter().enumerate() {
                if bw != 0 {
                    xor_at(&mut c, k * 64 + m, bw);
                }
            }
            if 2 * l <= t {
                l = t + 1 - l;
                b = old;
                m = 1;
            } else {
                m += 1;
            }
        }
        // Reverse: coefficient of x^{L−i} is c_i.
        let mut p = vec![0u64; l / 64 + 1];
        for i in 0..=l {
            if c[i / 64] >> (i % 64) & 1 == 1 {
                let e = l - i;
                p[e / 64] |= 1 << (e % 64);
            }
        }
        p
    }

    fn same(a: &Mt19937, b: &Mt19937) -> bool {
        a.state == b.state && a.next == b.next && a.left == b.left
    }

    /// Some k: the block edges, one state's worth, a million and seven, and pseudo-random ones.
    fn ks() -> Vec<u64> {
        let mut ks = vec![
            0,
            1,
            2,
            623,
            624,
            625,
            1247,
            1248,
            1249,
            DEG as u64,
            3 * DEG as u64 + 11,
            1_000_007,
        ];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..6 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ks.push(x % 3_000_000);
        }
        ks
    }

    #[test]
    fn jump_equals_stepping_from_any_position() {
        for pre in [0u64, 1, 300, 622, 623, 624, 625, 1000, 1248] {
            let mut start = Mt19937::new(20_260_101);
            for _ in 0..pre {
                start.next_u32();
            }
            for k in ks() {
                let mut stepped = start.clone();
                for _ in 0..k {
                    stepped.next_u32();
                }
                let mut jumped = start.clone();
                jumped.jump(k);
                assert!(same(&jumped, &stepped), "pre {pre} k {k}");
                for _ in 0..700 {
                    assert_eq!(jumped.next_u32(), stepped.next_u32(), "pre {pre} k {k}");
                }
            }
        }
    }

    #[test]
    fn jump_after_a_whole_block_discard_and_jumps_compose() {
        // discard leaves `left == 1, next == 624` after skipping whole blocks.
        let mut a = Mt19937::new(1);
        a.discard(624 * 5);
        assert_eq!((a.left, a.next), (1, MT_N));
        let mut b = a.clone();
        a.jump(777_777);
        b.discard(777_777);
        assert!(same(&a, &b));
        // Two jumps equal one.
        let mut c = Mt19937::new(2);
        let mut d = c.clone();
        c.jump(123_456_789);
        c.jump(987_654);
        d.jump(123_456_789 + 987_654);
        assert!(same(&c, &d));
        assert_eq!(c.next_u32(), d.next_u32());
    }

    #[test]
    fn x_pow_mod_p_agrees_with_repeated_multiplication_by_x() {
        // x^k for k below the degree is the monomial; above, each step multiplies by x.
        let mut r = x_pow_mod_p(DEG as u64 - 1);
        assert_eq!(r[(DEG - 1) / 64], 1 << ((DEG - 1) % 64));
        for k in DEG as u64..DEG as u64 + 130 {
            r.resize(WORDS, 0);
            let mut carry = 0;
            for w in r.iter_mut() {
                let c = *w >> 63;
                *w = *w << 1 | carry;
                carry = c;
            }
            reduce(&mut r);
            r.truncate(DEG.div_ceil(64));
            assert_eq!(r, x_pow_mod_p(k), "k {k}");
        }
    }

    /// This thread's CPU time in seconds (the measurement below does not depend on the load
    /// other processes put on the machine).
    fn cpu_seconds() -> f64 {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a plain syscall writing into `t`.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
        t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
    }

    /// The cost of one jump in CPU time, printed (`cargo test --release --lib jump_cost --
    /// --ignored --nocapture`); each result is checked against running the generator.
    #[test]
    #[ignore = "a measurement: run with --release --ignored --nocapture"]
    fn jump_cost() {
        let run = 1u64 << 24;
        let mut g = Mt19937::new(5);
        let t = cpu_seconds();
        let mut ran = g.clone();
        ran.discard(run);
        let ns = (cpu_seconds() - t) * 1e9 / run as f64;
        eprintln!("running through: {ns:.2} ns per output");
        for k in [1u64 << 21, 1 << 28, 1 << 40, u64::MAX / 2] {
            let reps = 20;
            let t = cpu_seconds();
            for _ in 0..reps {
                let mut h = g.clone();
                h.jump(k);
                std::hint::black_box(&h);
            }
            let ms = (cpu_seconds() - t) * 1e3 / reps as f64;
            eprintln!("jump by {k}: {ms:.2} ms CPU");
        }
        g.jump(run);
        assert!(same(&g, &ran));
    }

    #[test]
    fn p_is_the_minimal_polynomial_of_the_output() {
        let mut g = Mt19937::new(4357);
        let s: Vec<bool> = (0..2 * DEG + 200).map(|_| g.next_u32() & 1 == 1).collect();
        let p = berlekamp_massey(&s);
        let exps: Vec<usize> = (0..p.len() * 64)
            .rev()
            .filter(|&i| p[i / 64] >> (i % 64) & 1 == 1)
            .collect();
        let want: Vec<usize> = P_EXPONENTS.iter().map(|&e| e as usize).collect();
        assert_eq!(exps, want);
    }
}
