//! Integration tests of `diffusion` through its public API: closed-form identities of spec
//! §10 with stated tolerances.

mod exact_gaussian;
mod gamma;
mod identities;
mod nelbo;
mod sampling;
