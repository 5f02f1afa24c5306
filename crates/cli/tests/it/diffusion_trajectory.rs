//! CLI tests for `kexue diffusion trajectory`.
