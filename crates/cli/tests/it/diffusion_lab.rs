//! CLI tests for `kexue diffusion lab`.
