//! The crate's error type.

/// Everything that can go wrong in `diffusion`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A schedule, trajectory or distribution parameter is out of its domain.
    #[error("invalid {what}: {msg}")]
    Invalid {
        /// Which quantity (e.g. "beta", "trajectory", "gmm weights").
        what: &'static str,
        /// What is wrong with it, with the offending value.
        msg: String,
    },
    /// An ε-predictor (exact or a network) failed.
    #[error("ε-predictor failed: {0}")]
    Predictor(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
