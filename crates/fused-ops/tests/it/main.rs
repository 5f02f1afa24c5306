//! Integration tests of the fused ops against candle's composed ops and finite differences.
mod conv;
mod linear;
mod norm;
