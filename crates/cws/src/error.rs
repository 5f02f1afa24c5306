//! The crate's error type.

/// Everything that can go wrong in `cws`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A malformed dictionary line (1-based line number).
    #[error("dictionary line {line}: {msg}")]
    Dict {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        msg: String,
    },
    /// A dictionary that is unusable as a whole (no positive count, overflowing total, an
    /// invalid word given through the API).
    #[error("dictionary: {0}")]
    DictInvalid(String),
    /// Input that is not valid UTF-8 on a given line (1-based), with the byte offset in it.
    #[error("line {line}: input is not valid UTF-8 (first bad byte at offset {offset})")]
    Utf8Line {
        /// 1-based line number.
        line: usize,
        /// Byte offset of the first invalid byte within the line.
        offset: usize,
    },
    /// Input that is not valid UTF-8 (byte offset of the first bad byte).
    #[error("input is not valid UTF-8 (first bad byte at offset {offset})")]
    Utf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// Gold and predicted segmentations that do not spell the same text.
    #[error("line {line}: gold and prediction do not concatenate to the same text")]
    Mismatch {
        /// 1-based line number.
        line: usize,
    },
    /// Gold and prediction files with a different number of lines.
    #[error("gold has {gold} lines but prediction has {pred}")]
    LineCount {
        /// Lines in the gold file.
        gold: usize,
        /// Lines in the prediction file.
        pred: usize,
    },
    /// A model directory or configuration that cannot be used.
    #[error("model: {0}")]
    Model(String),
    /// Training produced a non-finite loss.
    #[error("training stopped: loss is {loss} at step {step} (last good checkpoint kept)")]
    NonFinite {
        /// Step at which the loss became non-finite.
        step: usize,
        /// The loss value.
        loss: f32,
    },
    /// An invalid argument.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// Candle tensor error.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// I/O error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// JSON (model configuration) error.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
