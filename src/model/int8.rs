//! 8-bit dense layers for the CPU: weights quantized once per output row, activations per input
//! row as they arrive, integer dot products with the fastest kernel the CPU has (AVX-512 VNNI,
//! AVX-VNNI, AVX2 or the AArch64 dot product), chosen at run time.
//!
//! The scheme is PyTorch's dynamic quantization (`torch.ao.quantization.quantize_dynamic`, the
//! FBGEMM backend) with finer scales: symmetric 8-bit weights with one scale per output feature,
//! symmetric 8-bit activations with one scale per token (PyTorch uses one per tensor), the sums in
//! 32-bit integers and a single float multiplication per output. Every kernel computes the same
//! integer sums as the scalar loop, exactly, so the layer's output does not depend on the CPU:
//! - AVX2 multiplies signed bytes with `vpmaddubsw` on |a| and w·sign(a) (as llama.cpp does), so no
//!   pair of products can saturate its 16-bit lanes: |a|, |w| ≤ 127 and 2·127·127 < 32767.
//! - The VNNI kernels (`vpdpbusd`: unsigned × signed bytes, four products into a 32-bit lane, no
//!   saturation) read the activations shifted by 128 into unsigned bytes and subtract 128·Σw per
//!   output afterwards, as FBGEMM does; their weights lie in panels of 16 outputs × 4 inputs, so one
//!   broadcast of four activation bytes meets sixteen outputs' weights and no sum needs a horizontal
//!   add.
//! - The AArch64 kernel (`sdot`: signed × signed bytes) reads the same panels.
//!
//! `BIOMED_LSP_INT8_KERNEL` caps the choice (`scalar`, `avx2`, `avx-vnni`, `avx512-vnni`,
//! `neon-dotprod`): a CPU without the named kernel's feature takes the next one down, which is
//! how each path is tested on a CPU that has them all.

use std::sync::{Mutex, OnceLock};

use candle_core::{Device, Tensor};

use super::cpu_ops::{gelu_erf_in_place, with_cpu_values};

/// What happens to each output as it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Finish {
    Nothing,
    GeluErf,
}

/// Inputs are read in blocks of this many bytes (one AVX2 register).
pub const BLOCK: usize = 32;

/// The environment variable that caps the kernel (see the module's documentation).
pub const KERNEL_VARIABLE: &str = "BIOMED_LSP_INT8_KERNEL";

/// The integer kernels, slowest first; [`Kernel::selected`] takes the fastest the CPU runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kernel {
    /// Plain loops: the reference every other kernel is tested against.
    Scalar,
    /// Dot products of the weights' rows with `vpmaddubsw` (x86-64 with AVX2).
    Avx2,
    /// 256-bit `vpdpbusd` on weight panels (x86-64 with AVX-VNNI: Intel since Alder Lake, AMD
    /// since Zen 5).
    AvxVnni,
    /// 512-bit `vpdpbusd` on weight panels (x86-64 with AVX-512 VNNI: Intel servers since
    /// Cascade Lake, AMD since Zen 4).
    Avx512Vnni,
    /// `sdot` on weight panels (AArch64 with the dot-product extension: Apple M1 and later,
    /// Graviton 2 and later, Ampere Altra).
    NeonDotprod,
}

impl Kernel {
    pub const ALL: [Kernel; 5] = [
        Kernel::Scalar,
        Kernel::Avx2,
        Kernel::AvxVnni,
        Kernel::Avx512Vnni,
        Kernel::NeonDotprod,
    ];

    /// The name in `--precision`'s report and the status line, and the value of
    /// [`KERNEL_VARIABLE`].
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Avx2 => "avx2",
            Kernel::AvxVnni => "avx-vnni",
            Kernel::Avx512Vnni => "avx512-vnni",
            Kernel::NeonDotprod => "neon-dotprod",
        }
    }

    /// How status reports name 8-bit weights multiplied by this kernel: `q8 · avx512-vnni`.
    pub fn precision_name(self) -> String {
        format!("q8 · {}", self.name())
    }

    /// Whether this CPU runs the kernel.
    pub fn runs_here(self) -> bool {
        match self {
            Kernel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            // AVX-512 VNNI has the same 256-bit instructions (EVEX-encoded).
            Kernel::AvxVnni => {
                std::arch::is_x86_feature_detected!("avx2")
                    && (std::arch::is_x86_feature_detected!("avxvnni")
                        || (std::arch::is_x86_feature_detected!("avx512vl")
                            && std::arch::is_x86_feature_detected!("avx512vnni")))
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "aarch64")]
            Kernel::NeonDotprod => std::arch::is_aarch64_feature_detected!("dotprod"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The fastest kernel this CPU runs that is not above `ceiling`.
    pub fn fastest_up_to(ceiling: Kernel) -> Kernel {
        Kernel::ALL
            .into_iter()
            .rev()
            .find(|kernel| *kernel <= ceiling && kernel.runs_here())
            .unwrap_or(Kernel::Scalar)
    }

    /// The fastest kernel this CPU runs.
    pub fn fastest_here() -> Kernel {
        Kernel::fastest_up_to(Kernel::ALL[Kernel::ALL.len() - 1])
    }

    /// The kernel of this process: the fastest this CPU runs, capped by [`KERNEL_VARIABLE`].
    pub fn selected() -> Result<Kernel, Int8Error> {
        static SELECTED: OnceLock<Result<Kernel, String>> = OnceLock::new();
        SELECTED
            .get_or_init(|| Kernel::from_cap(std::env::var(KERNEL_VARIABLE).ok().as_deref()))
            .clone()
            .map_err(Int8Error::UnknownKernel)
    }

    /// The kernel for a cap as [`KERNEL_VARIABLE`] holds it (`None` or empty: no cap).
    fn from_cap(cap: Option<&str>) -> Result<Kernel, String> {
        let cap = match cap.map(str::trim) {
            None | Some("") => return Ok(Kernel::fastest_here()),
            Some(name) => Kernel::ALL
                .into_iter()
                .find(|kernel| kernel.name().eq_ignore_ascii_case(name))
                .ok_or_else(|| name.to_string())?,
        };
        Ok(Kernel::fastest_up_to(cap))
    }

    /// Whether the kernel reads the weights in panels (otherwise row by row).
    fn uses_panels(self) -> bool {
        matches!(
            self,
            Kernel::AvxVnni | Kernel::Avx512Vnni | Kernel::NeonDotprod
        )
    }

    /// Whether the kernel reads the activations shifted into unsigned bytes.
    fn shifts_activations(self) -> bool {
        matches!(self, Kernel::AvxVnni | Kernel::Avx512Vnni)
    }

    /// Output features a thread's strip holds a multiple of.
    fn outputs_per_strip_step(self) -> usize {
        if self.uses_panels() {
            PANEL_OUTPUTS
        } else {
            OUTPUTS_PER_TILE
        }
    }
}

/// Output features of one panel: a panel holds, for each group of 4 inputs, the 16 outputs'
/// 4 weights side by side (64 bytes, one AVX-512 register).
const PANEL_OUTPUTS: usize = 16;
const PANEL_INPUTS: usize = 4;

/// A dense layer `y = x·Wᵀ + b` with 8-bit weights.
pub struct Int8Linear {
    kernel: Kernel,
    out_features: usize,
    in_features: usize,
    /// `[out_features][in_features]` row-major for the scalar and AVX2 kernels; in panels for the
    /// others (see [`pack_panels`]), the last panel padded with zero weights.
    weights: Vec<i8>,
    /// Σ_k w[n][k] per output feature (padded like the panels), for the kernels that shift the
    /// activations; empty otherwise.
    weight_sums: Vec<i32>,
    /// One per output feature: a weight is `w[n][k] as f32 * scales[n]`.
    scales: Vec<f32>,
    bias: Vec<f32>,
}

/// Why a layer cannot be quantized.
#[derive(Debug, thiserror::Error)]
pub enum Int8Error {
    #[error("8-bit layers need an input size that is a multiple of {BLOCK}, not {0}")]
    InputSize(usize),
    #[error(
        "{KERNEL_VARIABLE}=\"{0}\" is not an 8-bit kernel (scalar, avx2, avx-vnni, avx512-vnni, \
         neon-dotprod)"
    )]
    UnknownKernel(String),
    #[error("{0}")]
    Tensor(#[from] candle_core::Error),
}

/// `weights` (`[out][in]` row-major) in panels: panel `p` holds outputs `16p..16p+16`; within it,
/// for each group `g` of 4 inputs, output `c`'s weights `4g..4g+4` at `(g·16 + c)·4`. Outputs
/// past `out_features` have zero weights.
fn pack_panels(weights: &[i8], out_features: usize, in_features: usize) -> Vec<i8> {
    let panels = out_features.div_ceil(PANEL_OUTPUTS);
    let mut packed = vec![0i8; panels * PANEL_OUTPUTS * in_features];
    for (output, row) in weights.chunks_exact(in_features).enumerate() {
        let (panel, column) = (output / PANEL_OUTPUTS, output % PANEL_OUTPUTS);
        let panel_start = panel * PANEL_OUTPUTS * in_features;
        for (group, four) in row.chunks_exact(PANEL_INPUTS).enumerate() {
            let at = panel_start + (group * PANEL_OUTPUTS + column) * PANEL_INPUTS;
            packed[at..at + PANEL_INPUTS].copy_from_slice(four);
        }
    }
    packed
}

/// The quantized weights (`[out][in]` row-major) as `kernel` reads them, and the sums of each
/// output's weights where it needs them (see [`Int8Linear`]'s fields).
fn arrange_weights(
    kernel: Kernel,
    weights: Vec<i8>,
    out_features: usize,
    in_features: usize,
) -> (Vec<i8>, Vec<i32>) {
    let mut weight_sums = Vec::new();
    if kernel.shifts_activations() {
        weight_sums = weights
            .chunks_exact(in_features)
            .map(|row| row.iter().map(|&w| w as i32).sum())
            .collect();
        weight_sums.resize(out_features.next_multiple_of(PANEL_OUTPUTS), 0);
    }
    if kernel.uses_panels() {
        (
            pack_panels(&weights, out_features, in_features),
            weight_sums,
        )
    } else {
        (weights, weight_sums)
    }
}

/// The quantized activations as `kernel` reads them: -127..=127 as the unsigned bytes 1..=255
/// (x + 128: the sign bit flipped) for the kernels that shift them.
fn arrange_activations(kernel: Kernel, activations: &mut [i8]) {
    if kernel.shifts_activations() {
        for value in activations {
            *value ^= i8::MIN;
        }
    }
}

impl Int8Linear {
    /// Quantizes `weight` (`[out, in]`) and keeps `bias` (`[out]`) in f32, for the kernel of
    /// this process ([`Kernel::selected`]).
    pub fn quantize(weight: &Tensor, bias: &Tensor) -> Result<Self, Int8Error> {
        Self::quantize_for(Kernel::selected()?, weight, bias)
    }

    /// Quantizes for `kernel`, which must run here (see [`Kernel::runs_here`]): a kernel this CPU
    /// does not run is replaced by the fastest one below it.
    pub fn quantize_for(kernel: Kernel, weight: &Tensor, bias: &Tensor) -> Result<Self, Int8Error> {
        let kernel = Kernel::fastest_up_to(kernel);
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
        let (weights, weight_sums) = arrange_weights(kernel, weights, out_features, in_features);
        Ok(Self {
            kernel,
            out_features,
            in_features,
            weights,
            weight_sums,
            scales,
            bias: bias.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?,
        })
    }

    /// The kernel this layer runs.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// `x` is `[..., in_features]` f32 on the CPU; the result has the same leading dimensions.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_then(x, Finish::Nothing)
    }

    /// [`Self::forward`] with GELU (erf form) applied to each output as it is written.
    pub fn forward_gelu(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_then(x, Finish::GeluErf)
    }

    fn forward_then(&self, x: &Tensor, finish: Finish) -> candle_core::Result<Tensor> {
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
        let output = with_cpu_values(x, |input| self.forward_rows_then(input, rows, finish))?;
        let mut shape = leading.to_vec();
        shape.push(self.out_features);
        Tensor::from_vec(output, shape, &Device::Cpu)
    }

    /// `input` holds `rows` rows of `in_features`; returns `rows` rows of `out_features`.
    pub fn forward_rows(&self, input: &[f32], rows: usize) -> Vec<f32> {
        self.forward_rows_then(input, rows, Finish::Nothing)
    }

    fn forward_rows_then(&self, input: &[f32], rows: usize, finish: Finish) -> Vec<f32> {
        let (k, n) = (self.in_features, self.out_features);
        let mut quantized = Vec::with_capacity(rows * k);
        let input_scales: Vec<f32> = input
            .chunks_exact(k)
            .map(|row| quantize_row(row, &mut quantized))
            .collect();
        arrange_activations(self.kernel, &mut quantized);
        // Output features are split into strips: a thread reads every input row (small) and
        // its strips of the weights (large) once. The strips run on candle's own thread pool,
        // which runs the rest of the model: a second pool would spin beside it for the cores.
        let pool = candle_core::utils::barrier_pool();
        let strip_width = n
            .div_ceil((pool.n_workers() + 1) * 4)
            .next_multiple_of(self.kernel.outputs_per_strip_step())
            .max(self.kernel.outputs_per_strip_step());
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
                // Panels are whole: a strip starts at a multiple of 16 outputs and its last
                // panel is padded with zero weights.
                let stored_width = if self.kernel.uses_panels() {
                    width.next_multiple_of(PANEL_OUTPUTS)
                } else {
                    width
                };
                let weights = &self.weights[first * k..(first + stored_width) * k];
                let weight_sums = self
                    .weight_sums
                    .get(first..first + stored_width)
                    .unwrap_or_default();
                let scales = &self.scales[first..first + width];
                let bias = &self.bias[first..first + width];
                let mut strip_segments = segments[strip].lock().unwrap_or_else(|e| e.into_inner());
                // A block of rows at a time, so that its sums stay in the cache.
                let mut sums = vec![0i32; ROWS_PER_BLOCK * width];
                for block_start in (0..rows).step_by(ROWS_PER_BLOCK) {
                    let block_rows = ROWS_PER_BLOCK.min(rows - block_start);
                    let sums = &mut sums[..block_rows * width];
                    dot_products(
                        self.kernel,
                        &quantized[block_start * k..(block_start + block_rows) * k],
                        block_rows,
                        weights,
                        weight_sums,
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
                        if finish == Finish::GeluErf {
                            gelu_erf_in_place(segment);
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
        self.weights.len() + 4 * (self.weight_sums.len() + self.scales.len() + self.bias.len())
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

/// `sums[row][column] = Σ_k a[row][k] · w[column][k]` for `rows` input rows and `columns` output
/// features, `k` inputs each. `weights` is laid out for `kernel` (rows, or whole panels); for the
/// kernels that shift the activations, `a` holds them shifted (`a + 128`) and `weight_sums` the
/// sums of the weights of each output.
#[allow(clippy::too_many_arguments)]
fn dot_products(
    kernel: Kernel,
    a: &[i8],
    rows: usize,
    weights: &[i8],
    weight_sums: &[i32],
    columns: usize,
    k: usize,
    sums: &mut [i32],
) {
    assert!(a.len() >= rows * k && sums.len() >= rows * columns);
    if kernel.uses_panels() {
        assert!(weights.len() >= columns.next_multiple_of(PANEL_OUTPUTS) * k);
    } else {
        assert!(weights.len() >= columns * k);
    }
    if kernel.shifts_activations() {
        assert!(weight_sums.len() >= columns.next_multiple_of(PANEL_OUTPUTS));
    }
    assert!(k.is_multiple_of(BLOCK));
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 if kernel.runs_here() => {
            // SAFETY: the CPU has AVX2 (checked just above); the slices hold what the kernel
            // reads and writes (asserted above).
            unsafe { avx2::dot_products(a, rows, weights, columns, k, sums) }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::AvxVnni if kernel.runs_here() => {
            // SAFETY: as above, with AVX-VNNI, or with AVX-512 VNNI's encoding of the same
            // instructions (`Kernel::runs_here`).
            unsafe {
                if std::arch::is_x86_feature_detected!("avxvnni") {
                    vnni256::dot_products_vex(a, rows, weights, weight_sums, columns, k, sums)
                } else {
                    vnni256::dot_products_evex(a, rows, weights, weight_sums, columns, k, sums)
                }
            }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni if kernel.runs_here() => {
            // SAFETY: as above, with AVX-512 VNNI.
            unsafe { avx512::dot_products(a, rows, weights, weight_sums, columns, k, sums) }
        }
        #[cfg(target_arch = "aarch64")]
        Kernel::NeonDotprod if kernel.runs_here() => {
            // SAFETY: as above, with the dot-product extension.
            unsafe { neon::dot_products(a, rows, weights, columns, k, sums) }
        }
        Kernel::Scalar => dot_products_scalar(a, rows, weights, columns, k, sums),
        // A layer only holds a kernel that runs here (`quantize_for`).
        _ => unreachable!("the {} kernel does not run on this CPU", kernel.name()),
    }
}

fn dot_products_scalar(
    a: &[i8],
    rows: usize,
    w: &[i8],
    columns: usize,
    k: usize,
    sums: &mut [i32],
) {
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

/// Calls `$tile::<R, V>($at)` for the run-time `rows` (1..=6) and `vectors` (1..=$max_vectors).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
macro_rules! dispatch_tile {
    ($tile:ident, $rows:expr, $vectors:expr, $max_vectors:literal, $at:expr) => {
        match ($rows, $vectors) {
            (6, 4) if $max_vectors >= 4 => $tile::<6, 4>($at),
            (6, 3) if $max_vectors >= 3 => $tile::<6, 3>($at),
            (6, 2) => $tile::<6, 2>($at),
            (6, _) => $tile::<6, 1>($at),
            (5, 4) if $max_vectors >= 4 => $tile::<5, 4>($at),
            (5, 3) if $max_vectors >= 3 => $tile::<5, 3>($at),
            (5, 2) => $tile::<5, 2>($at),
            (5, _) => $tile::<5, 1>($at),
            (4, 4) if $max_vectors >= 4 => $tile::<4, 4>($at),
            (4, 3) if $max_vectors >= 3 => $tile::<4, 3>($at),
            (4, 2) => $tile::<4, 2>($at),
            (4, _) => $tile::<4, 1>($at),
            (3, 4) if $max_vectors >= 4 => $tile::<3, 4>($at),
            (3, 3) if $max_vectors >= 3 => $tile::<3, 3>($at),
            (3, 2) => $tile::<3, 2>($at),
            (3, _) => $tile::<3, 1>($at),
            (2, 4) if $max_vectors >= 4 => $tile::<2, 4>($at),
            (2, 3) if $max_vectors >= 3 => $tile::<2, 3>($at),
            (2, 2) => $tile::<2, 2>($at),
            (2, _) => $tile::<2, 1>($at),
            (_, 4) if $max_vectors >= 4 => $tile::<1, 4>($at),
            (_, 3) if $max_vectors >= 3 => $tile::<1, 3>($at),
            (_, 2) => $tile::<1, 2>($at),
            (_, _) => $tile::<1, 1>($at),
        }
    };
}

/// Rows of activations one panel tile reads (the VNNI and dot-product kernels).
const PANEL_TILE_ROWS: usize = 6;

/// Where one tile of a panel kernel reads and writes: its first row of activations, its first
/// panel of weights, the sums of those weights and the sums it writes at its first output, the
/// row length `k`, the row length of `sums` and the outputs left from the tile's first one.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[derive(Clone, Copy)]
struct PanelTile {
    a: *const i8,
    w: *const i8,
    weight_sums: *const i32,
    sums: *mut i32,
    k: usize,
    columns: usize,
    columns_left: usize,
}

/// The tiles the panel kernels walk, as `(rows, panels, tile)`: up to `max_panels` panels (the
/// outer loop, so that their weights stay in the cache) by up to [`PANEL_TILE_ROWS`] rows. The
/// arguments are `super::dot_products`'s; `weight_sums` may be empty for a kernel that does not
/// read it.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[allow(clippy::too_many_arguments)]
fn panel_tiles(
    a: &[i8],
    rows: usize,
    w: &[i8],
    weight_sums: &[i32],
    columns: usize,
    k: usize,
    sums: &mut [i32],
    max_panels: usize,
) -> impl Iterator<Item = (usize, usize, PanelTile)> {
    let (a, w, weight_sums, sums) = (
        a.as_ptr(),
        w.as_ptr(),
        weight_sums.as_ptr(),
        sums.as_mut_ptr(),
    );
    let panel_count = columns.div_ceil(PANEL_OUTPUTS);
    (0..panel_count).step_by(max_panels).flat_map(move |panel| {
        let panels = max_panels.min(panel_count - panel);
        let first_column = panel * PANEL_OUTPUTS;
        (0..rows).step_by(PANEL_TILE_ROWS).map(move |row| {
            let tile = PanelTile {
                a: a.wrapping_add(row * k),
                w: w.wrapping_add(first_column * k),
                weight_sums: weight_sums.wrapping_add(first_column),
                sums: sums.wrapping_add(row * columns + first_column),
                k,
                columns,
                columns_left: columns - first_column,
            };
            (PANEL_TILE_ROWS.min(rows - row), panels, tile)
        })
    })
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{panel_tiles, PanelTile, PANEL_INPUTS, PANEL_OUTPUTS};

    /// See `super::dot_products`: `a` shifted to unsigned bytes, `w` in panels. Tiles of up to
    /// 6 rows × 4 panels keep 24 sums of 16 outputs in registers.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub(super) unsafe fn dot_products(
        a: &[i8],
        rows: usize,
        w: &[i8],
        weight_sums: &[i32],
        columns: usize,
        k: usize,
        sums: &mut [i32],
    ) {
        for (tile_rows, panels, at) in panel_tiles(a, rows, w, weight_sums, columns, k, sums, 4) {
            dispatch_tile!(tile, tile_rows, panels, 4, at)
        }
    }

    /// `R` rows from `a` by `V` panels from `w`; writes the outputs below `columns_left`.
    #[inline(always)]
    unsafe fn tile<const R: usize, const V: usize>(at: PanelTile) {
        let PanelTile {
            w,
            weight_sums,
            sums,
            k,
            columns,
            columns_left,
            ..
        } = at;
        let a = at.a as *const u8;
        let panel_bytes = PANEL_OUTPUTS * k;
        let mut acc = [[_mm512_setzero_si512(); V]; R];
        for group in 0..k / PANEL_INPUTS {
            let mut panel = [_mm512_setzero_si512(); V];
            for (v, weights) in panel.iter_mut().enumerate() {
                *weights = _mm512_loadu_si512(
                    w.add(v * panel_bytes + group * PANEL_OUTPUTS * PANEL_INPUTS) as *const _,
                );
            }
            for (r, row_acc) in acc.iter_mut().enumerate() {
                let four = (a.add(r * k + group * PANEL_INPUTS) as *const i32).read_unaligned();
                let activations = _mm512_set1_epi32(four);
                for (sum, &weights) in row_acc.iter_mut().zip(&panel) {
                    *sum = _mm512_dpbusd_epi32(*sum, activations, weights);
                }
            }
        }
        for v in 0..V {
            let first = v * PANEL_OUTPUTS;
            if first >= columns_left {
                break;
            }
            let valid = (columns_left - first).min(PANEL_OUTPUTS);
            let mask: __mmask16 = (((1u32 << valid) - 1) & 0xffff) as __mmask16;
            // Σ (a + 128)·w − 128·Σ w = Σ a·w.
            let shift =
                _mm512_slli_epi32::<7>(_mm512_loadu_si512(weight_sums.add(first) as *const _));
            for (r, row_acc) in acc.iter().enumerate() {
                _mm512_mask_storeu_epi32(
                    sums.add(r * columns + first),
                    mask,
                    _mm512_sub_epi32(row_acc[v], shift),
                );
            }
        }
    }
}

/// The 256-bit VNNI kernel, twice: with AVX-VNNI's VEX encoding (the CPUs it is for) and with
/// AVX-512 VNNI's EVEX encoding of the same instruction (so that CPUs with AVX-512 run, and test,
/// the same tiling).
#[cfg(target_arch = "x86_64")]
mod vnni256 {
    use std::arch::x86_64::*;

    use super::{panel_tiles, PanelTile, PANEL_INPUTS, PANEL_OUTPUTS};

    macro_rules! kernel_256 {
        ($name:ident, $tile:ident, $features:literal, $dpbusd:ident) => {
            /// See `super::dot_products`: `a` shifted to unsigned bytes, `w` in panels. Tiles of
            /// up to 6 rows × 1 panel (two registers of 8 outputs: 12 sums, 16 registers in all).
            #[target_feature(enable = $features)]
            pub(super) unsafe fn $name(
                a: &[i8],
                rows: usize,
                w: &[i8],
                weight_sums: &[i32],
                columns: usize,
                k: usize,
                sums: &mut [i32],
            ) {
                for (tile_rows, _, at) in panel_tiles(a, rows, w, weight_sums, columns, k, sums, 1)
                {
                    dispatch_tile!($tile, tile_rows, 2, 2, at)
                }
            }

            /// `R` rows from `a` by one panel (`V` = 2 halves of 8 outputs).
            #[inline(always)]
            unsafe fn $tile<const R: usize, const V: usize>(at: PanelTile) {
                let PanelTile {
                    w,
                    weight_sums,
                    sums,
                    k,
                    columns,
                    columns_left,
                    ..
                } = at;
                let a = at.a as *const u8;
                let mut acc = [[_mm256_setzero_si256(); V]; R];
                for group in 0..k / PANEL_INPUTS {
                    let mut halves = [_mm256_setzero_si256(); V];
                    for (v, weights) in halves.iter_mut().enumerate() {
                        *weights = _mm256_loadu_si256(
                            w.add(group * PANEL_OUTPUTS * PANEL_INPUTS + v * 32) as *const _,
                        );
                    }
                    for (r, row_acc) in acc.iter_mut().enumerate() {
                        let four =
                            (a.add(r * k + group * PANEL_INPUTS) as *const i32).read_unaligned();
                        let activations = _mm256_set1_epi32(four);
                        for (sum, &weights) in row_acc.iter_mut().zip(&halves) {
                            *sum = $dpbusd(*sum, activations, weights);
                        }
                    }
                }
                for v in 0..V {
                    let first = v * 8;
                    if first >= columns_left {
                        break;
                    }
                    let valid = (columns_left - first).min(8);
                    // Σ (a + 128)·w − 128·Σ w = Σ a·w.
                    let shift = _mm256_slli_epi32::<7>(_mm256_loadu_si256(
                        weight_sums.add(first) as *const _
                    ));
                    for (r, row_acc) in acc.iter().enumerate() {
                        let mut lanes = [0i32; 8];
                        _mm256_storeu_si256(
                            lanes.as_mut_ptr() as *mut _,
                            _mm256_sub_epi32(row_acc[v], shift),
                        );
                        std::ptr::copy_nonoverlapping(
                            lanes.as_ptr(),
                            sums.add(r * columns + first),
                            valid,
                        );
                    }
                }
            }
        };
    }

    kernel_256!(
        dot_products_vex,
        tile_vex,
        "avx2,avxvnni",
        _mm256_dpbusd_avx_epi32
    );
    kernel_256!(
        dot_products_evex,
        tile_evex,
        "avx2,avx512f,avx512vl,avx512vnni",
        _mm256_dpbusd_epi32
    );
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use std::arch::aarch64::*;
    use std::arch::asm;

    use super::{panel_tiles, PanelTile, PANEL_INPUTS, PANEL_OUTPUTS};

    /// `sum + Σ` of four signed byte products per 32-bit lane (`sdot`; its intrinsic is not
    /// stable Rust yet).
    #[inline(always)]
    unsafe fn sdot(sum: int32x4_t, w: int8x16_t, a: int8x16_t) -> int32x4_t {
        let mut sum = sum;
        asm!(
            "sdot {sum:v}.4s, {w:v}.16b, {a:v}.16b",
            sum = inout(vreg) sum,
            w = in(vreg) w,
            a = in(vreg) a,
            options(pure, nomem, nostack, preserves_flags)
        );
        sum
    }

    /// See `super::dot_products`: `w` in panels. Tiles of up to 6 rows × 1 panel (four registers
    /// of 4 outputs: 24 sums of the 32 registers).
    #[target_feature(enable = "neon,dotprod")]
    pub(super) unsafe fn dot_products(
        a: &[i8],
        rows: usize,
        w: &[i8],
        columns: usize,
        k: usize,
        sums: &mut [i32],
    ) {
        for (tile_rows, _, at) in panel_tiles(a, rows, w, &[], columns, k, sums, 1) {
            dispatch_tile!(tile, tile_rows, 4, 4, at)
        }
    }

    /// `R` rows from `a` by one panel (`V` = 4 quarters of 4 outputs).
    #[inline(always)]
    unsafe fn tile<const R: usize, const V: usize>(at: PanelTile) {
        let PanelTile {
            a,
            w,
            sums,
            k,
            columns,
            columns_left,
            ..
        } = at;
        let mut acc = [[vdupq_n_s32(0); V]; R];
        for group in 0..k / PANEL_INPUTS {
            let mut quarters = [vdupq_n_s8(0); V];
            for (v, weights) in quarters.iter_mut().enumerate() {
                *weights = vld1q_s8(w.add(group * PANEL_OUTPUTS * PANEL_INPUTS + v * 16));
            }
            for (r, row_acc) in acc.iter_mut().enumerate() {
                let four = vreinterpretq_s8_s32(vdupq_n_s32(
                    (a.add(r * k + group * PANEL_INPUTS) as *const i32).read_unaligned(),
                ));
                for (sum, &weights) in row_acc.iter_mut().zip(&quarters) {
                    *sum = sdot(*sum, weights, four);
                }
            }
        }
        for v in 0..V {
            let first = v * 4;
            if first >= columns_left {
                break;
            }
            let valid = (columns_left - first).min(4);
            for (r, row_acc) in acc.iter().enumerate() {
                let mut lanes = [0i32; 4];
                vst1q_s32(lanes.as_mut_ptr(), row_acc[v]);
                std::ptr::copy_nonoverlapping(lanes.as_ptr(), sums.add(r * columns + first), valid);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Values in [-1, 1) from a linear congruential generator (the CPU steps' tests use it too).
    pub(crate) fn pseudo_random(count: usize, seed: u32) -> Vec<f32> {
        let mut state = seed;
        (0..count)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    /// The kernels this CPU runs, the scalar reference first.
    fn kernels_here() -> Vec<Kernel> {
        Kernel::ALL
            .into_iter()
            .filter(|kernel| kernel.runs_here())
            .collect()
    }

    /// `kernel`'s sums of `a` (`rows × k`) by `w` (`columns × k`, row-major), its layouts made as
    /// the layer makes them.
    fn sums_with(
        kernel: Kernel,
        a: &[i8],
        rows: usize,
        w: &[i8],
        columns: usize,
        k: usize,
    ) -> Vec<i32> {
        let (weights, weight_sums) = arrange_weights(kernel, w.to_vec(), columns, k);
        let mut activations = a.to_vec();
        arrange_activations(kernel, &mut activations);
        let mut sums = vec![0; rows * columns];
        dot_products(
            kernel,
            &activations,
            rows,
            &weights,
            &weight_sums,
            columns,
            k,
            &mut sums,
        );
        sums
    }

    fn bytes(count: usize, seed: u32) -> Vec<i8> {
        pseudo_random(count, seed)
            .iter()
            .map(|v| (v * 127.0).round() as i8)
            .collect()
    }

    #[test]
    fn every_kernel_sums_exactly_what_the_scalar_loop_sums_at_every_edge() {
        // Around the AVX2 tiles (2 rows × 4 outputs), the panels (16 outputs), the panel tiles
        // (6 rows × up to 4 panels) and one register of inputs (32 or 64 bytes).
        let mut shapes = vec![(1, 1, 32), (3, 5, 64), (2, 4, 96), (7, 9, 128)];
        for rows in [1, 2, 5, 6, 7, 12, 13] {
            for columns in [1, 15, 16, 17, 48, 63, 64, 65, 80] {
                for k in [32, 96, 160] {
                    shapes.push((rows, columns, k));
                }
            }
        }
        let kernels = kernels_here();
        // Which kernels this run compared (the CI logs of other CPUs show theirs).
        eprintln!(
            "8-bit kernels on this CPU: {:?}",
            kernels
                .iter()
                .map(|kernel| kernel.name())
                .collect::<Vec<_>>()
        );
        for (seed, (rows, columns, k)) in shapes.into_iter().enumerate() {
            let a = bytes(rows * k, 2 * seed as u32 + 1);
            let w = bytes(columns * k, 2 * seed as u32 + 2);
            let reference = sums_with(Kernel::Scalar, &a, rows, &w, columns, k);
            for &kernel in &kernels {
                assert_eq!(
                    sums_with(kernel, &a, rows, &w, columns, k),
                    reference,
                    "{} at {rows}×{columns}×{k}",
                    kernel.name()
                );
            }
        }
    }

    #[test]
    fn no_kernel_saturates_at_the_extremes() {
        // -128 never appears (symmetric); ±127 everywhere, the longest rows of BERT-base.
        let k = 3072;
        for (a, w) in [(-127i8, 127i8), (127, 127), (-127, -127), (127, -127)] {
            let expected = a as i32 * w as i32 * k as i32;
            for kernel in kernels_here() {
                let sums = sums_with(kernel, &vec![a; 7 * k], 7, &vec![w; 17 * k], 17, k);
                assert!(
                    sums.iter().all(|&sum| sum == expected),
                    "{} with {a}·{w}",
                    kernel.name()
                );
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn every_kernel_agrees_with_the_scalar_loop(
            rows in 1usize..20,
            columns in 1usize..90,
            blocks in 1usize..6,
            seed in 0u32..1_000_000,
        ) {
            let k = blocks * BLOCK;
            let a = bytes(rows * k, seed);
            let w = bytes(columns * k, seed.wrapping_add(7));
            let reference = sums_with(Kernel::Scalar, &a, rows, &w, columns, k);
            for kernel in kernels_here() {
                proptest::prop_assert_eq!(
                    sums_with(kernel, &a, rows, &w, columns, k),
                    reference.clone(),
                    "{}", kernel.name()
                );
            }
        }
    }

    #[test]
    fn every_kernel_gives_the_same_layer_output_to_the_bit() {
        // Past one block of rows, strips of several panels and a last, partial panel.
        let (n, k, rows) = (200, 96, 2 * ROWS_PER_BLOCK + 7);
        let weight = Tensor::from_vec(pseudo_random(n * k, 11), (n, k), &Device::Cpu).unwrap();
        let bias = Tensor::from_vec(pseudo_random(n, 12), n, &Device::Cpu).unwrap();
        let input = pseudo_random(rows * k, 13);
        let reference = Int8Linear::quantize_for(Kernel::Scalar, &weight, &bias)
            .unwrap()
            .forward_rows(&input, rows);
        for kernel in kernels_here() {
            let layer = Int8Linear::quantize_for(kernel, &weight, &bias).unwrap();
            assert_eq!(layer.kernel(), kernel);
            assert_eq!(
                layer.forward_rows(&input, rows),
                reference,
                "{}",
                kernel.name()
            );
        }
    }

    #[test]
    fn a_cap_takes_the_fastest_kernel_at_or_below_it() {
        for cap in Kernel::ALL {
            let kernel = Kernel::from_cap(Some(cap.name())).unwrap();
            assert!(
                kernel <= cap && kernel.runs_here(),
                "{} gave {}",
                cap.name(),
                kernel.name()
            );
            assert_eq!(kernel, Kernel::fastest_up_to(cap));
            // Nothing that runs here lies between the cap and what it gave.
            assert!(Kernel::ALL
                .iter()
                .all(|other| !(other.runs_here() && kernel < *other && *other <= cap)));
        }
        assert_eq!(
            Kernel::from_cap(Some(" AVX2 ")),
            Ok(Kernel::fastest_up_to(Kernel::Avx2))
        );
        assert_eq!(Kernel::from_cap(Some("scalar")), Ok(Kernel::Scalar));
        let fastest = Kernel::from_cap(None).unwrap();
        assert_eq!(Kernel::from_cap(Some("")), Ok(fastest));
        assert!(kernels_here().iter().all(|kernel| *kernel <= fastest));
        assert_eq!(Kernel::from_cap(Some("avx9")), Err("avx9".to_string()));
        assert_eq!(
            Int8Error::UnknownKernel("avx9".into()).to_string(),
            "BIOMED_LSP_INT8_KERNEL=\"avx9\" is not an 8-bit kernel (scalar, avx2, avx-vnni, \
             avx512-vnni, neon-dotprod)"
        );
        // A layer asked for a kernel this CPU lacks takes the next one down.
        let weight = Tensor::zeros((16, 32), candle_core::DType::F32, &Device::Cpu).unwrap();
        let bias = Tensor::zeros(16, candle_core::DType::F32, &Device::Cpu).unwrap();
        for kernel in Kernel::ALL {
            let layer = Int8Linear::quantize_for(kernel, &weight, &bias).unwrap();
            assert_eq!(layer.kernel(), Kernel::fastest_up_to(kernel));
        }
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
        for kernel in kernels_here() {
            for (n, k, rows) in [(48, 96, 5), (53, 64, 2 * ROWS_PER_BLOCK + 7)] {
                quantized_layer_within_a_percent(kernel, n, k, rows);
            }
        }
    }

    fn quantized_layer_within_a_percent(kernel: Kernel, n: usize, k: usize, rows: usize) {
        let weight = Tensor::from_vec(pseudo_random(n * k, 3), (n, k), &Device::Cpu).unwrap();
        let bias = Tensor::from_vec(pseudo_random(n, 4), n, &Device::Cpu).unwrap();
        let x = Tensor::from_vec(pseudo_random(rows * k, 5), (1, rows, k), &Device::Cpu).unwrap();
        let exact = x
            .broadcast_matmul(&weight.t().unwrap())
            .unwrap()
            .broadcast_add(&bias)
            .unwrap();
        let layer = Int8Linear::quantize_for(kernel, &weight, &bias).unwrap();
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
