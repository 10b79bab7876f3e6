//! The encoder's steps between the dense layers, written for the CPU: self-attention spread over
//! candle's threads by row and head, and GELU without a scalar `erff`.
//!
//! Candle runs attention's small matrix products one after the other on the calling thread, with
//! a copy of the query, key and value per head, while the thread pool's other workers wait; here
//! every (row, head) pair is one task on that pool, reading the fused query-key-value projection
//! where it lies. Both compute what `bert.rs`'s tensor version computes, to float rounding
//! (the model parity tests hold it to transformers).

use std::sync::Mutex;

use candle_core::{CpuStorage, Storage, Tensor};

/// Runs `read` on the values of `x` (f32 on the CPU) as they lie in memory when contiguous, on a
/// copy otherwise.
pub fn with_cpu_values<R>(x: &Tensor, read: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    let (storage, layout) = x.storage_and_layout();
    if let (Storage::Cpu(CpuStorage::F32(values)), Some((start, end))) =
        (&*storage, layout.contiguous_offsets())
    {
        return Ok(read(&values[start..end]));
    }
    drop(storage);
    let copy = x
        .to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok(read(&copy))
}

/// The shape of one attention call.
#[derive(Clone, Copy, Debug)]
pub struct AttentionShape {
    pub batch: usize,
    pub seq_len: usize,
    pub heads: usize,
    pub head_size: usize,
}

impl AttentionShape {
    fn hidden(&self) -> usize {
        self.heads * self.head_size
    }
}

/// What [`self_attention`] returns: the context `[batch, seq, hidden]` and, when asked, the
/// attention probabilities averaged over the heads `[batch, seq, seq]` (row = attending token).
pub struct AttentionOutput {
    pub context: Vec<f32>,
    pub mean_probabilities: Option<Vec<f32>>,
}

/// Scaled dot-product self-attention over `query_key_value` (`[batch, seq, 3 · hidden]`: the
/// queries, then the keys, then the values, each `heads × head_size`), where `attended[b][j]`
/// says whether token `j` of row `b` may be attended to (padding may not). Each (row, head) is a
/// task on candle's thread pool.
pub fn self_attention(
    query_key_value: &[f32],
    attended: &[bool],
    shape: AttentionShape,
    keep_probabilities: bool,
) -> AttentionOutput {
    let AttentionShape {
        batch,
        seq_len,
        heads,
        head_size,
    } = shape;
    let hidden = shape.hidden();
    assert_eq!(query_key_value.len(), batch * seq_len * 3 * hidden);
    assert_eq!(attended.len(), batch * seq_len);
    let scale = 1.0 / (head_size as f32).sqrt();
    // Each task's results in a slot of its own, gathered below: tasks never share memory.
    let slots: Vec<Mutex<HeadResult>> = (0..batch * heads)
        .map(|_| Mutex::new(HeadResult::default()))
        .collect();
    candle_core::utils::barrier_pool().execute_chunked(batch * heads, |tasks| {
        let mut scratch = HeadScratch::new(seq_len, head_size);
        for task in tasks {
            let (row, head) = (task / heads, task % heads);
            let row_values =
                &query_key_value[row * seq_len * 3 * hidden..(row + 1) * seq_len * 3 * hidden];
            let attended = &attended[row * seq_len..(row + 1) * seq_len];
            let mut result = HeadResult {
                context: vec![0f32; seq_len * head_size],
                probabilities: vec![
                    0f32;
                    if keep_probabilities {
                        seq_len * seq_len
                    } else {
                        0
                    }
                ],
            };
            let head_task = HeadTask {
                row_values,
                attended,
                head,
                shape,
                scale,
            };
            #[cfg(target_arch = "x86_64")]
            if has_avx2_and_fma() {
                // SAFETY: the CPU has AVX2 and FMA (checked just above).
                unsafe { attend_one_head_avx2(&head_task, &mut scratch, &mut result) };
            } else {
                attend_one_head(&head_task, &mut scratch, &mut result);
            }
            #[cfg(not(target_arch = "x86_64"))]
            attend_one_head(&head_task, &mut scratch, &mut result);
            *slots[task].lock().unwrap_or_else(|e| e.into_inner()) = result;
        }
    });
    let mut context = vec![0f32; batch * seq_len * hidden];
    let mut mean_probabilities = keep_probabilities.then(|| vec![0f32; batch * seq_len * seq_len]);
    for (task, slot) in slots.into_iter().enumerate() {
        let (row, head) = (task / heads, task % heads);
        let result = slot.into_inner().unwrap_or_else(|e| e.into_inner());
        for (token, values) in result.context.chunks_exact(head_size).enumerate() {
            let start = (row * seq_len + token) * hidden + head * head_size;
            context[start..start + head_size].copy_from_slice(values);
        }
        if let Some(mean) = mean_probabilities.as_mut() {
            let row_mean = &mut mean[row * seq_len * seq_len..(row + 1) * seq_len * seq_len];
            for (sum, &p) in row_mean.iter_mut().zip(&result.probabilities) {
                *sum += p / heads as f32;
            }
        }
    }
    AttentionOutput {
        context,
        mean_probabilities,
    }
}

/// One head's keys (transposed: `[head_size][seq]`), values (`[seq][head_size]`), scores then
/// probabilities (`[seq][seq]`) and the additive mask (0 or -inf), reused from task to task.
struct HeadScratch {
    keys_transposed: Vec<f32>,
    values: Vec<f32>,
    probabilities: Vec<f32>,
    mask: Vec<f32>,
}

impl HeadScratch {
    fn new(seq_len: usize, head_size: usize) -> Self {
        Self {
            keys_transposed: vec![0.0; seq_len * head_size],
            values: vec![0.0; seq_len * head_size],
            probabilities: vec![0.0; seq_len * seq_len],
            mask: vec![0.0; seq_len],
        }
    }
}

/// What one task of [`self_attention`] reads.
struct HeadTask<'a> {
    /// The row's `[seq, 3 · hidden]` query-key-value projection.
    row_values: &'a [f32],
    attended: &'a [bool],
    head: usize,
    shape: AttentionShape,
    scale: f32,
}

/// Whether the CPU runs the AVX2 and FMA versions of the loops below (the crate is built for the
/// x86-64 baseline, SSE2, where the same loops run four lanes wide).
#[cfg(target_arch = "x86_64")]
fn has_avx2_and_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// [`attend_one_head`] compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn attend_one_head_avx2(
    task: &HeadTask,
    scratch: &mut HeadScratch,
    result: &mut HeadResult,
) {
    attend_one_head(task, scratch, result)
}

/// One (row, head) of [`self_attention`]: scores = Q·Kᵀ, softmax by row, context = P·V.
#[inline(always)]
fn attend_one_head(task: &HeadTask, scratch: &mut HeadScratch, result: &mut HeadResult) {
    let HeadTask {
        row_values,
        attended,
        head,
        shape,
        scale,
    } = *task;
    let (seq_len, head_size, hidden) = (shape.seq_len, shape.head_size, shape.hidden());
    let part = |token: usize, which: usize| {
        let start = token * 3 * hidden + which * hidden + head * head_size;
        &row_values[start..start + head_size]
    };
    for (token, &token_attended) in attended.iter().enumerate() {
        for (d, &key) in part(token, 1).iter().enumerate() {
            scratch.keys_transposed[d * seq_len + token] = key;
        }
        scratch.values[token * head_size..(token + 1) * head_size].copy_from_slice(part(token, 2));
        scratch.mask[token] = if token_attended {
            0.0
        } else {
            f32::NEG_INFINITY
        };
    }
    // The queries are read in place: row `token` of them starts at `part(token, 0)`.
    let queries = &row_values[head * head_size..];
    small_matmul(
        queries,
        3 * hidden,
        seq_len,
        head_size,
        &scratch.keys_transposed,
        seq_len,
        &mut scratch.probabilities,
    );
    for scores in scratch.probabilities.chunks_exact_mut(seq_len) {
        for (score, &mask) in scores.iter_mut().zip(&scratch.mask) {
            *score = *score * scale + mask;
        }
        let largest = scores.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        for score in scores.iter_mut() {
            *score = exp_of_non_positive(*score - largest);
        }
        let total: f32 = scores.iter().sum();
        for score in scores.iter_mut() {
            *score /= total;
        }
    }
    small_matmul(
        &scratch.probabilities,
        seq_len,
        seq_len,
        seq_len,
        &scratch.values,
        head_size,
        &mut result.context,
    );
    if !result.probabilities.is_empty() {
        result.probabilities.copy_from_slice(&scratch.probabilities);
    }
}

/// `c[i][j] = Σ_t a[i·a_stride + t] · b[t·n + j]` for `i < m`, `j < n`, `t < inner` (`b` and `c`
/// dense). Tiles of 4 rows × 16 columns keep their sums in vector registers.
#[inline(always)]
fn small_matmul(
    a: &[f32],
    a_stride: usize,
    m: usize,
    inner: usize,
    b: &[f32],
    n: usize,
    c: &mut [f32],
) {
    const ROWS: usize = 4;
    const COLUMNS: usize = 16;
    let (full_rows, full_columns) = (m - m % ROWS, n - n % COLUMNS);
    for i0 in (0..full_rows).step_by(ROWS) {
        let a_rows: [&[f32]; ROWS] =
            std::array::from_fn(|r| &a[(i0 + r) * a_stride..(i0 + r) * a_stride + inner]);
        for j0 in (0..full_columns).step_by(COLUMNS) {
            let mut sums = [[0f32; COLUMNS]; ROWS];
            for t in 0..inner {
                let b_row: &[f32; COLUMNS] = b[t * n + j0..t * n + j0 + COLUMNS]
                    .try_into()
                    .expect("a whole tile");
                for (row_sums, a_row) in sums.iter_mut().zip(&a_rows) {
                    let x = a_row[t];
                    for (sum, &y) in row_sums.iter_mut().zip(b_row) {
                        *sum += x * y;
                    }
                }
            }
            for (r, row_sums) in sums.iter().enumerate() {
                c[(i0 + r) * n + j0..(i0 + r) * n + j0 + COLUMNS].copy_from_slice(row_sums);
            }
        }
    }
    // The edges, a row at a time: the rows past the last whole tile, and the columns past the
    // last whole tile of the others (sums across the row, so that they are vector code too).
    for i in 0..m {
        let first_column = if i < full_rows { full_columns } else { 0 };
        if first_column == n {
            continue;
        }
        let c_row = &mut c[i * n + first_column..(i + 1) * n];
        c_row.fill(0.0);
        for (t, &x) in a[i * a_stride..i * a_stride + inner].iter().enumerate() {
            for (sum, &y) in c_row.iter_mut().zip(&b[t * n + first_column..(t + 1) * n]) {
                *sum += x * y;
            }
        }
    }
}

/// `exp(x)` for `x ≤ 0` (a softmax's scores less their largest): 0 for -inf and below -87
/// (where f32 turns denormal), within 2·10⁻⁷ relative otherwise (Cephes' `expf` polynomial
/// after x = n·ln 2 + r, |r| ≤ ln 2 / 2), in arithmetic the compiler turns into vector code.
#[inline(always)]
fn exp_of_non_positive(x: f32) -> f32 {
    const ROUNDING: f32 = 12_582_912.0; // 1.5 · 2²³: adding it rounds to an integer.
    let clamped = x.max(-87.0);
    let shifted = clamped * std::f32::consts::LOG2_E + ROUNDING;
    let n = shifted - ROUNDING;
    let r = clamped - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let exp_r = p * r * r + r + 1.0;
    // 2ⁿ from n's bits in `shifted` (n ≥ -126 here).
    let two_to_n = f32::from_bits(((shifted.to_bits() as i32 - 0x4B40_0000 + 127) << 23) as u32);
    let value = exp_r * two_to_n;
    if x < -87.0 {
        0.0
    } else if x.is_nan() {
        x
    } else {
        value
    }
}

#[derive(Default)]
struct HeadResult {
    /// `[seq, head_size]`.
    context: Vec<f32>,
    /// `[seq, seq]`, when kept.
    probabilities: Vec<f32>,
}

/// GELU in its exact form, `x · Φ(x) = x/2 · (1 + erf(x/√2))`, in place. erf is a rational
/// function on [-4, 4] (Eigen's `generic_fast_erf_float` coefficients: within 5·10⁻⁷ of erf, and
/// ±1 in f32 beyond), which the compiler turns into vector code.
pub fn gelu_erf_in_place(values: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_and_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe { gelu_erf_loop_avx2(values) };
        return;
    }
    gelu_erf_loop(values);
}

/// [`gelu_erf_loop`] compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_erf_loop_avx2(values: &mut [f32]) {
    gelu_erf_loop(values)
}

#[inline(always)]
fn gelu_erf_loop(values: &mut [f32]) {
    for value in values {
        let x = *value;
        *value = 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_4e-5;
    p = p * x2 - 7.349_906_3e-4;
    p = p * x2 - 2.954_6e-3;
    p = p * x2 - 1.609_603_3e-2;
    let mut q = -1.456_607_2e-5_f32;
    q = q * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329e-3;
    q = q * x2 - 1.426_474e-2;
    x * p / q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::int8::tests::pseudo_random;

    #[test]
    fn gelu_stays_within_a_millionth_of_the_exact_form_relative_to_x() {
        // In one call (the vector loop) and one value at a time (its remainder).
        let inputs: Vec<f32> = (-80_000..=80_000)
            .map(|step| step as f32 / 10_000.0)
            .collect();
        let mut at_once = inputs.clone();
        gelu_erf_in_place(&mut at_once);
        let mut worst = 0f64;
        for (&x, &value) in inputs.iter().zip(&at_once) {
            let mut one = [x];
            gelu_erf_in_place(&mut one);
            let exact = 0.5 * x as f64 * (1.0 + libm::erf(x as f64 / 2f64.sqrt()));
            let scale = (x as f64).abs().max(1.0);
            worst = worst
                .max((value as f64 - exact).abs() / scale)
                .max((one[0] as f64 - exact).abs() / scale);
        }
        assert!(worst < 1.0e-6, "{worst}");
        let mut edges = [f32::NAN, f32::INFINITY, 0.0];
        gelu_erf_in_place(&mut edges);
        assert!(edges[0].is_nan());
        assert_eq!(edges[1], f32::INFINITY);
        assert_eq!(edges[2], 0.0);
    }

    #[test]
    fn exp_stays_within_a_few_ulps_where_a_softmax_needs_it() {
        let mut worst = 0f64;
        for step in 0..=870_000 {
            let x = -(step as f32) / 10_000.0;
            let exact = (x as f64).exp();
            let relative = (exp_of_non_positive(x) as f64 - exact).abs() / exact;
            worst = worst.max(relative);
        }
        assert!(worst < 3.0e-7, "{worst}");
        assert_eq!(exp_of_non_positive(0.0), 1.0);
        assert_eq!(exp_of_non_positive(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_of_non_positive(-100.0), 0.0);
        assert!(exp_of_non_positive(f32::NAN).is_nan());
    }

    /// Attention through candle's tensors, as `bert.rs` computes it on other devices.
    fn attention_with_tensors(
        query_key_value: &[f32],
        attended: &[bool],
        shape: AttentionShape,
    ) -> (Vec<f32>, Vec<f32>) {
        use candle_core::{Device, D};
        let AttentionShape {
            batch,
            seq_len,
            heads,
            head_size,
        } = shape;
        let hidden = shape.hidden();
        let qkv = Tensor::from_vec(
            query_key_value.to_vec(),
            (batch, seq_len, 3 * hidden),
            &Device::Cpu,
        )
        .unwrap();
        let mask: Vec<f32> = attended
            .iter()
            .map(|&a| if a { 0.0 } else { -1.0e30 })
            .collect();
        let mask = Tensor::from_vec(mask, (batch, 1, 1, seq_len), &Device::Cpu).unwrap();
        let split = |index: usize| {
            qkv.narrow(D::Minus1, index * hidden, hidden)
                .unwrap()
                .reshape((batch, seq_len, heads, head_size))
                .unwrap()
                .transpose(1, 2)
                .unwrap()
                .contiguous()
                .unwrap()
        };
        let query = (split(0) * (1.0 / (head_size as f64).sqrt())).unwrap();
        let scores = query
            .matmul(&split(1).t().unwrap())
            .unwrap()
            .broadcast_add(&mask)
            .unwrap();
        let probabilities = candle_nn::ops::softmax_last_dim(&scores).unwrap();
        let context = probabilities
            .matmul(&split(2))
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .contiguous()
            .unwrap();
        let flat = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        (flat(context), flat(probabilities.mean(1).unwrap()))
    }

    #[test]
    fn attention_matches_the_tensor_version_with_padding_and_one_row() {
        for (batch, seq_len, heads, head_size, padding) in
            [(3, 7, 4, 16, 2), (1, 1, 2, 8, 0), (2, 33, 3, 24, 5)]
        {
            let shape = AttentionShape {
                batch,
                seq_len,
                heads,
                head_size,
            };
            let qkv: Vec<f32> = pseudo_random(batch * seq_len * 3 * shape.hidden(), 9)
                .iter()
                .map(|v| v * 4.0)
                .collect();
            // The last `padding` tokens of every row but the first are padding.
            let attended: Vec<bool> = (0..batch * seq_len)
                .map(|at| at / seq_len == 0 || at % seq_len < seq_len - padding)
                .collect();
            let ours = self_attention(&qkv, &attended, shape, true);
            let (context, probabilities) = attention_with_tensors(&qkv, &attended, shape);
            for (a, b) in ours.context.iter().zip(&context) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
            let mean = ours.mean_probabilities.unwrap();
            assert_eq!(mean.len(), probabilities.len());
            for (a, b) in mean.iter().zip(&probabilities) {
                assert!((a - b).abs() < 1e-6, "{a} vs {b}");
            }
            assert!(self_attention(&qkv, &attended, shape, false)
                .mean_probabilities
                .is_none());
        }
    }
}
