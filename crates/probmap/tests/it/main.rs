//! Integration tests of the public API (one binary). Slow tests are gated by `SLOW_TESTS`.

mod jacobian;
mod kpoint;
mod properties;
mod reference;
mod robust;
mod sampling;
