//! Crate `series`: decide convergence of Σ_{n≥n0} a_n for a symbolic positive term a_n.
#![warn(missing_docs)]

pub mod asymptotic;
pub mod constant;
mod error;
pub mod expr;
pub mod lexer;
pub mod parser;
pub mod rat;
pub mod scale;

pub use error::{Error, Result};
pub use expr::Expr;
pub use parser::parse;

/// Placeholder until the decider lands.
#[derive(Debug)]
pub enum Verdict {
    /// Σ a_n converges.
    Converges,
    /// Σ a_n diverges.
    Diverges,
    /// Not decided.
    Unknown,
}
