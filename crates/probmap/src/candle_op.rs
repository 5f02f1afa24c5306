//! A candle op (forward and backward) that applies a [`Map`] along the last dimension, so a
//! noise map can replace softmax in a model.
//!
//! Forward: each row of scores `mu` (f32 or f64, any leading shape) becomes `p = Map::probs(mu)`,
//! computed in f64 and cast back. Backward: the gradient is the vector-Jacobian product
//! `g ↦ Jᵀ g = J g` (J is symmetric), computed in O(n·Q) per row with [`Map::vjp`].
//! The forward pass runs on the CPU device; the backward pass copies rows to the host and works
//! for any device.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use probmap::{Family, Map, candle_op::probmap};
//!
//! let map = Map::new(Family::Gauss, 1.0)?;
//! let logits = Tensor::new(&[[1.0f64, 2.0, 3.0]], &Device::Cpu)?;
//! let p = probmap(&logits, &map)?;
//! let sum: f64 = p.sum_all()?.to_scalar()?;
//! assert!((sum - 1.0).abs() < 1e-12);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};

use crate::Map;

/// Applies `map` to every row (last dimension) of `xs`, with a backward pass.
///
/// # Shapes
/// `xs: (…, n)` → `(…, n)`, same dtype (f32 or f64).
///
/// # Errors
/// Candle errors, and this crate's errors (non-finite scores, …) wrapped as candle errors.
pub fn probmap(xs: &Tensor, map: &Map) -> candle_core::Result<Tensor> {
    xs.apply_op1(MapOp { map: map.clone() })
}

struct MapOp {
    map: Map,
}

fn wrap(e: crate::Error) -> candle_core::Error {
    candle_core::Error::Msg(format!("probmap: {e}"))
}

/// Rows of a contiguous host buffer, mapped through `f`, as f64.
fn map_rows(
    data: &[f64],
    n: usize,
    mut f: impl FnMut(usize, &[f64]) -> crate::Result<Vec<f64>>,
) -> candle_core::Result<Vec<f64>> {
    let mut out = Vec::with_capacity(data.len());
    for (r, row) in data.chunks(n).enumerate() {
        out.extend(f(r, row).map_err(wrap)?);
    }
    Ok(out)
}

impl CustomOp1 for MapOp {
    fn name(&self) -> &'static str {
        "probmap"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let shape = layout.shape().clone();
        let n = *shape.dims().last().unwrap_or(&1);
        if n == 0 {
            candle_core::bail!("probmap: the last dimension is empty");
        }
        let (start, end) = layout
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("probmap: input must be contiguous".into()))?;
        match storage {
            CpuStorage::F64(v) => {
                let out = map_rows(&v[start..end], n, |_, row| self.map.probs(row))?;
                Ok((CpuStorage::F64(out), shape))
            }
            CpuStorage::F32(v) => {
                let data: Vec<f64> = v[start..end].iter().map(|&x| f64::from(x)).collect();
                let out = map_rows(&data, n, |_, row| self.map.probs(row))?;
                Ok((
                    CpuStorage::F32(out.into_iter().map(|x| x as f32).collect()),
                    shape,
                ))
            }
            _ => candle_core::bail!("probmap: only f32 and f64 tensors are supported"),
        }
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let dims = arg.dims().to_vec();
        let n = *dims.last().unwrap_or(&1);
        let dtype = arg.dtype();
        let mu: Vec<f64> = arg.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
        let g: Vec<f64> = grad_res.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
        let grads = map_rows(&mu, n, |r, row| self.map.vjp(row, &g[r * n..(r + 1) * n]))?;
        let t = Tensor::from_vec(grads, dims, arg.device())?.to_dtype(dtype)?;
        Ok(Some(t))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    use super::*;
    use crate::Family;

    #[test]
    fn forward_matches_library_and_backward_matches_vjp() -> candle_core::Result<()> {
        let map = Map::new(Family::Logistic, 0.7).map_err(wrap)?;
        let rows = [[0.3f64, -1.0, 2.0, 0.5], [1.0, 1.0, 1.0, -4.0]];
        let x = Var::new(&rows, &Device::Cpu)?;
        let p = probmap(x.as_tensor(), &map)?;
        let weights = Tensor::new(
            &[[1.0f64, -2.0, 0.5, 3.0], [0.0, 1.0, -1.0, 2.0]],
            &Device::Cpu,
        )?;
        let loss = (p.clone() * &weights)?.sum_all()?;
        let grads = loss.backward()?;
        let gx: Vec<Vec<f64>> = grads.get(&x).expect("gradient of x").to_vec2()?;
        let pv: Vec<Vec<f64>> = p.to_vec2()?;
        let wv: Vec<Vec<f64>> = weights.to_vec2()?;
        for r in 0..2 {
            let want_p = map.probs(&rows[r]).map_err(wrap)?;
            let want_g = map.vjp(&rows[r], &wv[r]).map_err(wrap)?;
            for k in 0..4 {
                assert!((pv[r][k] - want_p[k]).abs() < 1e-15);
                assert!((gx[r][k] - want_g[k]).abs() < 1e-15);
            }
        }
        Ok(())
    }

    #[test]
    fn f32_and_bad_input() -> candle_core::Result<()> {
        let map = Map::new(Family::Gauss, 1.0).map_err(wrap)?;
        let x = Tensor::new(&[[1.0f32, 2.0, 3.0]], &Device::Cpu)?;
        let p: Vec<Vec<f32>> = probmap(&x, &map)?.to_vec2()?;
        assert!((p[0][2] - 0.728_751_f32).abs() < 1e-6);
        let bad = Tensor::new(&[[1.0f32, f32::NAN]], &Device::Cpu)?;
        let err = probmap(&bad, &map).unwrap_err().to_string();
        assert!(err.contains("not finite"), "{err}");
        Ok(())
    }
}
