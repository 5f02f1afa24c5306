//! Integration tests of the public API (one binary).

// Matrix tests index J[i][k] and J[k][i] together; reference values keep mpmath's digits.
#![allow(clippy::needless_range_loop, clippy::excessive_precision)]

mod candle_train;
mod closed_forms;
mod hostile;
mod jacobian;
mod kpoint;
mod properties;
mod reference;
mod robust;
mod sampling;
