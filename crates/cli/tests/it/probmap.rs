//! CLI tests for `kexue probmap`.
