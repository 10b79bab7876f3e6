//! BERT encoder and, when the checkpoint has one, its masked-language-model head, run only at the
//! positions a request asks about (a token-classification checkpoint has no such head: its encoder
//! alone serves the entity tagger).
//!
//! Ported from transformers' `modeling_bert.py` (the classes named on each struct, at
//! <https://github.com/huggingface/transformers/blob/6eedfa6dd15dc1e22a55ae036f681914e5a0d9a1/src/transformers/models/bert/modeling_bert.py>)
//! and candle-transformers' `models/bert.rs`, owned here because candle-transformers 0.11 cannot
//! parse BiomedBERT's config, requires the tied decoder weight to be stored twice, and builds an
//! attention mask that turns into NaN in f16/bf16 (see docs in the README's model section).

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{Embedding, LayerNorm, Linear};

use super::config::{BertConfig, HiddenActivation};
use super::cpu_ops::{self_attention, with_cpu_values, AttentionShape};
use super::device::Precision;
use super::int8::{Int8Linear, Kernel};
use super::weights::WeightFile;
use super::ModelError;

/// A dense layer (`nn.Linear`): weights as loaded, or quantized to 8 bits for the CPU's integer
/// dot products (see `int8.rs`).
enum Dense {
    Float(Linear),
    Quantized(Int8Linear),
}

impl Dense {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Dense::Float(linear) => linear.forward(xs),
            Dense::Quantized(layer) => layer.forward(xs),
        }
    }

    /// The layer, then `activation`: fused into the 8-bit layer's output for GELU (erf), so that
    /// it runs on every thread while the output is in the cache.
    fn forward_activated(
        &self,
        xs: &Tensor,
        activation: HiddenActivation,
    ) -> candle_core::Result<Tensor> {
        match (self, activation) {
            (Dense::Quantized(layer), HiddenActivation::GeluErf) => layer.forward_gelu(xs),
            _ => activate(&self.forward(xs)?, activation),
        }
    }

    fn new(weight: Tensor, bias: Tensor, precision: Precision) -> Result<Self, ModelError> {
        Ok(match precision {
            Precision::Float => Dense::Float(Linear::new(weight, Some(bias))),
            Precision::Q8 => {
                Dense::Quantized(Int8Linear::quantize(&weight, &bias).map_err(|error| {
                    ModelError::Compute(format!("quantizing the weights to 8 bits: {error}"))
                })?)
            }
        })
    }
}

/// `BertEmbeddings` (modeling_bert.py#L180): word + position + token-type embeddings, then LayerNorm.
struct Embeddings {
    word: Embedding,
    position: Tensor,
    token_type_zero: Tensor,
    layer_norm: LayerNorm,
}

/// One `BertLayer` (modeling_bert.py#L470): self-attention (`BertAttention`, #L392) with its output
/// block, then the feed-forward block (`BertIntermediate` #L441 and `BertOutput` #L456).
struct Layer {
    /// Query, key and value projections fused into one matrix: one matmul instead of three.
    query_key_value: Dense,
    attention_output: Dense,
    attention_layer_norm: LayerNorm,
    intermediate: Dense,
    output: Dense,
    output_layer_norm: LayerNorm,
}

/// `BertLMPredictionHead`: transform dense + activation + LayerNorm, then the decoder tied to the
/// word embeddings, plus a bias.
struct MaskedLmHead {
    dense: Dense,
    layer_norm: LayerNorm,
    /// Tied to the word embeddings, which stay unquantized: kept as loaded.
    decoder: Linear,
}

/// `BertModel`'s encoder, with `BertForMaskedLM`'s head when the checkpoint has one
/// (`cls.predictions.*`).
pub struct BertModel {
    config: BertConfig,
    embeddings: Embeddings,
    layers: Vec<Layer>,
    masked_lm_head: Option<MaskedLmHead>,
    dtype: DType,
    precision: Precision,
    device: Device,
}

fn activate(xs: &Tensor, activation: HiddenActivation) -> candle_core::Result<Tensor> {
    match activation {
        HiddenActivation::GeluErf => xs.gelu_erf(),
        HiddenActivation::GeluTanh => xs.gelu(),
        HiddenActivation::Relu => xs.relu(),
    }
}

fn model_error(error: candle_core::Error) -> ModelError {
    ModelError::Compute(error.to_string())
}

impl BertModel {
    /// Loads the weights, the masked-language-model head when the file has it; with
    /// [`Precision::Q8`] (CPU only, dimensions multiples of 32) the dense layers of the encoder and
    /// of the head's transform are quantized as they load.
    pub fn load(
        weights: &WeightFile,
        config: &BertConfig,
        dtype: DType,
        device: &Device,
        precision: Precision,
    ) -> Result<Self, ModelError> {
        let hidden = config.hidden_size;
        if precision == Precision::Q8 {
            if !device.is_cpu() || dtype != DType::F32 {
                return Err(ModelError::Device(
                    "8-bit weights (precision q8) run on the CPU only; use precision f32 on a GPU"
                        .into(),
                ));
            }
            if hidden % 32 != 0 || config.intermediate_size % 32 != 0 {
                return Err(ModelError::Device(format!(
                    "8-bit weights (precision q8) need layer sizes that are multiples of 32; \
                     this model has hidden size {hidden} and intermediate size {}",
                    config.intermediate_size
                )));
            }
        }
        let load = |name: &str, shape: &[usize]| weights.load(name, shape, dtype, device);
        let linear =
            |prefix: &str, out_features: usize, in_features: usize| -> Result<Dense, ModelError> {
                Dense::new(
                    load(&format!("{prefix}.weight"), &[out_features, in_features])?,
                    load(&format!("{prefix}.bias"), &[out_features])?,
                    precision,
                )
            };
        let layer_norm = |prefix: &str| -> Result<LayerNorm, ModelError> {
            // transformers' checkpoints name LayerNorm parameters weight/bias; very old TF
            // conversions used gamma/beta.
            let (weight, bias) = if weights.contains(&format!("{prefix}.gamma")) {
                (format!("{prefix}.gamma"), format!("{prefix}.beta"))
            } else {
                (format!("{prefix}.weight"), format!("{prefix}.bias"))
            };
            Ok(LayerNorm::new(
                load(&weight, &[hidden])?,
                load(&bias, &[hidden])?,
                config.layer_norm_eps,
            ))
        };

        let word_embeddings = load(
            "bert.embeddings.word_embeddings.weight",
            &[config.vocab_size, hidden],
        )?;
        let token_type = load(
            "bert.embeddings.token_type_embeddings.weight",
            &[config.type_vocab_size, hidden],
        )?;
        let embeddings = Embeddings {
            word: Embedding::new(word_embeddings.clone(), hidden),
            position: load(
                "bert.embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, hidden],
            )?,
            token_type_zero: token_type.get(0).map_err(model_error)?,
            layer_norm: layer_norm("bert.embeddings.LayerNorm")?,
        };

        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for layer_idx in 0..config.num_hidden_layers {
            let prefix = format!("bert.encoder.layer.{layer_idx}");
            let attention = format!("{prefix}.attention.self");
            let qkv_weight = Tensor::cat(
                &[
                    load(&format!("{attention}.query.weight"), &[hidden, hidden])?,
                    load(&format!("{attention}.key.weight"), &[hidden, hidden])?,
                    load(&format!("{attention}.value.weight"), &[hidden, hidden])?,
                ],
                0,
            )
            .map_err(model_error)?;
            let qkv_bias = Tensor::cat(
                &[
                    load(&format!("{attention}.query.bias"), &[hidden])?,
                    load(&format!("{attention}.key.bias"), &[hidden])?,
                    load(&format!("{attention}.value.bias"), &[hidden])?,
                ],
                0,
            )
            .map_err(model_error)?;
            layers.push(Layer {
                query_key_value: Dense::new(qkv_weight, qkv_bias, precision)?,
                attention_output: linear(
                    &format!("{prefix}.attention.output.dense"),
                    hidden,
                    hidden,
                )?,
                attention_layer_norm: layer_norm(&format!("{prefix}.attention.output.LayerNorm"))?,
                intermediate: linear(
                    &format!("{prefix}.intermediate.dense"),
                    config.intermediate_size,
                    hidden,
                )?,
                output: linear(
                    &format!("{prefix}.output.dense"),
                    hidden,
                    config.intermediate_size,
                )?,
                output_layer_norm: layer_norm(&format!("{prefix}.output.LayerNorm"))?,
            });
        }

        let masked_lm_head = if weights.contains("cls.predictions.transform.dense.weight") {
            // The decoder is tied to the word embeddings; conversions to safetensors store it
            // once, so fall back to the embeddings and to `cls.predictions.bias`
            // (BertLMPredictionHead ties `decoder.bias` to it).
            let decoder_weight = if weights.contains("cls.predictions.decoder.weight") {
                load(
                    "cls.predictions.decoder.weight",
                    &[config.vocab_size, hidden],
                )?
            } else {
                word_embeddings
            };
            let decoder_bias = if weights.contains("cls.predictions.decoder.bias") {
                load("cls.predictions.decoder.bias", &[config.vocab_size])?
            } else {
                load("cls.predictions.bias", &[config.vocab_size])?
            };
            Some(MaskedLmHead {
                dense: linear("cls.predictions.transform.dense", hidden, hidden)?,
                layer_norm: layer_norm("cls.predictions.transform.LayerNorm")?,
                decoder: Linear::new(decoder_weight, Some(decoder_bias)),
            })
        } else {
            None
        };
        Ok(Self {
            config: config.clone(),
            embeddings,
            layers,
            masked_lm_head,
            dtype,
            precision,
            device: device.clone(),
        })
    }

    /// Whether the checkpoint has the masked-language-model head that fill, scoring and the
    /// terminology check need (a token-classification checkpoint has not).
    pub fn has_masked_lm_head(&self) -> bool {
        self.masked_lm_head.is_some()
    }

    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// `f32`, `f16`, `bf16`, or `q8 · KERNEL` with the integer kernel that runs (`q8 ·
    /// avx512-vnni`): how the weights are held, for status reports.
    pub fn precision_name(&self) -> String {
        match (self.precision, self.dtype) {
            (Precision::Q8, _) => match self.int8_kernel() {
                Some(kernel) => kernel.precision_name(),
                None => "q8".to_string(),
            },
            (Precision::Float, DType::F16) => "f16".to_string(),
            (Precision::Float, DType::BF16) => "bf16".to_string(),
            (Precision::Float, _) => "f32".to_string(),
        }
    }

    /// The integer kernel of the 8-bit layers, when the weights are 8-bit.
    pub fn int8_kernel(&self) -> Option<Kernel> {
        match &self.layers.first()?.query_key_value {
            Dense::Quantized(layer) => Some(layer.kernel()),
            Dense::Float(_) => None,
        }
    }

    /// Runs the encoder over a padded batch. `input_ids` and `attention_mask` are `[batch, seq]`
    /// u32 tensors (mask 1 for real tokens, 0 for padding). Returns hidden states `[batch, seq, hidden]`.
    pub fn encode(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        self.encode_capturing(input_ids, attention_mask, None, None, &|| {})
    }

    /// The mean of the hidden states of the last `layers` layers, `[batch, seq, hidden]`: a
    /// token's contextual embedding. `between_layers` as in [`Self::encode_capturing`].
    pub fn encode_mean_of_last_layers(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        layers: usize,
        between_layers: &dyn Fn(),
    ) -> candle_core::Result<Tensor> {
        let from = self.layers.len().saturating_sub(layers.max(1));
        let mut outputs = Vec::new();
        let last = self.encode_capturing(
            input_ids,
            attention_mask,
            None,
            Some((from, &mut outputs)),
            between_layers,
        )?;
        if outputs.is_empty() {
            return Ok(last);
        }
        let count = outputs.len() as f64;
        Tensor::stack(&outputs, 0)?.sum(0)? / count
    }

    /// [`Self::encode`] that also hands each layer's attention probabilities, averaged over the
    /// heads (`[batch, seq, seq]` f32, row = attending token), to `attention` when given: the
    /// evidence of a prediction. Without it nothing more is computed or kept. `layer_outputs`
    /// `(from, outputs)` receives the hidden states of each layer from index `from` on.
    /// `between_layers` runs after each layer but the last (the engine serves waiting requests
    /// there).
    pub fn encode_capturing(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        mut attention: Option<&mut Vec<Tensor>>,
        mut layer_outputs: Option<(usize, &mut Vec<Tensor>)>,
        between_layers: &dyn Fn(),
    ) -> candle_core::Result<Tensor> {
        let (batch, seq_len) = input_ids.dims2()?;
        let hidden = self.config.hidden_size;
        let n_heads = self.config.num_attention_heads;
        let head_size = self.config.head_size();

        let positions = self.embeddings.position.narrow(0, 0, seq_len)?;
        let mut xs = self
            .embeddings
            .word
            .forward(input_ids)?
            .broadcast_add(&positions)?
            .broadcast_add(&self.embeddings.token_type_zero)?;
        xs = self.embeddings.layer_norm.forward(&xs)?;

        // Additive mask: 0 where attended, a large finite negative number at padding. Built by
        // selection, never as `(1 - m) * min`, which is `0 * -inf = NaN` in f16/bf16.
        let blocked = match self.dtype {
            DType::F16 => -65504.0f32,
            _ => -1.0e30f32,
        };
        let zeros = Tensor::zeros((batch, seq_len), DType::F32, &self.device)?;
        let blocked_values = Tensor::full(blocked, (batch, seq_len), &self.device)?;
        let additive_mask = attention_mask
            .ne(0u32)?
            .where_cond(&zeros, &blocked_values)?
            .to_dtype(self.dtype)?
            .reshape((batch, 1, 1, seq_len))?;
        let scale = 1.0 / (head_size as f64).sqrt();
        // On the CPU in f32, attention runs as one task per row and head (`cpu_ops.rs`).
        let cpu_attended: Option<Vec<bool>> = if self.device.is_cpu() && self.dtype == DType::F32 {
            Some(
                attention_mask
                    .flatten_all()?
                    .to_vec1::<u32>()?
                    .into_iter()
                    .map(|mask| mask != 0)
                    .collect(),
            )
        } else {
            None
        };

        for (layer_idx, layer) in self.layers.iter().enumerate() {
            if layer_idx > 0 {
                between_layers();
            }
            let qkv = layer.query_key_value.forward(&xs)?;
            let context = if let Some(attended) = &cpu_attended {
                let shape = AttentionShape {
                    batch,
                    seq_len,
                    heads: n_heads,
                    head_size,
                };
                let keep_probabilities = attention.is_some();
                let output = with_cpu_values(&qkv, |values| {
                    self_attention(values, attended, shape, keep_probabilities)
                })?;
                if let (Some(layers), Some(mean)) =
                    (attention.as_deref_mut(), output.mean_probabilities)
                {
                    layers.push(Tensor::from_vec(
                        mean,
                        (batch, seq_len, seq_len),
                        &self.device,
                    )?);
                }
                Tensor::from_vec(output.context, (batch, seq_len, hidden), &self.device)?
            } else {
                let split_heads = |index: usize| -> candle_core::Result<Tensor> {
                    qkv.narrow(D::Minus1, index * hidden, hidden)?
                        .reshape((batch, seq_len, n_heads, head_size))?
                        .transpose(1, 2)?
                        .contiguous()
                };
                let query = (split_heads(0)? * scale)?;
                let key = split_heads(1)?;
                let value = split_heads(2)?;
                let scores = query.matmul(&key.t()?)?.broadcast_add(&additive_mask)?;
                let probabilities = candle_nn::ops::softmax_last_dim(&scores)?;
                if let Some(layers) = attention.as_deref_mut() {
                    layers.push(probabilities.mean(1)?.to_dtype(DType::F32)?);
                }
                probabilities
                    .matmul(&value)?
                    .transpose(1, 2)?
                    .contiguous()?
                    .reshape((batch, seq_len, hidden))?
            };
            let attention_out = layer.attention_output.forward(&context)?;
            let attention_out = layer
                .attention_layer_norm
                .forward(&(attention_out + &xs)?)?;
            let intermediate = layer
                .intermediate
                .forward_activated(&attention_out, self.config.hidden_activation)?;
            let output = layer.output.forward(&intermediate)?;
            xs = layer
                .output_layer_norm
                .forward(&(output + attention_out)?)?;
            if let Some((from, outputs)) = layer_outputs.as_mut() {
                if layer_idx >= *from {
                    outputs.push(xs.clone());
                }
            }
        }
        Ok(xs)
    }

    /// The MLM head over hidden states `[n, hidden]`: logits `[n, vocab_size]` in f32. An error
    /// for a checkpoint without that head.
    pub fn head(&self, hidden_states: &Tensor) -> candle_core::Result<Tensor> {
        let Some(head) = &self.masked_lm_head else {
            return Err(candle_core::Error::Msg(
                "this checkpoint has no masked-language-model head (cls.predictions.*)".into(),
            ));
        };
        let xs = head
            .dense
            .forward_activated(hidden_states, self.config.hidden_activation)?;
        let xs = head.layer_norm.forward(&xs)?;
        self.decode(&head.decoder, &xs)?.to_dtype(DType::F32)
    }

    /// The decoder (`[n, hidden]` → `[n, vocab_size]`). On the CPU the vocabulary is split into
    /// strips, one matrix product each on candle's thread pool (candle runs a product of this
    /// shape on one thread while the others wait).
    fn decode(&self, decoder: &Linear, xs: &Tensor) -> candle_core::Result<Tensor> {
        let pool = candle_core::utils::barrier_pool();
        let Some(bias) = decoder.bias() else {
            return decoder.forward(xs);
        };
        if !self.device.is_cpu() || self.dtype != DType::F32 || pool.n_workers() == 0 {
            return decoder.forward(xs);
        }
        let (positions, hidden) = xs.dims2()?;
        let vocab_size = decoder.weight().dim(0)?;
        let strip_rows = vocab_size.div_ceil((pool.n_workers() + 1) * 4);
        let strips = vocab_size.div_ceil(strip_rows);
        let bias = bias.to_vec1::<f32>()?;
        let logits = with_cpu_values(xs, |inputs| {
            with_cpu_values(decoder.weight(), |weights| {
                // What the product below reads and writes (the shapes make it so).
                assert_eq!(inputs.len(), positions * hidden);
                assert_eq!(weights.len(), vocab_size * hidden);
                let results: Vec<std::sync::Mutex<Vec<f32>>> = (0..strips)
                    .map(|_| std::sync::Mutex::new(Vec::new()))
                    .collect();
                pool.execute_chunked(strips, |range| {
                    for strip in range {
                        let first = strip * strip_rows;
                        let rows = strip_rows.min(vocab_size - first);
                        let mut strip_logits = vec![0f32; positions * rows];
                        // SAFETY: `inputs` is `[positions, hidden]` and `weights` `[vocab,
                        // hidden]`, both row-major; the product reads rows `first..first + rows`
                        // of the weights (as the columns of the right-hand side) and writes
                        // `[positions, rows]` into `strip_logits`, which has that size.
                        unsafe {
                            gemm::gemm(
                                positions,
                                rows,
                                hidden,
                                strip_logits.as_mut_ptr(),
                                1,
                                rows as isize,
                                false,
                                inputs.as_ptr(),
                                1,
                                hidden as isize,
                                weights[first * hidden..].as_ptr(),
                                hidden as isize,
                                1,
                                0.0,
                                1.0,
                                false,
                                false,
                                false,
                                gemm::Parallelism::None,
                            )
                        };
                        *results[strip].lock().unwrap_or_else(|e| e.into_inner()) = strip_logits;
                    }
                });
                let mut logits = vec![0f32; positions * vocab_size];
                for (strip, result) in results.into_iter().enumerate() {
                    let strip_logits = result.into_inner().unwrap_or_else(|e| e.into_inner());
                    let first = strip * strip_rows;
                    let rows = strip_rows.min(vocab_size - first);
                    for (position, values) in strip_logits.chunks_exact(rows).enumerate() {
                        let row = &mut logits[position * vocab_size + first..][..rows];
                        for ((logit, &value), &bias) in
                            row.iter_mut().zip(values).zip(&bias[first..first + rows])
                        {
                            *logit = value + bias;
                        }
                    }
                }
                logits
            })
        })??;
        Tensor::from_vec(logits, (positions, vocab_size), &self.device)
    }

    /// Logits `[positions.len(), vocab_size]` at the given `(row, token_idx)` positions only: the
    /// encoder runs over the whole batch, the head only where asked.
    pub fn logits_at(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        positions: &[(usize, usize)],
    ) -> candle_core::Result<Tensor> {
        self.logits_and_attention_at(input_ids, attention_mask, positions, None, &|| {})
    }

    /// [`Self::logits_at`], handing the attention of every layer to `attention` when given, and
    /// running `between_layers` between layers (see [`Self::encode_capturing`]).
    pub fn logits_and_attention_at(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        positions: &[(usize, usize)],
        attention: Option<&mut Vec<Tensor>>,
        between_layers: &dyn Fn(),
    ) -> candle_core::Result<Tensor> {
        let (batch, seq_len) = input_ids.dims2()?;
        let hidden_states =
            self.encode_capturing(input_ids, attention_mask, attention, None, between_layers)?;
        let flat = hidden_states.reshape((batch * seq_len, self.config.hidden_size))?;
        let indices: Vec<u32> = positions
            .iter()
            .map(|&(row, token_idx)| (row * seq_len + token_idx) as u32)
            .collect();
        let indices = Tensor::new(indices.as_slice(), &self.device)?;
        self.head(&flat.index_select(&indices, 0)?)
    }
}
