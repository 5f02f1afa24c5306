//! Viterbi decoding of B/M/E/S tags with the transition constraints.
//!
//! Allowed transitions (jieba's `ALLOWED_PREV_STATUS` read forwards): B→M, B→E, M→M, M→E, E→B,
//! E→S, S→B, S→S; the first tag is B or S and the last is E or S.
//! Scores are log-probabilities per character and tag; allowed transitions cost 0, so the
//! decoder returns the legal tag path with the largest sum of emissions in O(4·N).

use crate::tag::Tag;

/// `ALLOWED[prev][next]`, indexed by [`Tag::index`].
pub const ALLOWED: [[bool; 4]; 4] = [
    // to:  B      M      E      S
    [false, true, true, false], // from B
    [false, true, true, false], // from M
    [true, false, false, true], // from E
    [true, false, false, true], // from S
];

/// Whether `tags` is a legal sequence (start B/S, end E/S, allowed transitions).
pub fn is_legal(tags: &[Tag]) -> bool {
    let (Some(first), Some(last)) = (tags.first(), tags.last()) else {
        return true;
    };
    first.starts_word()
        && matches!(last, Tag::E | Tag::S)
        && tags.windows(2).all(|w| ALLOWED[w[0].index()][w[1].index()])
}

/// Decodes the best legal tag path for `emissions` (one row of 4 log-scores per character,
/// in [`Tag::ALL`] order) into `out`. Reuses `back` as scratch.
pub fn decode(emissions: &[[f32; 4]], back: &mut Vec<[u8; 4]>, out: &mut Vec<Tag>) {
    out.clear();
    let n = emissions.len();
    if n == 0 {
        return;
    }
    back.clear();
    back.resize(n, [0; 4]);
    const NEG: f32 = f32::NEG_INFINITY;
    let e0 = emissions[0];
    let mut score = [e0[0], NEG, NEG, e0[3]];
    for (t, e) in emissions.iter().enumerate().skip(1) {
        // B and S come from E or S; M and E come from B or M.
        let (from_es, es_idx) = if score[2] >= score[3] {
            (score[2], 2)
        } else {
            (score[3], 3)
        };
        let (from_bm, bm_idx) = if score[0] >= score[1] {
            (score[0], 0)
        } else {
            (score[1], 1)
        };
        score = [
            from_es + e[0],
            from_bm + e[1],
            from_bm + e[2],
            from_es + e[3],
        ];
        back[t] = [es_idx, bm_idx, bm_idx, es_idx];
    }
    let mut state = if score[2] >= score[3] { 2usize } else { 3 };
    out.resize(n, Tag::S);
    for t in (0..n).rev() {
        out[t] = Tag::ALL[state];
        state = back[t][state] as usize;
    }
}

/// As [`decode`], adding `trans[prev][next]` (log-probabilities of the allowed transitions;
/// disallowed ones stay forbidden whatever their value) to the path score. With all allowed
/// entries equal this is [`decode`]. The emissions should be log-softmax rows, so that the two
/// terms are on the same scale.
pub fn decode_with(
    emissions: &[[f32; 4]],
    trans: &[[f32; 4]; 4],
    back: &mut Vec<[u8; 4]>,
    out: &mut Vec<Tag>,
) {
    out.clear();
    let n = emissions.len();
    if n == 0 {
        return;
    }
    back.clear();
    back.resize(n, [0; 4]);
    const NEG: f32 = f32::NEG_INFINITY;
    let e0 = emissions[0];
    let mut score = [e0[0], NEG, NEG, e0[3]];
    for (t, e) in emissions.iter().enumerate().skip(1) {
        let mut next = [NEG; 4];
        for (to, slot) in next.iter_mut().enumerate() {
            // The first allowed predecessor wins ties, as in `decode`.
            let mut best: Option<(f32, u8)> = None;
            for (from, row) in ALLOWED.iter().enumerate() {
                if row[to] {
                    let v = score[from] + trans[from][to];
                    if best.is_none_or(|b| v > b.0) {
                        best = Some((v, from as u8));
                    }
                }
            }
            let (v, from) = best.expect("every tag has an allowed predecessor");
            *slot = v + e[to];
            back[t][to] = from;
        }
        score = next;
    }
    let mut state = if score[2] >= score[3] { 2usize } else { 3 };
    out.resize(n, Tag::S);
    for t in (0..n).rev() {
        out[t] = Tag::ALL[state];
        state = back[t][state] as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn path_score(em: &[[f32; 4]], tags: &[Tag]) -> f32 {
        em.iter().zip(tags).map(|(e, t)| e[t.index()]).sum()
    }

    #[test]
    fn viterbi_matches_brute_force() {
        let mut rng = StdRng::seed_from_u64(0);
        let mut back = Vec::new();
        let mut out = Vec::new();
        for n in 1..=7 {
            for _ in 0..40 {
                let em: Vec<[f32; 4]> = (0..n)
                    .map(|_| std::array::from_fn(|_| -rng.random_range(0.0f32..5.0)))
                    .collect();
                decode(&em, &mut back, &mut out);
                assert!(is_legal(&out), "{out:?}");
                let mut best = f32::NEG_INFINITY;
                for code in 0..4usize.pow(n as u32) {
                    let tags: Vec<Tag> = (0..n).map(|i| Tag::ALL[(code >> (2 * i)) & 3]).collect();
                    if is_legal(&tags) {
                        best = best.max(path_score(&em, &tags));
                    }
                }
                // Sums of ≤ 7 f32 terms of magnitude ≤ 5: rounding error ≤ 7·5·2^-23 ≈ 4e-6.
                assert!((path_score(&em, &out) - best).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn viterbi_with_transitions_matches_brute_force() {
        let mut rng = StdRng::seed_from_u64(1);
        let (mut back, mut out, mut plain) = (Vec::new(), Vec::new(), Vec::new());
        for n in 1..=7 {
            for _ in 0..40 {
                let em: Vec<[f32; 4]> = (0..n)
                    .map(|_| std::array::from_fn(|_| -rng.random_range(0.0f32..5.0)))
                    .collect();
                let trans: [[f32; 4]; 4] =
                    std::array::from_fn(|_| std::array::from_fn(|_| -rng.random_range(0.0..3.0)));
                decode_with(&em, &trans, &mut back, &mut out);
                assert!(is_legal(&out), "{out:?}");
                let score = |tags: &[Tag]| {
                    path_score(&em, tags)
                        + tags
                            .windows(2)
                            .map(|w| trans[w[0].index()][w[1].index()])
                            .sum::<f32>()
                };
                let mut best = f32::NEG_INFINITY;
                for code in 0..4usize.pow(n as u32) {
                    let tags: Vec<Tag> = (0..n).map(|i| Tag::ALL[(code >> (2 * i)) & 3]).collect();
                    if is_legal(&tags) {
                        best = best.max(score(&tags));
                    }
                }
                // ≤ 13 f32 terms of magnitude ≤ 5: rounding error ≲ 1e-5.
                assert!((score(&out) - best).abs() < 2e-5);
                // Uniform transitions give the plain decoder's path.
                decode_with(&em, &[[-0.7; 4]; 4], &mut back, &mut out);
                decode(&em, &mut back, &mut plain);
                assert_eq!(out, plain);
            }
        }
    }

    #[test]
    fn length_one_is_s_and_empty_is_empty() {
        let mut back = Vec::new();
        let mut out = Vec::new();
        decode(&[[0.0, 0.0, 0.0, -100.0]], &mut back, &mut out);
        assert_eq!(out, [Tag::S]);
        decode(&[], &mut back, &mut out);
        assert!(out.is_empty());
    }
}
