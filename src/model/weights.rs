//! Reading named tensors from `model.safetensors` (memory-mapped) or `pytorch_model.bin` (torch zip).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use super::ModelError;

/// The file a checkpoint's tensors come from.
pub enum WeightFile {
    Safetensors {
        path: PathBuf,
        tensors: candle_core::safetensors::MmapedSafetensors,
    },
    /// An in-memory safetensors buffer (the bundled mini model embedded in the binary).
    SafetensorsBytes {
        name: String,
        tensors: candle_core::safetensors::SliceSafetensors<'static>,
    },
    Pytorch {
        path: PathBuf,
        tensors: candle_core::pickle::PthTensors,
    },
}

impl WeightFile {
    /// Opens `model.safetensors` when the directory has one, else `pytorch_model.bin`.
    pub fn open_in(directory: &Path) -> Result<Self, ModelError> {
        let safetensors = directory.join("model.safetensors");
        if safetensors.is_file() {
            return Self::open_safetensors(&safetensors);
        }
        let pytorch = directory.join("pytorch_model.bin");
        if pytorch.is_file() {
            return Self::open_pytorch(&pytorch);
        }
        Err(ModelError::MissingFile {
            path: directory.to_path_buf(),
            what: "model weights (neither model.safetensors nor pytorch_model.bin)".into(),
        })
    }

    pub fn open_safetensors(path: &Path) -> Result<Self, ModelError> {
        // SAFETY: the file is mapped read-only; if another process truncates it while we run, reads
        // may fault. Model files in a cache or a user's directory are not rewritten in place.
        let tensors = unsafe { candle_core::safetensors::MmapedSafetensors::new(path) }
            .map_err(|error| bad_file(path, format!("not a readable safetensors file: {error}")))?;
        Ok(Self::Safetensors {
            path: path.to_path_buf(),
            tensors,
        })
    }

    pub fn open_safetensors_bytes(name: &str, bytes: &'static [u8]) -> Result<Self, ModelError> {
        let tensors = candle_core::safetensors::SliceSafetensors::new(bytes).map_err(|error| {
            bad_file(
                Path::new(name),
                format!("not a readable safetensors buffer: {error}"),
            )
        })?;
        Ok(Self::SafetensorsBytes {
            name: name.to_string(),
            tensors,
        })
    }

    pub fn open_pytorch(path: &Path) -> Result<Self, ModelError> {
        let tensors = std::panic::catch_unwind(|| candle_core::pickle::PthTensors::new(path, None))
            .map_err(|_| {
                bad_file(
                    path,
                    "the torch file could not be parsed (reader panicked)".into(),
                )
            })?
            .map_err(|error| {
                bad_file(
                    path,
                    format!("not a readable PyTorch zip checkpoint: {error}"),
                )
            })?;
        Ok(Self::Pytorch {
            path: path.to_path_buf(),
            tensors,
        })
    }

    pub fn path(&self) -> PathBuf {
        match self {
            Self::Safetensors { path, .. } | Self::Pytorch { path, .. } => path.clone(),
            Self::SafetensorsBytes { name, .. } => PathBuf::from(name),
        }
    }

    /// Whether the checkpoint has a tensor of this name.
    pub fn contains(&self, name: &str) -> bool {
        match self {
            Self::Safetensors { tensors, .. } => tensors.get(name).is_ok(),
            Self::SafetensorsBytes { tensors, .. } => tensors.get(name).is_ok(),
            Self::Pytorch { tensors, .. } => tensors.tensor_infos().contains_key(name),
        }
    }

    /// The names of every tensor in the file.
    pub fn tensor_names(&self) -> Vec<String> {
        match self {
            Self::Safetensors { tensors, .. } => tensors
                .tensors()
                .into_iter()
                .map(|(name, _)| name)
                .collect(),
            Self::SafetensorsBytes { tensors, .. } => tensors
                .tensors()
                .into_iter()
                .map(|(name, _)| name)
                .collect(),
            Self::Pytorch { tensors, .. } => tensors.tensor_infos().keys().cloned().collect(),
        }
    }

    /// A tensor's values as f32 in row-major order, with its shape (`None`: no such tensor).
    pub fn values(&self, name: &str) -> Result<Option<(Vec<usize>, Vec<f32>)>, ModelError> {
        let path = self.path();
        let tensor = match self {
            Self::Safetensors { tensors, .. } if tensors.get(name).is_ok() => {
                tensors.load(name, &Device::Cpu).map(Some)
            }
            Self::SafetensorsBytes { tensors, .. } if tensors.get(name).is_ok() => {
                tensors.load(name, &Device::Cpu).map(Some)
            }
            Self::Pytorch { tensors, .. } => tensors.get(name),
            _ => Ok(None),
        }
        .map_err(|error| bad_file(&path, format!("tensor {name} cannot be read: {error}")))?;
        let Some(tensor) = tensor else {
            return Ok(None);
        };
        let shape = tensor.dims().to_vec();
        let values = tensor
            .to_dtype(DType::F32)
            .and_then(|tensor| tensor.flatten_all())
            .and_then(|tensor| tensor.to_vec1::<f32>())
            .map_err(|error| bad_file(&path, format!("tensor {name} cannot be read: {error}")))?;
        Ok(Some((shape, values)))
    }

    /// Loads a tensor, checks its shape, and converts it to `dtype` on `device`.
    pub fn load(
        &self,
        name: &str,
        shape: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor, ModelError> {
        let path = self.path();
        let tensor = match self {
            Self::Safetensors { tensors, .. } => {
                if tensors.get(name).is_err() {
                    return Err(missing_tensor(&path, name));
                }
                tensors.load(name, &Device::Cpu)
            }
            Self::SafetensorsBytes { tensors, .. } => {
                if tensors.get(name).is_err() {
                    return Err(missing_tensor(&path, name));
                }
                tensors.load(name, &Device::Cpu)
            }
            Self::Pytorch { tensors, .. } => match tensors.get(name) {
                Ok(Some(tensor)) => Ok(tensor),
                Ok(None) => return Err(missing_tensor(&path, name)),
                Err(error) => Err(error),
            },
        }
        .map_err(|error| bad_file(&path, format!("tensor {name} cannot be read: {error}")))?;
        if tensor.dims() != shape {
            return Err(bad_file(
                &path,
                format!(
                    "tensor {name} has shape {:?}, the config implies {shape:?}",
                    tensor.dims()
                ),
            ));
        }
        tensor
            .to_dtype(dtype)
            .and_then(|tensor| tensor.to_device(device))
            .map_err(|error| {
                bad_file(
                    &path,
                    format!("tensor {name} cannot be moved to {device:?}: {error}"),
                )
            })
    }
}

fn missing_tensor(path: &Path, name: &str) -> ModelError {
    bad_file(path, format!("tensor {name} is missing"))
}

fn bad_file(path: &Path, problem: String) -> ModelError {
    ModelError::BadFile {
        path: path.to_path_buf(),
        problem,
    }
}
