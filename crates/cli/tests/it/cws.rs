//! CLI tests for `kexue cws`.
