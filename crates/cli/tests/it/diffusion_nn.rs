//! CLI tests for `kexue diffusion nn`.
