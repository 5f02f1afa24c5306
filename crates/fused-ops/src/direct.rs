//! Direct 3×3 convolution (stride 1, padding 1) for images whose width is a multiple of 16,
//! with AVX2 + FMA: no im2col matrix.
//!
//! The input chunk comes zero-bordered and channel-major, `xp` `[cin][nb][(h+2)·(w+2)]` (the
//! conv module's padded copy), so every kernel tap of a run of 16 output pixels in one row is
//! one unaligned 16-float read of the padded image. The kernel is packed once per call into
//! panels of [`MR`] = 6 output channels, each weight already broadcast to 8 lanes,
//! `[cout/6][cin·9][6][8]` (rows past `cout` zero). The micro-kernel keeps a 6 × 16 output
//! tile in twelve AVX registers: per tap two or three input loads, six weight loads and twelve
//! fused multiply-adds. (Broadcasting the weights in the loop, `vbroadcastss` from a packed
//! `[cin·9][6]`, ran at 26 multiply-adds per ns on the 2-core Zen 3 dev VM against 38–40 with
//! the pre-broadcast panel: the broadcasts, not the FMAs, were the limit.)
//!
//! Blocking: input channels in blocks of 8; for each block, each 6-channel panel sweeps every
//! tile of the chunk, so its 13.5 KiB of weights and the three input rows under the tile stay
//! in L1; the output tile is loaded and stored once per block.
//!
//! Versus im2col + gemm this skips writing and re-reading a `9·cin × pixels` matrix (4.5 MiB
//! per 32×32×128 image, far past L2) and the gemm's packing of it.

/// Output channels per micro-kernel tile (one panel of the packed kernel).
pub(crate) const MR: usize = 6;
/// Output pixels per micro-kernel tile: two AVX vectors of one image row.
const NR: usize = 16;

/// Whether [`conv3x3`] covers a convolution: kernel 3, stride 1, padding 1, an image width that
/// is a multiple of 16, and a CPU with AVX2 and FMA.
pub(crate) fn covers(k: usize, stride: usize, pad: usize, w: usize) -> bool {
    k == 3 && stride == 1 && pad == 1 && w > 0 && w.is_multiple_of(NR) && has_avx2_fma()
}

fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Length of the packed kernel of a `cout × cin × 3 × 3` convolution.
pub(crate) fn packed_len(cout: usize, cin: usize) -> usize {
    cout.div_ceil(MR) * MR * cin * 9 * 8
}

/// Packs `w` `[cout][cin][3][3]` into panels `[cout/6][cin·9][6][8]` (each weight repeated
/// in 8 lanes), zero rows past `cout`.
pub(crate) fn pack_weights(w: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    let kk = cin * 9;
    let mut p = vec![0f32; packed_len(cout, cin)];
    for (pb, panel) in p.chunks_exact_mut(kk * MR * 8).enumerate() {
        for (t, taps) in panel.chunks_exact_mut(MR * 8).enumerate() {
            for (r, v) in taps.chunks_exact_mut(8).enumerate() {
                let co = pb * MR + r;
                if co < cout {
                    v.fill(w[co * kk + t]);
                }
            }
        }
    }
    p
}

/// Input channels per block: 8, so that the block's pre-broadcast weights of one panel
/// (8·9·6·32 B = 13.5 KiB) and the three input rows under a tile stay in L1 (on the DDPM
/// CIFAR10 shapes 8 beat 4, 16 and 32 by 5–30 %).
const CHANNEL_BLOCK: usize = 8;

/// `yt[co][bl·h·w + p] = Σ_{ci, ky, kx} w[co][ci][ky][kx] · xp[ci][bl][p + tap]` for a chunk of
/// `nb` images (`yt` row stride `n = nb·h·w`, no bias), from the packed kernel `wp`
/// ([`pack_weights`]) and the padded channel-major input `xp` `[cin][nb][(h+2)·(w+2)]`.
///
/// # Panics
/// When [`covers`] does not hold (width, CPU) or a slice is shorter than the shapes say: bugs
/// in the caller, which checks both.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv3x3(
    wp: &[f32],
    cout: usize,
    cin: usize,
    h: usize,
    w: usize,
    nb: usize,
    xp: &[f32],
    yt: &mut [f32],
) {
    assert!(
        covers(3, 1, 1, w),
        "direct conv3x3: unsupported width or CPU"
    );
    let (hp, wpd) = (h + 2, w + 2);
    let plane = hp * wpd;
    let n = nb * h * w;
    assert!(wp.len() >= packed_len(cout, cin), "direct conv3x3: kernel");
    assert!(xp.len() >= cin * nb * plane, "direct conv3x3: input");
    assert!(yt.len() >= cout * n, "direct conv3x3: output");
    let cb = CHANNEL_BLOCK.min(cin);
    let kk = cin * 9;
    for ci0 in (0..cin).step_by(cb) {
        let nci = cb.min(cin - ci0);
        for pb in 0..cout.div_ceil(MR) {
            let rows = MR.min(cout - pb * MR);
            let panel = &wp[(pb * kk + ci0 * 9) * MR * 8..][..nci * 9 * MR * 8];
            for bl in 0..nb {
                for oy in 0..h {
                    for ox0 in (0..w).step_by(NR) {
                        let x0 = (ci0 * nb + bl) * plane + oy * wpd + ox0;
                        let y0 = pb * MR * n + bl * h * w + oy * w + ox0;
                        // Reads: xp[x0 + c·nb·plane + ky·(w+2) + kx + j] for c < nci,
                        // ky, kx < 3, j < 16; the largest index is below
                        // (ci0 + nci − 1)·nb·plane + (bl + 1)·plane ≤ cin·nb·plane since
                        // (oy + 2)·(w+2) + ox0 + 17 ≤ (h+1)·(w+2) + w + 1 < plane.
                        // Writes: yt[y0 + r·n + j] for r < rows, j < 16, below cout·n.
                        #[cfg(target_arch = "x86_64")]
                        #[allow(unsafe_code)]
                        // SAFETY: the asserts above (with `covers`: AVX2 and FMA present) and
                        // the index bounds in the comment keep every access inside `panel`
                        // (nci·9·6 values read), `xp` and `yt`.
                        unsafe {
                            tile(
                                panel.as_ptr(),
                                xp.as_ptr().add(x0),
                                nb * plane,
                                wpd,
                                nci,
                                yt.as_mut_ptr().add(y0),
                                n,
                                rows,
                                ci0 == 0,
                            );
                        }
                    }
                }
            }
        }
    }
}

/// One 6 × 16 output tile over `nci` input channels: `y[r·n + j] (+)= Σ w[((c·9 + tap)·6 +
/// r)·8] · x[c·cstride + ky·wpd + kx + j]`, overwriting `y` when `first`, else adding to it;
/// only the first `rows` rows are written.
///
/// # Safety
/// AVX2 and FMA present; `w` readable for `nci·9·6·8` values, `x` for the taps above, `y` for
/// `(rows − 1)·n + 16` values.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code, clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile(
    w: *const f32,
    x: *const f32,
    cstride: usize,
    wpd: usize,
    nci: usize,
    y: *mut f32,
    n: usize,
    rows: usize,
    first: bool,
) {
    use std::arch::x86_64::*;
    // SAFETY (whole body): the caller's contract bounds every pointer offset below.
    unsafe {
        let mut acc = [_mm256_setzero_ps(); 2 * MR];
        if !first {
            for r in 0..MR {
                if r < rows {
                    acc[2 * r] = _mm256_loadu_ps(y.add(r * n));
                    acc[2 * r + 1] = _mm256_loadu_ps(y.add(r * n + 8));
                }
            }
        }
        let mut wr = w;
        for c in 0..nci {
            let xc = x.add(c * cstride);
            for ky in 0..3 {
                let xr = xc.add(ky * wpd);
                for kx in 0..3 {
                    let a0 = _mm256_loadu_ps(xr.add(kx));
                    let a1 = _mm256_loadu_ps(xr.add(kx + 8));
                    for r in 0..MR {
                        let b = _mm256_loadu_ps(wr.add(8 * r));
                        acc[2 * r] = _mm256_fmadd_ps(b, a0, acc[2 * r]);
                        acc[2 * r + 1] = _mm256_fmadd_ps(b, a1, acc[2 * r + 1]);
                    }
                    wr = wr.add(8 * MR);
                }
            }
        }
        for r in 0..MR {
            if r < rows {
                _mm256_storeu_ps(y.add(r * n), acc[2 * r]);
                _mm256_storeu_ps(y.add(r * n + 8), acc[2 * r + 1]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The direct kernel against the definition in f64 (padding by bounds checks), for widths
    /// 16 and 32, several channel blocks (cin 70 > 64) and a partial last panel (cout 8, 13).
    #[test]
    fn direct_conv_matches_definition() {
        if !has_avx2_fma() {
            return;
        }
        for (cin, cout, h, w, nb) in [(3, 8, 2, 16, 1), (70, 13, 5, 32, 2), (9, 6, 16, 16, 3)] {
            let val = |i: usize| ((i * 7919 + 17) % 211) as f32 / 105.0 - 1.0;
            let x: Vec<f32> = (0..nb * cin * h * w).map(val).collect();
            let wt: Vec<f32> = (0..cout * cin * 9).map(|i| val(i + 5)).collect();
            // padded channel-major copy
            let (hp, wpd) = (h + 2, w + 2);
            let mut xp = vec![0f32; cin * nb * hp * wpd];
            for bl in 0..nb {
                for ci in 0..cin {
                    for iy in 0..h {
                        for ix in 0..w {
                            xp[(ci * nb + bl) * hp * wpd + (iy + 1) * wpd + ix + 1] =
                                x[((bl * cin + ci) * h + iy) * w + ix];
                        }
                    }
                }
            }
            let wp = pack_weights(&wt, cout, cin);
            let n = nb * h * w;
            let mut yt = vec![f32::NAN; cout * n];
            conv3x3(&wp, cout, cin, h, w, nb, &xp, &mut yt);
            let mut worst = 0f64;
            for bl in 0..nb {
                for co in 0..cout {
                    for oy in 0..h {
                        for ox in 0..w {
                            let mut s = 0f64;
                            for ci in 0..cin {
                                for ky in 0..3 {
                                    for kx in 0..3 {
                                        let (iy, ix) = (oy + ky, ox + kx);
                                        if iy < 1 || ix < 1 || iy > h || ix > w {
                                            continue;
                                        }
                                        let xv = x[((bl * cin + ci) * h + iy - 1) * w + ix - 1];
                                        let wv = wt[((co * cin + ci) * 3 + ky) * 3 + kx];
                                        s += xv as f64 * wv as f64;
                                    }
                                }
                            }
                            let got = yt[co * n + bl * h * w + oy * w + ox] as f64;
                            worst = worst.max((got - s).abs() / (1.0 + s.abs()));
                        }
                    }
                }
            }
            assert!(worst < 1e-5, "cin {cin} cout {cout} {h}×{w}: {worst:e}");
        }
    }

    #[test]
    fn packing_puts_six_channels_per_tap_and_zero_pads() {
        // cout 7, cin 1: two panels; tap t of channel co at panel co/6, lanes
        // (t·6 + co%6)·8 ..+8
        let w: Vec<f32> = (0..7 * 9).map(|i| i as f32 + 1.0).collect();
        let p = pack_weights(&w, 7, 1);
        assert_eq!(p.len(), 2 * 9 * 6 * 8);
        let lane0: Vec<f32> = p[..6 * 8].iter().step_by(8).copied().collect();
        assert_eq!(lane0, [1.0, 10.0, 19.0, 28.0, 37.0, 46.0]);
        assert!(p[..6 * 8].chunks(8).all(|c| c.iter().all(|&v| v == c[0])));
        assert_eq!(p[9 * 6 * 8 + 7], 55.0);
        assert!(p[9 * 6 * 8 + 8..(9 * 6 + 6) * 8].iter().all(|&v| v == 0.0));
        // tap 1 of channel 0 in the second 6-block of lanes of panel 0
        assert_eq!(p[6 * 8 + 3], 2.0);
        assert!(!covers(3, 1, 1, 8) && !covers(3, 2, 1, 32) && !covers(1, 1, 0, 32));
    }
}
