//! CLI tests for `kexue series`.
