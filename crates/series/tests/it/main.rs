//! Integration tests of the `series` crate (public API only).

mod cases;
mod numeric;
mod parser_props;
