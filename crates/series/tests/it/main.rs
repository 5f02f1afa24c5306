//! Integration tests of the `series` crate (public API only).

mod cases;
mod ladder_props;
mod numeric;
mod parser_props;
mod signed;
mod signed_props;
mod sum_props;
mod sums;
