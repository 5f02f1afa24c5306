//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in `diffusion-nn`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation failed (shape mismatch, device error, corrupt safetensors, …).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// The scalar diffusion core rejected a value (schedule, trajectory, sampler parameters).
    #[error(transparent)]
    Diffusion(#[from] diffusion::Error),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A data file exists but is malformed (wrong magic number, truncated, bad pixel value).
    #[error("{path}: {msg}")]
    Data {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// A checkpoint is missing, corrupt or does not match its configuration.
    #[error("checkpoint {path}: {msg}")]
    Checkpoint {
        /// The checkpoint folder or file.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// A configuration value is out of its domain.
    #[error("invalid {what}: {msg}")]
    Config {
        /// Which setting.
        what: &'static str,
        /// What is wrong with it.
        msg: String,
    },
    /// Training produced a non-finite loss or gradient; the last checkpoint on disk is the last
    /// good one.
    #[error("non-finite {what} ({value}) at step {step}: training stopped, {}", kept(*last_good))]
    NonFiniteLoss {
        /// The step whose loss was not finite (1-based).
        step: u64,
        /// "loss" or "gradient norm".
        what: &'static str,
        /// The value (NaN or ±inf).
        value: f64,
        /// The step of the last checkpoint written (0 when none was written).
        last_good: u64,
    },
    /// Encoding an image failed.
    #[error("{path}: {msg}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// The encoder's message.
        msg: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn data(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Data {
            path: path.into(),
            msg: msg.into(),
        }
    }
    pub(crate) fn checkpoint(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Checkpoint {
            path: path.into(),
            msg: msg.into(),
        }
    }
    pub(crate) fn config(what: &'static str, msg: impl Into<String>) -> Self {
        Error::Config {
            what,
            msg: msg.into(),
        }
    }
}

/// What [`Error::NonFiniteLoss`] leaves on disk: the checkpoint of step `last_good`, or nothing.
fn kept(last_good: u64) -> String {
    if last_good == 0 {
        "no checkpoint was written (none is due before the first --checkpoint-every steps)"
            .to_string()
    } else {
        format!("the last good checkpoint (step {last_good}) is kept")
    }
}
