//! 8-bit dense layers for the CPU: weights quantized once per output row, activations per input
//! row as they arrive, integer dot products with AVX2 where the CPU has it.
//!
//! The scheme is PyTorch's dynamic quantization (`torch.ao.quantization.quantize_dynamic`, the
//! FBGEMM backend) with finer scales: symmetric 8-bit weights with one scale per output feature,
//! symmetric 8-bit activations with one scale per token (PyTorch uses one per tensor), the sums in
//! 32-bit integers and a single float multiplication per output. The AVX2 kernel multiplies signed
//! bytes with `vpmaddubsw` on |a| and w·sign(a) (as llama.cpp does), so no pair of products can
//! saturate its 16-bit lanes: |a|, |w| ≤ 127 and 2·127·127 < 32767.

use std::sync::Mutex;

use candle_core::{CpuStorage, Device, Storage, Tensor};

/// Inputs are read in blocks of this many bytes (one AVX2 register).
pub const BLOCK: usize = 32;

/// A dense layer `y = x·Wᵀ + b` with 8-bit weights.
pub struct Int8Linear {
    out_features: usize,
    in_features: usize,
    /// `[out_features][in_features]`, row-major.
    weights: Vec<i8>,
    /// One per output feature: a weight is `weights[n][k] as f32 * scales[n]`.
    scales: Vec<f32>,
    bias: Vec<f32>,
}

/// Why a layer cannot be quantized.
#[derive(Debug, thiserror::Error)]
pub enum Int8Error {
    #[error("8-bit layers need an input size that is a multiple of {BLOCK}, not {0}")]
    InputSize(usize),
    #[error("{0}")]
    Tensor(#[from] candle_core::Error),
}

impl Int8Linear {
    /// Quantizes `weight` (`[out, in]`) and keeps `bias` (`[out]`) in f32.
    pub fn quantize(weight: &Tensor, bias: &Tensor) -> Result<Self, Int8Error> {
        let (out_features, in_features) = weight.dims2()?;
        if in_features % BLOCK != 0 {
            return Err(Int8Error::InputSize(in_features));
        }
        let rows = weight.to_dtype(candle_core::DType::F32)?.to_vec2::<f32>()?;
        let mut weights = Vec::with_capacity(out_features * in_features);
        let mut scales = Vec::with_capacity(out_features);
        for row in &rows {
            scales.push(quantize_row(row, &mut weights));
        }
        Ok(Self {
            out_features,
            in_features,
            weights,
            scales,
            bias: bias.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?,
        })
    }

    /// `x` is `[..., in_features]` f32 on the CPU; the result has the same leading dimensions.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let dims = x.dims().to_vec();
        let Some((&in_features, leading)) = dims.split_last() else {
            candle_core::bail!("an 8-bit layer got a scalar");
        };
        if in_features != self.in_features {
            candle_core::bail!(
                "an 8-bit layer of {} inputs got {in_features}",
                self.in_features
            );
        }
        let rows = leading.iter().product::<usize>();
        // The input as it lies in memory when it is contiguous f32 on the CPU (a copy otherwise).
        let output = {
            let (storage, layout) = x.storage_and_layout();
            match (&*storage, layout.contiguous_offsets()) {
                (Storage::Cpu(CpuStorage::F32(values)), Some((start, end))) => {
                    self.forward_rows(&values[start..end], rows)
                }
                _ => {
                    drop(storage);
                    let input = x.flatten_all()?.to_vec1::<f32>()?;
                    self.forward_rows(&input, rows)
                }
            }
        };
        let mut shape = leading.to_vec();
        shape.push(self.out_features);
        Tensor::from_vec(output, shape, &Device::Cpu)
    }

    /// `input` holds `rows` rows of `in_features`; returns `rows` rows of `out_features`.
    pub fn forward_rows(&self, input: &[f32], rows: usize) -> Vec<f32> {
        let (k, n) = (self.in_features, self.out_features);
        let mut quantized = Vec::with_capacity(rows * k);
        let input_scales: Vec<f32> = input
            .chunks_exact(k)
            .map(|row| quantize_row(row, &mut quantized))
            .collect();
        // Output features are split into strips: a thread reads every input row (small) and
        // its strips of the weights (large) once. The strips run on candle's own thread pool,
        // which runs the rest of the model: a second pool would spin beside it for the cores.
        let pool = candle_core::utils::barrier_pool();
        let strip_width = n
            .div_ceil((pool.n_workers() + 1) * 4)
            .next_multiple_of(OUTPUTS_PER_TILE)
            .max(OUTPUTS_PER_TILE);
        let mut output = vec![0f32; rows * n];
        // Each strip writes its part of every output row, in place.
        let mut segments: Vec<Vec<&mut [f32]>> = (0..n.div_ceil(strip_width))
            .map(|_| Vec::with_capacity(rows))
            .collect();
        for mut rest in output.chunks_exact_mut(n) {
            for strip_segments in &mut segments {
                let (segment, tail) = rest.split_at_mut(strip_width.min(rest.len()));
                strip_segments.push(segment);
                rest = tail;
            }
        }
        let segments: Vec<Mutex<Vec<&mut [f32]>>> = segments.into_iter().map(Mutex::new).collect();
        pool.execute_chunked(segments.len(), |range| {
            for strip in range {
                let first = strip * strip_width;
                let width = strip_width.min(n - first);
                let weights = &self.weights[first * k..(first + width) * k];
                let scales = &self.scales[first..first + width];
                let bias = &self.bias[first..first + width];
                let mut strip_segments = segments[strip].lock().unwrap_or_else(|e| e.into_inner());
                // A block of rows at a time, so that its sums stay in the cache.
                let mut sums = vec![0i32; ROWS_PER_BLOCK * width];
                for block_start in (0..rows).step_by(ROWS_PER_BLOCK) {
                    let block_rows = ROWS_PER_BLOCK.min(rows - block_start);
                    let sums = &mut sums[..block_rows * width];
                    dot_products(
                        &quantized[block_start * k..(block_start + block_rows) * k],
                        block_rows,
                        weights,
                        width,
                        k,
                        sums,
                    );
                    for ((segment, row_sums), &input_scale) in strip_segments
                        [block_start..block_start + block_rows]
                        .iter_mut()
                        .zip(sums.chunks_exact(width))
                        .zip(&input_scales[block_start..])
                    {
                        for (((value, &sum), &scale), &bias) in
                            segment.iter_mut().zip(row_sums).zip(scales).zip(bias)
                        {
                            *value = sum as f32 * input_scale * scale + bias;
                        }
                    }
                }
            }
        });
        drop(segments);
        output
    }

    /// The bytes the weights take (for memory reports).
    pub fn size_in_bytes(&self) -> usize {
        self.weights.len() + 4 * (self.scales.len() + self.bias.len())
    }
}

/// Appends the symmetric 8-bit values of `row` to `into` and returns their scale (NaN when the
/// row holds a NaN or an infinity, so that it shows in the output as it would in f32).
fn quantize_row(row: &[f32], into: &mut Vec<i8>) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if row.len() % BLOCK == 0 && std::arch::is_x86_feature_detected!("avx2") {
            let start = into.len();
            into.resize(start + row.len(), 0);
            // SAFETY: AVX2 is there (checked just above), `row` is whole blocks and `into` has
            // room for it.
            return unsafe { avx2::quantize_row(row, &mut into[start..]) };
        }
    }
    quantize_row_scalar(row, into)
}

fn quantize_row_scalar(row: &[f32], into: &mut Vec<i8>) -> f32 {
    if row.iter().any(|value| !value.is_finite()) {
        into.extend(std::iter::repeat_n(0i8, row.len()));
        return f32::NAN;
    }
    let largest = row
        .iter()
        .fold(0f32, |largest, value| largest.max(value.abs()));
    if largest == 0.0 {
        into.extend(std::iter::repeat_n(0i8, row.len()));
        return 0.0;
    }
    let scale = largest / 127.0;
    let inverse = 127.0 / largest;
    into.extend(row.iter().map(|value| (value * inverse).round() as i8));
    scale
}

/// Output features of one tile of the AVX2 kernel (and rows of input: [`ROWS_PER_TILE`]).
const OUTPUTS_PER_TILE: usize = 4;
const ROWS_PER_TILE: usize = 2;
/// Input rows whose sums one strip computes at a time (a multiple of [`ROWS_PER_TILE`]).
const ROWS_PER_BLOCK: usize = 32;

/// `sums[row][column] = Σ_k a[row][k] · w[column][k]` for `rows` input rows and `columns` weight
/// rows of `k` bytes each.
fn dot_products(a: &[i8], rows: usize, w: &[i8], columns: usize, k: usize, sums: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above); the slices hold `rows * k`,
            // `columns * k` and `rows * columns` values, as the kernel reads and writes.
            unsafe { avx2::dot_products(a, rows, w, columns, k, sums) };
            return;
        }
    }
    for row in 0..rows {
        for column in 0..columns {
            sums[row * columns + column] =
                dot_scalar(&a[row * k..(row + 1) * k], &w[column * k..(column + 1) * k]);
        }
    }
}

fn dot_scalar(a: &[i8], w: &[i8]) -> i32 {
    a.iter().zip(w).map(|(&a, &w)| a as i32 * w as i32).sum()
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{BLOCK, OUTPUTS_PER_TILE, ROWS_PER_TILE};

    /// One block's products of `a` and `w` added to `sum` (eight 32-bit lanes): |a|·(w·sign a)
    /// pairwise into 16-bit lanes, then pairwise into 32-bit lanes.
    #[inline(always)]
    unsafe fn add_block(
        sum: __m256i,
        a_abs: __m256i,
        a: __m256i,
        w: __m256i,
        ones: __m256i,
    ) -> __m256i {
        let products = _mm256_maddubs_epi16(a_abs, _mm256_sign_epi8(w, a));
        _mm256_add_epi32(sum, _mm256_madd_epi16(products, ones))
    }

    #[inline(always)]
    unsafe fn horizontal_sum(sum: __m256i) -> i32 {
        let halves = _mm_add_epi32(
            _mm256_castsi256_si128(sum),
            _mm256_extracti128_si256(sum, 1),
        );
        let pairs = _mm_add_epi32(halves, _mm_unpackhi_epi64(halves, halves));
        let total = _mm_add_epi32(pairs, _mm_shuffle_epi32(pairs, 0b01));
        _mm_cvtsi128_si32(total)
    }

    #[inline(always)]
    unsafe fn load(values: *const i8) -> __m256i {
        _mm256_loadu_si256(values as *const __m256i)
    }

    /// See `super::quantize_row`: the same values (rounding half to even instead of away from
    /// zero), eight at a time.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn quantize_row(row: &[f32], into: &mut [i8]) -> f32 {
        let magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
        let mut largest = _mm256_setzero_ps();
        let mut not_finite = _mm256_setzero_ps();
        for chunk in row.chunks_exact(8) {
            let values = _mm256_and_ps(_mm256_loadu_ps(chunk.as_ptr()), magnitude);
            largest = _mm256_max_ps(largest, values);
            // NaN, or an infinity (its magnitude is not below infinity).
            not_finite = _mm256_or_ps(
                not_finite,
                _mm256_cmp_ps(values, _mm256_set1_ps(f32::INFINITY), _CMP_NLT_UQ),
            );
        }
        if _mm256_movemask_ps(not_finite) != 0 {
            into.fill(0);
            return f32::NAN;
        }
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), largest);
        let largest = lanes.iter().fold(0f32, |a, &b| a.max(b));
        if largest == 0.0 {
            into.fill(0);
            return 0.0;
        }
        let inverse = _mm256_set1_ps(127.0 / largest);
        // packs interleave the 128-bit halves; this puts the bytes back in order.
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        for (values, out) in row.chunks_exact(BLOCK).zip(into.chunks_exact_mut(BLOCK)) {
            let quarter = |at: usize| {
                _mm256_cvtps_epi32(_mm256_mul_ps(
                    _mm256_loadu_ps(values.as_ptr().add(at)),
                    inverse,
                ))
            };
            let low = _mm256_packs_epi32(quarter(0), quarter(8));
            let high = _mm256_packs_epi32(quarter(16), quarter(24));
            let bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(low, high), order);
            _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, bytes);
        }
        largest / 127.0
    }

    /// See `super::dot_products`. Tiles of two input rows by four weight rows keep eight sums in
    /// registers; the edges go one by one.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn dot_products(
        a: &[i8],
        rows: usize,
        w: &[i8],
        columns: usize,
        k: usize,
        sums: &mut [i32],
    ) {
        let ones = _mm256_set1_epi16(1);
        let blocks = k / BLOCK;
        let full_rows = rows - rows % ROWS_PER_TILE;
        let full_columns = columns - columns % OUTPUTS_PER_TILE;
        let a_ptr = a.as_ptr();
        let w_ptr = w.as_ptr();
        for row in (0..full_rows).step_by(ROWS_PER_TILE) {
            for column in (0..full_columns).step_by(OUTPUTS_PER_TILE) {
                let mut s = [_mm256_setzero_si256(); ROWS_PER_TILE * OUTPUTS_PER_TILE];
                for block in 0..blocks {
                    let offset = block * BLOCK;
                    let a0 = load(a_ptr.add(row * k + offset));
                    let a1 = load(a_ptr.add((row + 1) * k + offset));
                    let a0_abs = _mm256_sign_epi8(a0, a0);
                    let a1_abs = _mm256_sign_epi8(a1, a1);
                    for (j, pair) in s.chunks_exact_mut(ROWS_PER_TILE).enumerate() {
                        let wj = load(w_ptr.add((column + j) * k + offset));
                        pair[0] = add_block(pair[0], a0_abs, a0, wj, ones);
                        pair[1] = add_block(pair[1], a1_abs, a1, wj, ones);
                    }
                }
                for (j, pair) in s.chunks_exact(ROWS_PER_TILE).enumerate() {
                    sums[row * columns + column + j] = horizontal_sum(pair[0]);
                    sums[(row + 1) * columns + column + j] = horizontal_sum(pair[1]);
                }
            }
        }
        // The edges: rows past the last full tile, and columns past the last full tile.
        for row in 0..rows {
            let first_column = if row < full_rows { full_columns } else { 0 };
            for column in first_column..columns {
                let mut sum = _mm256_setzero_si256();
                for block in 0..blocks {
                    let offset = block * BLOCK;
                    let a_block = load(a_ptr.add(row * k + offset));
                    let w_block = load(w_ptr.add(column * k + offset));
                    sum = add_block(
                        sum,
                        _mm256_sign_epi8(a_block, a_block),
                        a_block,
                        w_block,
                        ones,
                    );
                }
                sums[row * columns + column] = horizontal_sum(sum);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(count: usize, seed: u32) -> Vec<f32> {
        let mut state = seed;
        (0..count)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn the_kernel_sums_exactly_what_the_scalar_loop_sums_at_every_edge() {
        // Sizes that leave edge rows and columns around the 2×4 tiles.
        for (rows, columns, k) in [(1, 1, 32), (3, 5, 64), (2, 4, 96), (7, 9, 128)] {
            let a: Vec<i8> = pseudo_random(rows * k, 1)
                .iter()
                .map(|v| (v * 127.0) as i8)
                .collect();
            let w: Vec<i8> = pseudo_random(columns * k, 2)
                .iter()
                .map(|v| (v * 127.0) as i8)
                .collect();
            let mut fast = vec![0; rows * columns];
            dot_products(&a, rows, &w, columns, k, &mut fast);
            let slow: Vec<i32> = (0..rows * columns)
                .map(|at| {
                    let (row, column) = (at / columns, at % columns);
                    dot_scalar(&a[row * k..(row + 1) * k], &w[column * k..(column + 1) * k])
                })
                .collect();
            assert_eq!(fast, slow, "{rows}×{columns}×{k}");
        }
        // The extremes: -128 never appears (symmetric), ±127 everywhere must not saturate.
        let a = vec![-127i8; 64];
        let w = vec![127i8; 64];
        let mut sums = vec![0; 1];
        dot_products(&a, 1, &w, 1, 64, &mut sums);
        assert_eq!(sums[0], -127 * 127 * 64);
    }

    #[test]
    fn rows_are_quantized_alike_with_and_without_avx2() {
        let row: Vec<f32> = pseudo_random(96, 6).iter().map(|v| v * 3.0).collect();
        let (mut fast, mut slow) = (Vec::new(), Vec::new());
        let fast_scale = quantize_row(&row, &mut fast);
        let slow_scale = quantize_row_scalar(&row, &mut slow);
        assert_eq!(fast_scale, slow_scale);
        // Rounding may differ on exact halves (to even, away from zero): by one step at most.
        for (f, s) in fast.iter().zip(&slow) {
            assert!((*f as i32 - *s as i32).abs() <= 1, "{fast:?}\n{slow:?}");
        }
        assert!(fast
            .iter()
            .zip(&row)
            .all(|(&q, &x)| (q as f32 * fast_scale - x).abs() <= fast_scale));
        let mut with_nan = row.clone();
        with_nan[40] = f32::NAN;
        assert!(quantize_row(&with_nan, &mut Vec::new()).is_nan());
        with_nan[40] = f32::NEG_INFINITY;
        assert!(quantize_row(&with_nan, &mut Vec::new()).is_nan());
        assert_eq!(quantize_row(&[0.0; 32], &mut Vec::new()), 0.0);
    }

    #[test]
    fn a_quantized_layer_stays_within_a_percent_of_the_float_layer() {
        // Rows past one block of rows, output features past whole tiles and strips.
        for (n, k, rows) in [(48, 96, 5), (53, 64, 2 * ROWS_PER_BLOCK + 7)] {
            quantized_layer_within_a_percent(n, k, rows);
        }
    }

    fn quantized_layer_within_a_percent(n: usize, k: usize, rows: usize) {
        let weight = Tensor::from_vec(pseudo_random(n * k, 3), (n, k), &Device::Cpu).unwrap();
        let bias = Tensor::from_vec(pseudo_random(n, 4), n, &Device::Cpu).unwrap();
        let x = Tensor::from_vec(pseudo_random(rows * k, 5), (1, rows, k), &Device::Cpu).unwrap();
        let exact = x
            .broadcast_matmul(&weight.t().unwrap())
            .unwrap()
            .broadcast_add(&bias)
            .unwrap();
        let layer = Int8Linear::quantize(&weight, &bias).unwrap();
        let approximate = layer.forward(&x).unwrap();
        assert_eq!(approximate.dims(), [1, rows, n]);
        let exact = exact.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let approximate = approximate.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let largest = exact.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (e, a) in exact.iter().zip(&approximate) {
            assert!((e - a).abs() <= 0.01 * largest, "{e} vs {a}");
        }
    }

    #[test]
    fn a_layer_whose_input_size_is_not_whole_blocks_is_refused() {
        assert!(matches!(
            Int8Linear::quantize(
                &Tensor::zeros((2, 33), candle_core::DType::F32, &Device::Cpu).unwrap(),
                &Tensor::zeros(2, candle_core::DType::F32, &Device::Cpu).unwrap()
            ),
            Err(Int8Error::InputSize(33))
        ));
    }

    #[test]
    fn an_input_with_an_offset_or_a_stride_gives_what_its_copy_gives() {
        let (n, k) = (8, 64);
        let weight = Tensor::from_vec(pseudo_random(n * k, 6), (n, k), &Device::Cpu).unwrap();
        let bias = Tensor::from_vec(pseudo_random(n, 7), n, &Device::Cpu).unwrap();
        let layer = Int8Linear::quantize(&weight, &bias).unwrap();
        let whole = Tensor::from_vec(pseudo_random(6 * k, 8), (6, k), &Device::Cpu).unwrap();
        let inputs = [
            // Rows 2..5 of the storage: contiguous, starting past its first value.
            whole.narrow(0, 2, 3).unwrap(),
            // Every other row: not contiguous.
            whole.reshape((3, 2, k)).unwrap().narrow(1, 1, 1).unwrap(),
        ];
        for input in inputs {
            let copy = Tensor::from_vec(
                input.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                input.dims(),
                &Device::Cpu,
            )
            .unwrap();
            let got = layer.forward(&input).unwrap();
            let expected = layer.forward(&copy).unwrap();
            assert_eq!(got.dims(), expected.dims());
            assert_eq!(
                got.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                expected.flatten_all().unwrap().to_vec1::<f32>().unwrap()
            );
        }
    }
}
