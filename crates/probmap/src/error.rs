//! The crate's error type.

/// Everything that can go wrong with outside input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The score vector is empty.
    #[error("the score vector mu is empty")]
    EmptyInput,
    /// A score (or direction entry) is NaN or infinite.
    #[error("{what}[{index}] = {value} is not finite")]
    NonFinite {
        /// Which argument (`mu`, `v`).
        what: &'static str,
        /// Position of the bad entry.
        index: usize,
        /// The bad value.
        value: f64,
    },
    /// A score divided by the scale overflows f64.
    #[error("mu[{index}]/scale = {value:e}/{scale:e} overflows f64: use a larger scale")]
    ScaledOverflow {
        /// Position of the score.
        index: usize,
        /// The score.
        value: f64,
        /// The scale.
        scale: f64,
    },
    /// Scale (temperature) is not a positive finite number.
    #[error("scale must be positive and finite, got {value}")]
    InvalidScale {
        /// The bad value.
        value: f64,
    },
    /// Student-t degrees of freedom not positive and finite.
    #[error("degrees of freedom ν must be positive and finite, got {value}")]
    InvalidDof {
        /// The bad value.
        value: f64,
    },
    /// A Student-t family name without ν.
    #[error("noise family {name:?} needs its degrees of freedom: write student:ν, e.g. student:3")]
    MissingDof {
        /// The name as given.
        name: String,
    },
    /// Unknown noise family name.
    #[error("unknown noise family {name:?} (known: {known})")]
    UnknownFamily {
        /// The name as given.
        name: String,
        /// The accepted names.
        known: String,
    },
    /// Two vectors that must have the same length do not.
    #[error("length mismatch: mu has {expected} entries, {what} has {found}")]
    LengthMismatch {
        /// Which argument.
        what: &'static str,
        /// Length of mu.
        expected: usize,
        /// Length found.
        found: usize,
    },
    /// The request would need too much memory (the full Jacobian is n × n).
    #[error(
        "{what} for n = {n} is too large (at most n = {max}); use the Jacobian-vector product instead"
    )]
    TooLarge {
        /// What was asked for.
        what: &'static str,
        /// The size asked for.
        n: usize,
        /// The largest size allowed.
        max: usize,
    },
    /// The quadrature's error estimate exceeds what the caller accepts
    /// ([`crate::Map::evaluate_within`]).
    #[error(
        "p cannot be computed to the accuracy asked for: estimated error {error:.1e} > {max:.1e}{hint}"
    )]
    Inaccurate {
        /// The estimated bound on max_i |p_i − exact p_i|.
        error: f64,
        /// The largest error accepted.
        max: f64,
        /// Why, when known (starts with "; ").
        hint: String,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {msg}")]
    InvalidConfig {
        /// What is wrong.
        msg: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Checks that `xs` is non-empty and finite.
pub(crate) fn check_finite(what: &'static str, xs: &[f64]) -> Result<()> {
    if xs.is_empty() && what == "mu" {
        return Err(Error::EmptyInput);
    }
    if let Some((index, &value)) = xs.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(Error::NonFinite { what, index, value });
    }
    Ok(())
}
