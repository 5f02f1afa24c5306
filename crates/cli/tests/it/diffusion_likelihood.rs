//! CLI tests for `kexue diffusion likelihood`.
