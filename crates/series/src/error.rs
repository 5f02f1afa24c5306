//! The crate's error type.

/// Errors of the `series` crate.
///
/// Only the syntax errors and the `Undefined*` variants reach the caller of
/// [`analyze`](crate::analyze); the others are internal outcomes of the asymptotic engine that
/// the decider turns into a [`Verdict::Unknown`](crate::Verdict::Unknown) with a reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A syntax error; `column` is 1-based and counts characters.
    #[error("{msg} at column {column}")]
    Syntax {
        /// 1-based character column.
        column: usize,
        /// What went wrong, e.g. "unexpected ')'".
        msg: String,
    },
    /// A name that is neither `n`, a constant nor a known function.
    #[error("unknown {kind} '{name}' at column {column}")]
    UnknownName {
        /// "function" or "identifier".
        kind: &'static str,
        /// The name as written.
        name: String,
        /// 1-based character column.
        column: usize,
    },
    /// The term is undefined at an index the series starts from.
    #[error("a_n is undefined at n = {n}: {reason}{}", hint.map(|h| format!(" (start the sum at n = {h} or later)")).unwrap_or_default())]
    UndefinedAt {
        /// The index.
        n: u64,
        /// Why (division by zero, ln of a non-positive number, …).
        reason: String,
        /// The first later start from which the checked terms are all defined, if one was
        /// found within 1000 indices.
        hint: Option<u64>,
    },
    /// The term is undefined for every large n (e.g. `ln(-n)`).
    #[error("a_n is undefined for all large n: {0}")]
    Undefined(String),
    /// Internal: the expansion order was too low to resolve a cancellation.
    #[error("expansion order too low to resolve a cancellation")]
    NeedPrecision,
    /// Internal: outside the exp-log-Γ class handled by the engine.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Internal: an oscillating subexpression.
    #[error("oscillation: {0}")]
    Oscillation(String),
    /// Internal: a constant whose sign could not be certified.
    #[error("cannot certify that the constant {0} is non-zero")]
    ZeroEquivalence(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
