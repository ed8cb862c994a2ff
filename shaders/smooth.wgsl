// Smooth activations and their derivatives for f32 (vec4 lanes), built from
// +, -, *, / and bit operations only. The backends' exp/log/tanh/sin are not
// accurate enough, and fma() is not fused, so every transcendental here is a
// Cody-Waite range reduction plus a fitted polynomial, carried where needed
// as hi + lo pairs (TwoProduct with a Veltkamp split, Fast2Sum, TwoSum).
// Pure functions, no bindings; every private name is prefixed smooth_.
//
// Error against the f64 reference (src/exact.rs), in ULP of the result
// (subnormal results in units of 2^-149). "sample" = 2048 random inputs per
// sign and exponent (1,044,480) plus 2M-point sweeps of the hard ranges
// (listed below); "exhaustive" = all 2^32 inputs.
//
// | function              | lavapipe (Vulkan)            | llvmpipe GL                  | bound |
// |-----------------------|------------------------------|------------------------------|-------|
// | sigmoid               | 0.80 at -87.68245  (sample)  | 0.80 at -87.68245  (sample)  | 2     |
// | sigmoid'              | 1.13 at -16.217825 (sample)  | 1.13 at -16.217825 (sample)  | 4     |
// | tanh                  | 1.41 at -8.491854  (sample)  | 1.41 at -8.491854  (sample)  | 2     |
// | tanh'                 | 1.17 at 8.11417    (sample)  | 1.17 at 8.11417    (sample)  | 4     |
// | silu                  | 1.37 at -0.28228 (exhaustive)  | 1.37 at -0.28228 (exhaustive)  | 2     |
// | silu'                 | 1.70 at -1.5266514 (sample)  | 1.70 at -1.5266514 (sample)  | 4     |
// | gelu                  | 1.95 at -1.38419 (exhaustive)  | 1.95 at -1.38419 (exhaustive)  | 2     |
// | gelu'                 | 1.95 at -1.057969  (sample)  | 1.95 at -1.057969  (sample)  | 4     |
// | gelu_tanh             | 1.23 at -9.892084  (sample)  | 1.23 at -9.892084  (sample)  | 2     |
// | gelu_tanh'            | 2.08 at -0.7535401 (sample)  | 2.08 at -0.7535401 (sample)  | 4     |
// | softplus (b=1, t=20)  | 1.57 at -0.0043576024 (sample) | same                       | 2     |
// | softplus (b=2 / b=0.5)| 1.45 at 1.0415236e-4 / 1.46 at 4.0087893e-4 (sample) | same | 2 |
// | softplus'             | 0.73 at -87.858696 (sample)  | 0.73 at -87.858696 (sample)  | 4     |
// | elu (alpha=1)         | 1.05 at -0.27549538 (sample) | 1.05 at -0.27549538 (sample) | 2     |
// | elu (alpha=1.6732632) | 1.31 at -0.34615448 (sample) | 1.69 at -0.30354053 (sample) | 2     |
// | elu'                  | 0.80 at -87.68245  (sample)  | 0.80 at -87.68245  (sample)  | 4     |
// | sine (omega=1, 30)    | 0.70 at -21.12721 (w=30)     | 0.70 at -21.12721 (w=30)     | 2     |
// | sine' (omega=1, 30)   | 1.52 at -18.7111 (w=30)      | 1.47 at -0.2435183 (w=30)    | 4     |
//
// Sweeps: sigmoid/silu/silu' [-30,30], [-1.6,-1], [-110,-80]; tanh [-10,10],
// [-1e-3,1e-3]; tanh' [-60,-40]; gelu(') [-15,15], [-1.1,-0.4], [-14.5,-12];
// gelu_tanh(') [-12,12], [-1.1,-0.4], [-11,-9]; softplus [-110,-80]; elu
// [-0.01,0]; sine(') |omega x| <= 7000 (omega = 1) and |x| <= 200
// (omega = 30). The two backends compile the same WGSL to different
// roundings in places (elu and sine' differ above), so both were measured.
// Special values (85 cases: +-0, +-inf, NaN, saturation such as
// sigmoid(30) = 1, tanh(10) = 1, silu(100) = 100, gelu(-20) = -0) are exact
// on both backends.
//
// sine: the bound holds for |t| = |omega x| <= 6433 (j = round(2t/pi) below
// 2^12, where the 12-bit Cody-Waite heads of pi/2 multiply exactly). Above
// that the reduction loses the quadrant: results stay finite and within
// [-1, 1] (sine': [-|omega|, |omega|]) but drift away from sin t: measured
// 3.1 ULP (sine) and 18.5 ULP (sine') for |t| in (6433, 8192], then
// arbitrary. sine(+-inf) and sine'(+-inf) are NaN.
//
// Division: `/` measured correctly rounded on both backends (4M random
// quotients, subnormal results included). ldexp is not used: on lavapipe it
// mis-rounds subnormal results, on llvmpipe GL it flushes subnormal inputs
// and results. Powers of two are built from exponent bits (smooth_pow2).
//
// The compilers treat float arithmetic as reassociable: (1 - (1 + t)) + t
// folds to 0, (a + b) - a to b, literal constants move across sums (a small
// constant tail is added to a large term first and vanishes), a b + a c is
// factored, c (x x) becomes (c x) x, and x != x is false. Every compensated
// step below therefore goes through a barrier, max(v, bound) with a bound
// never reached (smooth_k), and constants are split by hand.
//
// ---------------------------------------------------------------------------
// Shared arithmetic.
// ---------------------------------------------------------------------------

struct smooth_pair {
    hi: vec4<f32>,
    lo: vec4<f32>,
}

// A barrier: the backends' compilers treat float arithmetic as
// reassociable (they fold (a + b) - a to b, move literal constants across
// sums and factor a b + a c), which destroys error-free transformations.
// They cannot see through max() with a bound that is never reached.
fn smooth_k(v: vec4<f32>) -> vec4<f32> {
    return max(v, vec4<f32>(-3.0e38));
}

// Veltkamp split (constant 2^12 + 1): hi holds the top 12 bits, hi + lo == a
// exactly (|a| < 2^115).
fn smooth_split(a: vec4<f32>) -> smooth_pair {
    let c = a * 4097.0;
    let hi = c - (c - a);
    return smooth_pair(hi, a - hi);
}

// Dekker's TwoProduct on pre-split operands: hi + lo == a * b exactly (no
// underflow). fma() rounds twice on these backends, so it cannot do this.
fn smooth_two_prod_split(a: vec4<f32>, sa: smooth_pair, b: vec4<f32>, sb: smooth_pair) -> smooth_pair {
    let p = a * b;
    let e = ((smooth_k(sa.hi * sb.hi - p) + sa.hi * sb.lo) + sa.lo * sb.hi) + sa.lo * sb.lo;
    return smooth_pair(p, e);
}

fn smooth_two_prod(a: vec4<f32>, b: vec4<f32>) -> smooth_pair {
    return smooth_two_prod_split(a, smooth_split(a), b, smooth_split(b));
}

// 2^k from exponent bits, k integral in [-126, 127].
fn smooth_pow2(k: vec4<f32>) -> vec4<f32> {
    return bitcast<vec4<f32>>(vec4<u32>(vec4<i32>(k) + vec4<i32>(127)) << vec4<u32>(23u));
}

// y * 2^k with a single rounding, k integral in [-190, 127]: where the
// result may be subnormal the first multiply stays normal (exact) and only
// the second, by 2^-64, rounds.
fn smooth_scale(y: vec4<f32>, k: vec4<f32>) -> vec4<f32> {
    let low = k < vec4<f32>(-63.0);
    let s = smooth_pow2(select(k, k + 64.0, low));
    return (y * s) * select(vec4<f32>(1.0), vec4<f32>(0x1p-64f), low);
}

const smooth_negative_zero: u32 = 0x80000000u;

// NaN test on the bits: the backends fold x != x to false.
fn smooth_is_nan(x: vec4<f32>) -> vec4<bool> {
    return (bitcast<vec4<u32>>(x) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u);
}

fn smooth_neg_zero() -> vec4<f32> {
    return bitcast<vec4<f32>>(vec4<u32>(smooth_negative_zero));
}

// e^(a + a_lo) = 2^k (1 + t + t_lo), |t| < 0.42, for |a| <= 180.
// Cody-Waite reduction a = k ln2 + r: ln2 split as a 15-bit head (k * head
// is exact for |k| < 512, and a - k * head is exact by Sterbenz) plus an f32
// tail; the rounding of r is kept in r_lo (Fast2Sum). e^r - 1 - r = r^2 q(r),
// q of degree 4: least-squares fit of (e^r - 1 - r) / r^2 on
// [-ln2/2, ln2/2] with the coefficients rounded to f32 one at a time (each
// remaining one refitted), relative error 2^-26.7 in q, below 2^-30 in e^r;
// the rounding of r^2 q (2^-28 of e^r) dominates.
fn smooth_exp_core(a: vec4<f32>, a_lo: vec4<f32>) -> smooth_pair_k {
    let k = round(a * 0x1.715476p+0f);
    let r1 = a - k * 0x1.62e4p-1f;
    let c = k * 0x1.7f7d1cp-20f - a_lo;
    let r = r1 - c;
    let r_lo = smooth_k(r1 - r) - c;
    let q = 0x1p-1f + r * (0x1.5554dep-3f + r * (0x1.555584p-5f + r * (0x1.120acp-7f + r * (0x1.6c8b9ep-10f))));
    let w = (r * r) * q + r_lo;
    let t = r + w;
    return smooth_pair_k(t, smooth_k(r - t) + w, k);
}

// 1 + t + t_lo as m + m_lo (Fast2Sum, |t| < 1/2). The max() calls are
// barriers: the compiler treats float arithmetic as reassociable and folds
// (1 - (1 + t)) + t to 0, or rewrites 1 + (r + w) as (1 + r) + w, whenever a
// literal constant takes part; it cannot see through a max() whose bound
// is never reached.
fn smooth_one_plus(t: vec4<f32>, t_lo: vec4<f32>) -> smooth_pair {
    let tk = max(t, vec4<f32>(-1.0));
    let m = max(1.0 + tk, vec4<f32>(0.25));
    return smooth_pair(m, (smooth_k(1.0 - m) + tk) + t_lo);
}

// Knuth's TwoSum, a + b == hi + lo exactly; the barrier on the sum keeps
// (a + b) - a from being folded to b.
fn smooth_two_sum(a: vec4<f32>, b: vec4<f32>) -> smooth_pair {
    let s = max(a + b, vec4<f32>(-3.0e38));
    let bb = s - a;
    return smooth_pair(s, smooth_k(a - (s - bb)) + (b - bb));
}

// a (hi + lo), rounding once after the small product is added. The copy of
// a behind max() keeps the compiler from factoring a hi + a lo into
// a (hi + lo), which would round hi + lo first.
fn smooth_mul_hl(a: vec4<f32>, hi: vec4<f32>, lo: vec4<f32>) -> vec4<f32> {
    return a * hi + max(a, vec4<f32>(-3.0e38)) * lo;
}

// (a + a_lo)(b + b_lo) to one rounding after the cross terms.
fn smooth_mul_pp(a: vec4<f32>, a_lo: vec4<f32>, b: vec4<f32>, b_lo: vec4<f32>) -> vec4<f32> {
    return a * b + (max(a, vec4<f32>(-3.0e38)) * b_lo + a_lo * max(b, vec4<f32>(-3.0e38)));
}

struct smooth_pair_k {
    hi: vec4<f32>,
    lo: vec4<f32>,
    k: vec4<f32>,
}



// (n + n_lo) / d, d a single f32: q0 plus the exact residual n - q0 d
// (TwoProduct; n - q0 d_hi is exact by Sterbenz) over d.
fn smooth_div2(n: vec4<f32>, n_lo: vec4<f32>, d: vec4<f32>) -> smooth_pair {
    let q0 = n / d;
    let p = smooth_two_prod(q0, d);
    let rho = smooth_k(n - p.hi);
    return smooth_pair(q0, (((rho - p.lo) + n_lo) / d));
}

// The sigmoid of v + v_lo from one e^-|v| = E = 2^k m:
// sigmoid(|v|) = 1 / (1 + E), sigmoid(-|v|) = 2^k m / (1 + E).
// Each quotient is q0 = n / B (B = fl(1 + E) in [1, 2]) plus the exact
// residual n - q0 (1 + E) over B: n - q0 is exact (Sterbenz, q0 in
// [n/2, n]) and q0 E comes from TwoProduct, so hi + lo carries the quotient
// to the accuracy of E (2^-26).
struct smooth_sig_e {
    m: vec4<f32>,
    m_lo: vec4<f32>,
    e: vec4<f32>,
    e_lo: vec4<f32>,
    rb: vec4<f32>,
    k: vec4<f32>,
}

fn smooth_sigmoid_e(v: vec4<f32>, v_lo: vec4<f32>) -> smooth_sig_e {
    // e^-120 = 2^-173: below it every result here is 0 or saturated.
    let neg = v < vec4<f32>(0.0);
    let a = max(-abs(v), vec4<f32>(-120.0));
    let a_lo = select(-v_lo, v_lo, neg);
    let ex = smooth_exp_core(a, a_lo);
    let m = smooth_one_plus(ex.hi, ex.lo);
    // Below 2^-126, E no longer changes 1 + E.
    let p2 = smooth_pow2(max(ex.k, vec4<f32>(-126.0)));
    let e = m.hi * p2;
    return smooth_sig_e(m.hi, m.lo, e, m.lo * p2, 1.0 / (1.0 + e), ex.k);
}

fn smooth_sig_quotient(n: vec4<f32>, n_lo: vec4<f32>, s: smooth_sig_e) -> smooth_pair {
    let q0 = n * s.rb;
    let pe = smooth_two_prod(q0, s.e);
    let d0 = max(n - q0, vec4<f32>(-1.0));
    let rho = (smooth_k(d0 - pe.hi) - pe.lo) + (n_lo - q0 * s.e_lo);
    // rb behind max(): rho rb + q0 must not be refactored as (n + rho) rb.
    return smooth_pair(q0, rho * max(s.rb, vec4<f32>(0.25)));
}

struct smooth_sig {
    big: vec4<f32>,       // sigmoid(|v|) = big + big_lo, in [1/2, 1]
    big_lo: vec4<f32>,
    small: vec4<f32>,     // sigmoid(-|v|) = (small + small_lo) 2^k
    small_lo: vec4<f32>,
    k: vec4<f32>,
}

fn smooth_sigmoid_both(v: vec4<f32>, v_lo: vec4<f32>) -> smooth_sig {
    let s = smooth_sigmoid_e(v, v_lo);
    let big = smooth_sig_quotient(vec4<f32>(1.0), vec4<f32>(0.0), s);
    let small = smooth_sig_quotient(s.m, s.m_lo, s);
    return smooth_sig(big.hi, big.lo, small.hi, small.lo, max(s.k, vec4<f32>(-190.0)));
}

// sigmoid(v + v_lo) = (hi + lo) 2^k: one quotient, numerator picked by sign.
fn smooth_sigmoid_one(v: vec4<f32>, v_lo: vec4<f32>) -> smooth_pair_k {
    let s = smooth_sigmoid_e(v, v_lo);
    let neg = v < vec4<f32>(0.0);
    let q = smooth_sig_quotient(select(vec4<f32>(1.0), s.m, neg), select(vec4<f32>(0.0), s.m_lo, neg), s);
    return smooth_pair_k(q.hi, q.lo, select(vec4<f32>(0.0), max(s.k, vec4<f32>(-190.0)), neg));
}

fn smooth_with_sign_of(magnitude: vec4<f32>, x: vec4<f32>) -> vec4<f32> {
    let sign = bitcast<vec4<u32>>(x) & vec4<u32>(0x80000000u);
    return bitcast<vec4<f32>>(bitcast<vec4<u32>>(magnitude) | sign);
}

fn smooth_sign_set(x: vec4<f32>) -> vec4<bool> {
    return (bitcast<vec4<u32>>(x) & vec4<u32>(0x80000000u)) != vec4<u32>(0u);
}

// 2^k - 1 + 2^k (t + t_lo) = expm1 as hi + lo (Fast2Sum: |2^k - 1| >= |2^k t|
// for k != 0, and the sum is exact for k = 0), k in [-60, 0].
fn smooth_expm1_parts(ex: smooth_pair_k) -> smooth_pair {
    let p2 = smooth_pow2(ex.k);
    let u = max(p2 - 1.0, vec4<f32>(-2.0));
    let v = p2 * ex.hi;
    let em = max(u + v, vec4<f32>(-2.0));
    return smooth_pair(em, (smooth_k(u - em) + v) + p2 * ex.lo);
}

// ---------------------------------------------------------------------------
// sigmoid
// ---------------------------------------------------------------------------

fn sigmoid_f32(x: vec4<f32>) -> vec4<f32> {
    let s = smooth_sigmoid_one(x, vec4<f32>(0.0));
    return select(smooth_scale(s.hi + s.lo, s.k), x, smooth_is_nan(x));
}

// sigmoid(x) sigmoid(-x), both from the same E.
fn sigmoid_derivative_f32(x: vec4<f32>) -> vec4<f32> {
    let s = smooth_sigmoid_both(x, vec4<f32>(0.0));
    let p = smooth_mul_pp(s.big, s.big_lo, s.small, s.small_lo);
    return select(smooth_scale(p, s.k), x, smooth_is_nan(x));
}

// ---------------------------------------------------------------------------
// tanh
// ---------------------------------------------------------------------------

// |tanh x| = -expm1(-2|x|) / (2 + expm1(-2|x|)): no cancellation near 0;
// the sign is copied from x, so tanh(-0) = -0 and tanh(x) = x for tiny x.
fn tanh_f32(x: vec4<f32>) -> vec4<f32> {
    let a = max(-2.0 * abs(x), vec4<f32>(-40.0));
    let em = smooth_expm1_parts(smooth_exp_core(a, vec4<f32>(0.0)));
    let den = max(2.0 + em.hi, vec4<f32>(1.0));
    let den_lo = (smooth_k(2.0 - den) + em.hi) + em.lo;
    let q0 = -em.hi / den;
    let p = smooth_two_prod(q0, den);
    let rho = smooth_k(-em.hi - p.hi);
    let q = q0 + (((rho - p.lo) - em.lo) - q0 * den_lo) / den;
    return select(smooth_with_sign_of(q, x), x, smooth_is_nan(x));
}

// 1 - tanh^2 = 4 sigmoid(2|x|) sigmoid(-2|x|).
fn tanh_derivative_f32(x: vec4<f32>) -> vec4<f32> {
    let s = smooth_sigmoid_both(2.0 * min(abs(x), vec4<f32>(64.0)), vec4<f32>(0.0));
    let p = smooth_mul_pp(s.big, s.big_lo, s.small, s.small_lo);
    return select(smooth_scale(4.0 * p, s.k), x, smooth_is_nan(x));
}

// ---------------------------------------------------------------------------
// SiLU
// ---------------------------------------------------------------------------

// x sigmoid(x), the quotient's residual taken with a rounded q0 E (2^-26
// relative, at most about 0.2 ULP here) instead of TwoProduct: 12 fewer
// operations on the cost-critical path.
fn silu_f32(x: vec4<f32>) -> vec4<f32> {
    let s = smooth_sigmoid_e(x, vec4<f32>(0.0));
    let neg = x < vec4<f32>(0.0);
    let n = select(vec4<f32>(1.0), s.m, neg);
    let q0 = n * s.rb;
    let rho = (max(n - q0, vec4<f32>(-1.0)) - q0 * s.e) + (select(vec4<f32>(0.0), s.m_lo, neg) - q0 * s.e_lo);
    let lo = rho * max(s.rb, vec4<f32>(0.25));
    let k = select(vec4<f32>(0.0), max(s.k, vec4<f32>(-190.0)), neg);
    // x * q0 rounds once, then adding x * lo rounds to the result.
    let y = smooth_scale(smooth_mul_hl(x, q0, lo), k);
    let saturated = select(y, x, x > vec4<f32>(90.0));
    return select(saturated, smooth_neg_zero(), x < vec4<f32>(-120.0));
}

// silu' = sigmoid(x) (1 + x sigmoid(-x)). For x < 0 the bracket cancels at
// the root x0 = -1.2784645427610739; within 1/4 of it the derivative is
// (x - x0) p(x - x0) with x0 split into hi + lo (x - hi is exact by
// Sterbenz), p of degree 6: least-squares fit of silu'(x0 + d) / d on
// [-1/4, 1/4], coefficients rounded to f32 one at a time, each remaining
// one refitted (relative error 2^-26.7).
fn silu_derivative_f32(x: vec4<f32>) -> vec4<f32> {
    let s = smooth_sigmoid_both(x, vec4<f32>(0.0));
    let neg = x < vec4<f32>(0.0);
    // x >= 0: big (1 + x small 2^k), x small 2^k <= 0.28.
    let p2 = smooth_pow2(max(s.k, vec4<f32>(-126.0)));
    let xs = x * ((s.small + s.small_lo) * p2);
    let u = max(1.0 + xs, vec4<f32>(0.5));
    let u_lo = smooth_k(1.0 - u) + xs;
    let pos = smooth_mul_pp(s.big, s.big_lo, u, u_lo);
    // x < 0: 2^k small (1 + x big), 1 + x big from TwoProduct and Fast2Sum.
    let xb = smooth_two_prod(x, s.big);
    let c = min(1.0 + xb.hi, vec4<f32>(2.0));
    let c_lo = smooth_k(select(smooth_k(1.0 - c) + xb.hi, smooth_k(xb.hi - c) + 1.0, xb.hi < vec4<f32>(-1.0))) + (xb.lo + x * s.big_lo);
    let negv = smooth_scale(smooth_mul_pp(s.small, s.small_lo, c, c_lo), s.k);
    // Near the root; the low part of x0 enters through a product, which
    // keeps the compiler from folding it into the head.
    let d = x - -0x1.474974p+0f;
    let p = 0x1.be141p-3f + d * (0x1.2c5634p-3f + d * (0x1.353fbap-6f + d * (-0x1.f2d2e8p-7f + d * (-0x1.b1732cp-8f + d * (0x1.2a6564p-13f + d * (0x1.c310f4p-11f))))));
    let near = d * p - 0x1.bdf6fap-27f * p;
    var y = select(pos, negv, neg);
    y = select(y, near, abs(d) <= vec4<f32>(0.25));
    y = select(y, vec4<f32>(1.0), x > vec4<f32>(90.0));
    y = select(y, smooth_neg_zero(), x < vec4<f32>(-120.0));
    return select(y, x, smooth_is_nan(x));
}

// ---------------------------------------------------------------------------
// GELU, erf form
// ---------------------------------------------------------------------------

// With z = |x| and Q(z) = Phi(-z) = erfc(z / sqrt 2) / 2:
// gelu(x) = -z Q(z) for x < 0 and x - x Q(x) for x >= 0.
// Q(z) = e^(-z^2/2) G(w) / (K + z), K = 3/2, w = K / (K + z) in (0.09, 1]:
// G(w) = (K + z) Q(z) e^(z^2/2) is smooth and bounded (0.40 .. 0.75) and
// barely depends on w (|w G'/G| <= 0.32), so the rounding of w costs little;
// G is a degree-11 polynomial in w - 1/2, least-squares fit (relative error
// 2^-26.1, f32 coefficients rounded one at a time, each remaining one
// refitted) to the f64 reference on z in [0, 14.5].
// z^2 / 2 comes exactly from the Veltkamp halves of z, e^(-z^2/2) =
// 2^k (m + m_lo) from the shared exp core; z m and (z m) G are TwoProducts,
// and the quotient by K + z (= d + d_lo, Fast2Sum) rounds once before the
// low parts are added. The f32 Horner evaluation of G (alternating
// coefficients, |u| up to 1/2) errs by up to 2^-24.8 and is the largest
// term after the two final roundings; the worst inputs are in the tail
// (x near -12.9). Cost is what limits this design: dropping either
// TwoProduct measured 2.36 ULP.
struct smooth_gelu_parts {
    y: vec4<f32>,       // z Q(z)
    m: vec4<f32>,
    m_lo: vec4<f32>,
    g: vec4<f32>,
    g_lo: vec4<f32>,
    d: vec4<f32>,
    d_lo: vec4<f32>,
    k: vec4<f32>,
}

fn smooth_gelu_core(z: vec4<f32>, zs: smooth_pair) -> smooth_gelu_parts {
    // z^2 / 2 = zh^2 / 2 (exact: zh has 12 bits) + zh zl + zl^2 / 2.
    let a = -0.5 * (zs.hi * zs.hi);
    let a_lo = -(zs.hi * zs.lo + 0.5 * (zs.lo * zs.lo));
    let ex = smooth_exp_core(a, a_lo);
    let m = smooth_one_plus(ex.hi, ex.lo);
    let d = max(1.5 + z, vec4<f32>(1.0));
    let d_lo = smooth_k(max(z, vec4<f32>(1.5)) - d) + min(z, vec4<f32>(1.5));
    let rd = 1.0 / d;
    let u = 1.5 * rd - 0.5;
    let gs = u * (0x1.8f905p-2f + u * (-0x1.d700bcp-3f + u * (-0x1.25372ep-3f + u * (0x1.21074ep-2f + u * (-0x1.056252p-3f + u * (-0x1.3f5edep-3f + u * (0x1.63527ap-2f + u * (-0x1.10159ep-2f + u * (-0x1.06fbb2p-3f + u * (0x1.e61874p-2f + u * (-0x1.3d11dap-2f)))))))))));
    let g = max(0x1.3c144p-1f + gs, vec4<f32>(0.25));
    let g_lo = smooth_k(0x1.3c144p-1f - g) + gs;
    // (z m) G, exact up to the products of low parts.
    let ms = smooth_split(m.hi);
    let zm = smooth_two_prod_split(z, zs, m.hi, ms);
    let zm_lo = zm.lo + z * m.lo;
    let n = smooth_two_prod(zm.hi, g);
    let n_lo = n.lo + (zm.hi * g_lo + zm_lo * g);
    let q0 = n.hi / d;
    let y = q0 + (n_lo - q0 * d_lo) * rd;
    var out: smooth_gelu_parts;
    out.y = smooth_scale(y, ex.k);
    out.m = m.hi;
    out.m_lo = m.lo;
    out.g = g;
    out.g_lo = g_lo;
    out.d = d;
    out.d_lo = d_lo;
    out.k = ex.k;
    return out;
}

fn gelu_f32(x: vec4<f32>) -> vec4<f32> {
    let z = min(abs(x), vec4<f32>(14.5));
    let c = smooth_gelu_core(z, smooth_split(z));
    // x >= 0: x - z Q(z), z Q(z) <= x / 2.
    // Beyond |x| = 14.5, z Q(z) < 2^-150: x - 0 and -0 come out by themselves.
    let y = select(x - c.y, -c.y, smooth_sign_set(x));
    return select(y, x, smooth_is_nan(x));
}

// gelu' = Phi(x) + x phi(x): for x < 0, e^(-z^2/2) (G / (K + z) - z / sqrt(2 pi)),
// for x >= 0 one minus that. The bracket cancels at the root
// x0 = -0.7517915246935645, handled as in silu' (degree 7, |x - x0| <= 1/4,
// relative error 2^-26.3).
fn gelu_derivative_f32(x: vec4<f32>) -> vec4<f32> {
    let z = min(abs(x), vec4<f32>(14.5));
    let zs = smooth_split(z);
    let c = smooth_gelu_core(z, zs);
    let pq = smooth_div2(c.g, c.g_lo, c.d);
    // G / (K + z) with K + z = d + d_lo: subtract the d_lo share.
    let p_lo = pq.lo - pq.hi * c.d_lo / c.d;
    // Constants are split by hand: the compiler folds a Veltkamp split of a
    // literal to (c, 0).
    let zc = smooth_two_prod_split(z, zs, vec4<f32>(0x1.988454p-2f), smooth_pair(vec4<f32>(0x1.988p-2f), vec4<f32>(0x1.15p-16f)));
    let zc_lo = zc.lo + z * -0x1.857936p-27f;
    let b = smooth_two_sum(pq.hi, -zc.hi);
    let b_lo = b.lo + (p_lo - zc_lo);
    let e = smooth_mul_pp(c.m, c.m_lo, b.hi, b_lo);
    let eb = smooth_scale(e, c.k);
    var y = select(1.0 - eb, eb, smooth_sign_set(x));
    let d = x - -0x1.80ead2p-1f;
    let p = 0x1.b9d99p-2f + d * (0x1.8d9a94p-2f + d * (-0x1.2a31f4p-6f + d * (-0x1.d2fa68p-4f + d * (-0x1.e33766p-7f + d * (0x1.3e5354p-6f + d * (0x1.16a27ep-8f + d * (-0x1.2f7596p-9f)))))));
    y = select(y, d * p - 0x1.a03fd4p-27f * p, abs(d) <= vec4<f32>(0.25));
    y = select(y, vec4<f32>(1.0), x > vec4<f32>(14.5));
    y = select(y, smooth_neg_zero(), x < vec4<f32>(-14.5));
    return select(y, x, smooth_is_nan(x));
}

// ---------------------------------------------------------------------------
// GELU, tanh form
// ---------------------------------------------------------------------------

// gelu_tanh(x) = x sigmoid(v), v = 2u = A x + B x^3, A = 2 sqrt(2/pi),
// B = 0.044715 A. v must be exact to about 2^-27 absolute (sigmoid(v) has
// relative sensitivity 1 to v for v < 0), so x^2, B x^2, A + B x^2 and
// x (A + B x^2) are carried as hi + lo (TwoProduct, Fast2Sum), A and B split
// into f32 hi + lo.
// x (A + b x^2) as hi + lo, b given as f32 head, its Veltkamp halves and
// its f32 tail (split by hand: a literal's split would be folded).
fn smooth_gelu_tanh_poly(x: vec4<f32>, xs: smooth_pair, b: f32, b_h: f32, b_l: f32, b_lo: f32) -> smooth_pair {
    let s0 = smooth_two_prod_split(x, xs, x, xs);
    // min() keeps b (x x) from being reassociated into (b x) x.
    let s = smooth_pair(min(s0.hi, vec4<f32>(3.0e38)), s0.lo);
    let bb = smooth_two_prod_split(vec4<f32>(b), smooth_pair(vec4<f32>(b_h), vec4<f32>(b_l)), s.hi, smooth_split(s.hi));
    let bx_lo = bb.lo + (b * s.lo + b_lo * s.hi);
    let a = 0x1.988454p+0f;
    let c = max(a + bb.hi, vec4<f32>(0.5));
    // The barriers keep the compiler from adding the constants a and lo(A)
    // first (which rounds lo(A) away) or from folding the Fast2Sum.
    let sum_err = smooth_k(select(smooth_k(a - c) + bb.hi, smooth_k(bb.hi - c) + a, bb.hi > vec4<f32>(a)));
    let c_lo = sum_err + (smooth_k(bx_lo) + -0x1.857936p-25f);
    let v = smooth_two_prod_split(x, xs, c, smooth_split(c));
    return smooth_pair(v.hi, v.lo + x * c_lo);
}

fn smooth_gelu_tanh_v(x: vec4<f32>, xs: smooth_pair) -> smooth_pair {
    return smooth_gelu_tanh_poly(x, xs, 0x1.2444f2p-4f, 0x1.244p-4f, 0x1.3c8p-18f, 0x1.49b16ap-29f);
}

fn gelu_tanh_f32(x: vec4<f32>) -> vec4<f32> {
    let xc = clamp(x, vec4<f32>(-11.0), vec4<f32>(11.0));
    let v = smooth_gelu_tanh_v(xc, smooth_split(xc));
    let s = smooth_sigmoid_one(v.hi, v.lo);
    var y = smooth_scale(smooth_mul_hl(xc, s.hi, s.lo), s.k);
    y = select(y, x, x > vec4<f32>(11.0));
    y = select(y, smooth_neg_zero(), x < vec4<f32>(-11.0));
    return select(y, x, smooth_is_nan(x));
}

// d/dx = sigmoid(v) + x v' sigmoid(v) sigmoid(-v), v' = A + 3 B x^2: for
// x >= 0 big (1 + x v' small 2^k); for x < 0 2^k small (1 + x v' big), which
// cancels at x0 = -0.7524614220710162, handled as in silu' (degree 7,
// |x - x0| <= 1/4, relative error 2^-25.1).
fn gelu_tanh_derivative_f32(x: vec4<f32>) -> vec4<f32> {
    let xc = clamp(x, vec4<f32>(-11.0), vec4<f32>(11.0));
    let xs = smooth_split(xc);
    let v = smooth_gelu_tanh_v(xc, xs);
    let s = smooth_sigmoid_both(v.hi, v.lo);
    // x v' = x (A + 3B x^2), carried as v is.
    let xv = smooth_gelu_tanh_poly(xc, xs, 0x1.b6676cp-3f, 0x1.b66p-3f, 0x1.dbp-17f, -0x1.175e1ep-32f);
    let neg = xc < vec4<f32>(0.0);
    let p2 = smooth_pow2(max(s.k, vec4<f32>(-126.0)));
    let g_pos = xv.hi * ((s.small + s.small_lo) * p2);
    let u = max(1.0 + g_pos, vec4<f32>(0.5));
    let u_lo = smooth_k(1.0 - u) + g_pos;
    let pos = smooth_mul_pp(s.big, s.big_lo, u, u_lo);
    let gb = smooth_two_prod(xv.hi, s.big);
    let g_lo = gb.lo + xv.hi * s.big_lo + xv.lo * s.big;
    let cc = min(1.0 + gb.hi, vec4<f32>(2.0));
    let c_lo = smooth_k(select(smooth_k(1.0 - cc) + gb.hi, smooth_k(gb.hi - cc) + 1.0, gb.hi < vec4<f32>(-1.0))) + g_lo;
    let negv = smooth_scale(smooth_mul_pp(s.small, s.small_lo, cc, c_lo), s.k);
    var y = select(pos, negv, neg);
    let d = x - -0x1.8142ap-1f;
    let p = 0x1.b8bacep-2f + d * (0x1.8cd1a4p-2f + d * (-0x1.029ce4p-6f + d * (-0x1.d2ba14p-4f + d * (-0x1.0f6512p-6f + d * (0x1.43c8c4p-6f + d * (0x1.33214ap-8f + d * (-0x1.9adeaep-9f)))))));
    y = select(y, d * p - 0x1.85a06cp-27f * p, abs(d) <= vec4<f32>(0.25));
    y = select(y, vec4<f32>(1.0), x > vec4<f32>(11.0));
    y = select(y, smooth_neg_zero(), x < vec4<f32>(-11.0));
    return select(y, x, smooth_is_nan(x));
}

// ---------------------------------------------------------------------------
// softplus
// ---------------------------------------------------------------------------

// t = beta x (the f32 product). log(1 + e^t) = max(t, 0) + log1p(E),
// E = e^-|t| = 2^k m; log1p(E) = E L(E), L(E) = log1p(E) / E a degree-11
// polynomial on [0, 1] (least squares, relative error 2^-32.5, f32
// coefficients rounded one at a time). The division by beta is corrected
// with its exact residual (smooth_div2). t <= 0 keeps E's scale 2^k to the
// end, so results in the subnormal range round once.
fn softplus_f32(x: vec4<f32>, beta: f32, threshold: f32) -> vec4<f32> {
    let t = beta * x;
    let a = max(-abs(t), vec4<f32>(-120.0));
    let ex = smooth_exp_core(a, vec4<f32>(0.0));
    let m = smooth_one_plus(ex.hi, ex.lo);
    let e = m.hi * smooth_pow2(max(ex.k, vec4<f32>(-126.0)));
    let ls = e * (-0x1.fffffep-2f + e * (0x1.5554e4p-2f + e * (-0x1.ffee12p-3f + e * (0x1.98e038p-3f + e * (-0x1.50dea8p-3f + e * (0x1.12b016p-3f + e * (-0x1.9d84aep-4f + e * (0x1.04ae1cp-4f + e * (-0x1.e9b478p-6f + e * (0x1.258a98p-7f + e * (-0x1.49b8e2p-10f)))))))))));
    let l = max(1.0 + ls, vec4<f32>(0.5));
    let l_lo = smooth_k(1.0 - l) + ls;
    // log1p(E) = 2^k (ml + ml_lo)
    let ml = smooth_two_prod(m.hi, l);
    let ml_lo = ml.lo + (m.hi * l_lo + m.lo * l);
    // t > 0: t + log1p(E), E <= 1 here so k >= -30 and the scaling is exact.
    let p2 = smooth_pow2(max(ex.k, vec4<f32>(-126.0)));
    let lp = ml.hi * p2;
    let sum = smooth_two_sum(t, lp);
    let pos = smooth_div2(sum.hi, sum.lo + ml_lo * p2, vec4<f32>(beta));
    let negq = smooth_div2(ml.hi, ml_lo, vec4<f32>(beta));
    let negv = smooth_scale(negq.hi + negq.lo, max(ex.k, vec4<f32>(-190.0)));
    var y = select(negv, pos.hi + pos.lo, t > vec4<f32>(0.0));
    y = select(y, x, t > vec4<f32>(threshold));
    return select(y, x, smooth_is_nan(x));
}

// sigmoid(t), or 1 above the threshold, as PyTorch's backward.
fn softplus_derivative_f32(x: vec4<f32>, beta: f32, threshold: f32) -> vec4<f32> {
    let t = beta * x;
    let y = select(sigmoid_f32(t), vec4<f32>(1.0), t > vec4<f32>(threshold));
    return select(y, x, smooth_is_nan(x));
}

// ---------------------------------------------------------------------------
// ELU
// ---------------------------------------------------------------------------

// alpha expm1(x) for x <= 0, expm1 from the shared exp core; x = +-0 gives
// alpha x, so elu(-0) = -0 for alpha > 0.
fn elu_f32(x: vec4<f32>, alpha: f32) -> vec4<f32> {
    let a = max(x, vec4<f32>(-30.0));
    let em = smooth_expm1_parts(smooth_exp_core(min(a, vec4<f32>(0.0)), vec4<f32>(0.0)));
    var y = smooth_mul_hl(vec4<f32>(alpha), em.hi, em.lo);
    y = select(y, alpha * x, x == vec4<f32>(0.0));
    y = select(y, x, x > vec4<f32>(0.0));
    return select(y, x, smooth_is_nan(x));
}

fn elu_derivative_f32(x: vec4<f32>, alpha: f32) -> vec4<f32> {
    let ex = smooth_exp_core(clamp(x, vec4<f32>(-130.0), vec4<f32>(0.0)), vec4<f32>(0.0));
    let m = smooth_one_plus(ex.hi, ex.lo);
    var y = smooth_scale(smooth_mul_hl(vec4<f32>(alpha), m.hi, m.lo), ex.k);
    y = select(y, vec4<f32>(1.0), x > vec4<f32>(0.0));
    return select(y, x, smooth_is_nan(x));
}

// ---------------------------------------------------------------------------
// sine (SIREN)
// ---------------------------------------------------------------------------

// t = omega x (the f32 product), j = round(t 2/pi), y = t - j pi/2 by
// Cody-Waite with pi/2 in four parts, the first three of 12 bits (j times
// each is exact for |j| < 2^12) and the reduction carried as y + y_lo by
// TwoSum. sin y = y + y^3 S(y^2) and cos y = 1 - y^2/2 + y^4 C(y^2), S and C
// of degree 3, least-squares fits on |y| <= pi/4 (relative error below
// 2^-29). The quadrant j mod 4 picks +-sin or +-cos.
struct smooth_sincos {
    s: vec4<f32>,
    s_lo: vec4<f32>,
    c: vec4<f32>,
    c_lo: vec4<f32>,
    q: vec4<i32>,
}

fn smooth_sincos_core(t: vec4<f32>) -> smooth_sincos {
    let j = round(t * 0x1.45f306p-1f);
    let y1 = min(t - j * 0x1.922p+0f, vec4<f32>(3.0e38));
    let r2 = smooth_two_sum(y1, -(j * -0x1.2aep-18f));
    let r3 = smooth_two_sum(r2.hi, -(j * -0x1.deap-31f));
    let y = r3.hi;
    let y_lo = (r2.lo + r3.lo) - j * 0x1.18p-44f;
    let yy = smooth_two_prod(y, y);
    let w = yy.hi;
    let s_poly = -0x1.555556p-3f + w * (0x1.111198p-7f + w * (-0x1.a082f6p-13f + w * (0x1.8768a2p-19f)));
    let c_poly = 0x1.55555ap-5f + w * (-0x1.6c1e46p-10f + w * (0x1.a6290cp-16f + w * (-0x1.460cccp-21f)));
    var out: smooth_sincos;
    out.s = y;
    out.s_lo = (y * w) * s_poly + y_lo * (1.0 - 0.5 * w);
    let h = 0.5 * w;
    let c = max(1.0 - h, vec4<f32>(0.5));
    out.c = c;
    out.c_lo = ((smooth_k(smooth_k(1.0 - c) - h) - 0.5 * yy.lo) + ((w * w) * c_poly - y * y_lo));
    out.q = vec4<i32>(j) & vec4<i32>(3);
    return out;
}

fn smooth_nan() -> vec4<f32> {
    return bitcast<vec4<f32>>(vec4<u32>(0x7fc00000u));
}

fn sine_f32(x: vec4<f32>, omega: f32) -> vec4<f32> {
    let t = omega * x;
    let r = smooth_sincos_core(t);
    let sv = r.s + clamp(r.s_lo, vec4<f32>(-0.125), vec4<f32>(0.125));
    let cv = r.c + clamp(r.c_lo, vec4<f32>(-0.125), vec4<f32>(0.125));
    var y = select(sv, cv, (r.q & vec4<i32>(1)) != vec4<i32>(0));
    y = select(y, -y, (r.q & vec4<i32>(2)) != vec4<i32>(0));
    y = select(clamp(y, vec4<f32>(-1.0), vec4<f32>(1.0)), t, t == vec4<f32>(0.0));
    y = select(y, smooth_nan(), abs(t) == vec4<f32>(bitcast<f32>(0x7f800000u)));
    return select(y, t, smooth_is_nan(t));
}

fn sine_derivative_f32(x: vec4<f32>, omega: f32) -> vec4<f32> {
    let t = omega * x;
    let r = smooth_sincos_core(t);
    let odd = (r.q & vec4<i32>(1)) != vec4<i32>(0);
    let hi = select(r.c, r.s, odd);
    let lo = select(r.c_lo, r.s_lo, odd);
    // cos(t) = [c, -s, -c, s][q]
    let flip = ((r.q + vec4<i32>(1)) & vec4<i32>(2)) != vec4<i32>(0);
    let cv = clamp(select(hi, -hi, flip), vec4<f32>(-1.0), vec4<f32>(1.0));
    let cl = select(lo, -lo, flip);
    // Beyond the reduction's range the low part is meaningless; the clamp
    // keeps the result finite and within |omega|.
    var y = clamp(smooth_mul_hl(vec4<f32>(omega), cv, clamp(cl, vec4<f32>(-0.125), vec4<f32>(0.125))), -vec4<f32>(abs(omega)), vec4<f32>(abs(omega)));
    y = select(y, smooth_nan(), abs(t) == vec4<f32>(bitcast<f32>(0x7f800000u)));
    return select(y, t, smooth_is_nan(t));
}
