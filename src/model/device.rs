//! Choosing where the model runs (`--device auto|cpu|cuda[:N]|metal`) and in which precision.

use candle_core::{DType, Device};

use super::ModelError;

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    Auto,
    Cpu,
    Cuda(usize),
    Metal(usize),
}

impl std::str::FromStr for DeviceChoice {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        let ordinal = |rest: &str| -> Result<usize, ModelError> {
            if rest.is_empty() {
                return Ok(0);
            }
            rest.strip_prefix(':')
                .and_then(|number| number.parse().ok())
                .ok_or_else(|| {
                    ModelError::Device(format!(
                        "\"{text}\" is not a device (auto, cpu, cuda, cuda:N, metal)"
                    ))
                })
        };
        match lower.as_str() {
            "" | "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            _ if lower.starts_with("cuda") => Ok(Self::Cuda(ordinal(&lower[4..])?)),
            _ if lower.starts_with("metal") => Ok(Self::Metal(ordinal(&lower[5..])?)),
            _ => Err(ModelError::Device(format!(
                "\"{text}\" is not a device (auto, cpu, cuda, cuda:N, metal)"
            ))),
        }
    }
}

/// How the weights of the model's dense layers are held (`--precision auto|f32|q8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// As floating point: f32 on the CPU, f16 on GPUs.
    Float,
    /// 8-bit (q8_0) weights for the dense layers, on the CPU: embeddings, LayerNorm, softmax and
    /// the output layer stay f32.
    Q8,
}

/// What the user asked for: a precision, or `auto` (the device's default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrecisionChoice {
    Auto,
    Exactly(Precision),
}

impl std::str::FromStr for PrecisionChoice {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Self::Auto),
            "f32" | "float" => Ok(Self::Exactly(Precision::Float)),
            "q8" => Ok(Self::Exactly(Precision::Q8)),
            _ => Err(ModelError::Device(format!(
                "\"{text}\" is not a precision (auto, f32, q8)"
            ))),
        }
    }
}

impl PrecisionChoice {
    /// The precision on a device: `auto` is [`cpu_default_precision`] on the CPU, floating point
    /// (f16) on GPUs.
    pub fn on(self, device: &Device) -> Precision {
        match self {
            Self::Exactly(precision) => precision,
            Self::Auto if device.is_cpu() => cpu_default_precision(),
            Self::Auto => Precision::Float,
        }
    }
}

/// The CPU's precision unless the user says otherwise: 8-bit weights where an integer kernel
/// runs (x86-64 with AVX2 or better, AArch64 with the dot-product extension: completion and hover
/// about twice as fast, the check faster, the same findings; BENCHMARKS.md, "8-bit weights"), f32
/// elsewhere, where the 8-bit layers would run plain loops.
pub fn cpu_default_precision() -> Precision {
    if super::int8::Kernel::fastest_here() == super::int8::Kernel::Scalar {
        Precision::Float
    } else {
        Precision::Q8
    }
}

/// How status reports name [`cpu_default_precision`]: `q8 · KERNEL` (the kernel this process
/// runs, `q8 · avx512-vnni`) or `f32`.
pub fn cpu_default_precision_name() -> String {
    match (cpu_default_precision(), super::int8::Kernel::selected()) {
        (Precision::Q8, Ok(kernel)) => kernel.precision_name(),
        (Precision::Q8, Err(_)) => "q8".to_string(),
        (Precision::Float, _) => "f32".to_string(),
    }
}

/// The device picked and a note for stderr when `auto` fell back.
pub struct SelectedDevice {
    pub device: Device,
    pub name: String,
    /// f32 on the CPU; f16 on GPUs (finite logits thanks to the mask built in `bert.rs`).
    pub dtype: DType,
    pub note: Option<String>,
}

pub fn select_device(choice: DeviceChoice) -> Result<SelectedDevice, ModelError> {
    let cpu = || SelectedDevice {
        device: Device::Cpu,
        name: "cpu".into(),
        dtype: DType::F32,
        note: None,
    };
    match choice {
        DeviceChoice::Cpu => Ok(cpu()),
        DeviceChoice::Cuda(ordinal) => cuda(ordinal),
        DeviceChoice::Metal(ordinal) => metal(ordinal),
        DeviceChoice::Auto => {
            if cfg!(feature = "cuda") {
                match cuda(0) {
                    Ok(selected) => return Ok(selected),
                    Err(error) => {
                        return Ok(SelectedDevice {
                            note: Some(format!("CUDA is not usable ({error}); using the CPU")),
                            ..cpu()
                        })
                    }
                }
            }
            if cfg!(feature = "metal") {
                match metal(0) {
                    Ok(selected) => return Ok(selected),
                    Err(error) => {
                        return Ok(SelectedDevice {
                            note: Some(format!("Metal is not usable ({error}); using the CPU")),
                            ..cpu()
                        })
                    }
                }
            }
            Ok(cpu())
        }
    }
}

fn cuda(ordinal: usize) -> Result<SelectedDevice, ModelError> {
    if !cfg!(feature = "cuda") {
        return Err(ModelError::Device(
            "this build has no CUDA support (build with --features cuda)".into(),
        ));
    }
    let device = Device::new_cuda(ordinal)
        .map_err(|error| ModelError::Device(format!("cuda:{ordinal}: {error}")))?;
    Ok(SelectedDevice {
        device,
        name: format!("cuda:{ordinal}"),
        dtype: DType::F16,
        note: None,
    })
}

fn metal(ordinal: usize) -> Result<SelectedDevice, ModelError> {
    if !cfg!(feature = "metal") {
        return Err(ModelError::Device(
            "this build has no Metal support (build with --features metal)".into(),
        ));
    }
    let device = Device::new_metal(ordinal)
        .map_err(|error| ModelError::Device(format!("metal:{ordinal}: {error}")))?;
    Ok(SelectedDevice {
        device,
        name: format!("metal:{ordinal}"),
        dtype: DType::F16,
        note: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse_and_bad_ones_say_what_is_wrong() {
        assert_eq!("auto".parse::<DeviceChoice>().unwrap(), DeviceChoice::Auto);
        assert_eq!("CPU".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!(
            "cuda".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Cuda(0)
        );
        assert_eq!(
            "cuda:1".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Cuda(1)
        );
        assert_eq!(
            "metal".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Metal(0)
        );
        let error = "gpu".parse::<DeviceChoice>().unwrap_err().to_string();
        assert!(error.contains("\"gpu\""), "{error}");
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn auto_without_a_gpu_build_is_the_cpu() {
        if !cfg!(any(feature = "cuda", feature = "metal")) {
            let selected = select_device(DeviceChoice::Auto).unwrap();
            assert_eq!(selected.name, "cpu");
            assert_eq!(selected.dtype, DType::F32);
            assert!(select_device(DeviceChoice::Cuda(0)).is_err());
        }
    }
}
