//! Hostile inputs (issue 20): every bad value gets a typed error, never a panic, a hang or a
//! wrong answer passed off as exact.

use probmap::{Error, Family, KPoint, Map};

type Check = fn(&Error) -> bool;

/// One API call on outside input and the error it must give.
struct Case {
    what: &'static str,
    call: fn() -> Result<(), Error>,
    want: Check,
}

fn probs(family: Family, scale: f64, mu: &[f64]) -> Result<(), Error> {
    Map::new(family, scale)?.probs(mu).map(drop)
}

fn within(family: Family, mu: &[f64]) -> Result<(), Error> {
    Map::new(family, 1.0)?.evaluate_within(mu, 1e-9).map(drop)
}

#[test]
fn bad_inputs_are_typed_errors() {
    let cases = [
        Case {
            what: "empty mu",
            call: || probs(Family::Gauss, 1.0, &[]),
            want: |e| matches!(e, Error::EmptyInput),
        },
        Case {
            what: "NaN in mu",
            call: || probs(Family::Gauss, 1.0, &[1.0, f64::NAN]),
            want: |e| matches!(e, Error::NonFinite { index: 1, .. }),
        },
        Case {
            what: "+inf in mu",
            call: || probs(Family::Logistic, 1.0, &[f64::INFINITY, 0.0]),
            want: |e| matches!(e, Error::NonFinite { index: 0, .. }),
        },
        Case {
            what: "-inf in mu (Gumbel)",
            call: || probs(Family::Gumbel, 1.0, &[0.0, 1.0, f64::NEG_INFINITY]),
            want: |e| matches!(e, Error::NonFinite { index: 2, .. }),
        },
        Case {
            what: "mu/scale overflows",
            call: || probs(Family::Gauss, 1e-10, &[1e300, 0.0]),
            want: |e| matches!(e, Error::ScaledOverflow { index: 0, .. }),
        },
        Case {
            what: "zero scale",
            call: || probs(Family::Gauss, 0.0, &[1.0, 2.0]),
            want: |e| matches!(e, Error::InvalidScale { .. }),
        },
        Case {
            what: "negative scale",
            call: || probs(Family::Gauss, -1.0, &[1.0, 2.0]),
            want: |e| matches!(e, Error::InvalidScale { .. }),
        },
        Case {
            what: "NaN scale",
            call: || probs(Family::Gauss, f64::NAN, &[1.0, 2.0]),
            want: |e| matches!(e, Error::InvalidScale { .. }),
        },
        Case {
            what: "infinite scale",
            call: || probs(Family::Gauss, f64::INFINITY, &[1.0, 2.0]),
            want: |e| matches!(e, Error::InvalidScale { .. }),
        },
        Case {
            what: "ν = 0",
            call: || Family::student(0.0).map(drop),
            want: |e| matches!(e, Error::InvalidDof { .. }),
        },
        Case {
            what: "ν < 0",
            call: || Family::student(-2.0).map(drop),
            want: |e| matches!(e, Error::InvalidDof { .. }),
        },
        Case {
            what: "ν = NaN",
            call: || Family::student(f64::NAN).map(drop),
            want: |e| matches!(e, Error::InvalidDof { .. }),
        },
        Case {
            what: "ν = inf",
            call: || Family::student(f64::INFINITY).map(drop),
            want: |e| matches!(e, Error::InvalidDof { .. }),
        },
        Case {
            what: "K = 0",
            call: || KPoint::new(Family::Gauss, 0).map(drop),
            want: |e| matches!(e, Error::InvalidConfig { .. }),
        },
        Case {
            // allocated K quantiles: capacity overflow / out of memory before
            what: "K = usize::MAX",
            call: || KPoint::new(Family::Gauss, usize::MAX).map(drop),
            want: |e| matches!(e, Error::InvalidConfig { .. }),
        },
        Case {
            what: "Jacobian of n = 5000",
            call: || {
                Map::new(Family::Gauss, 1.0)?
                    .jacobian(&vec![0.0; 5000])
                    .map(drop)
            },
            want: |e| matches!(e, Error::TooLarge { n: 5000, .. }),
        },
        Case {
            what: "v shorter than mu",
            call: || {
                Map::new(Family::Gauss, 1.0)?
                    .jvp(&[1.0, 2.0], &[1.0])
                    .map(drop)
            },
            want: |e| matches!(e, Error::LengthMismatch { found: 1, .. }),
        },
        Case {
            what: "NaN in v",
            call: || {
                Map::new(Family::Gauss, 1.0)?
                    .jvp(&[1.0, 2.0], &[1.0, f64::NAN])
                    .map(drop)
            },
            want: |e| matches!(e, Error::NonFinite { what: "v", .. }),
        },
        Case {
            what: "accepted error 0",
            call: || {
                Map::new(Family::Gauss, 1.0)?
                    .evaluate_within(&[1.0, 2.0], 0.0)
                    .map(drop)
            },
            want: |e| matches!(e, Error::InvalidConfig { .. }),
        },
        Case {
            what: "accepted error NaN",
            call: || {
                Map::new(Family::Gauss, 1.0)?
                    .evaluate_within(&[1.0, 2.0], f64::NAN)
                    .map(drop)
            },
            want: |e| matches!(e, Error::InvalidConfig { .. }),
        },
        Case {
            // max − min overflows f64: with tails this heavy the low class still wins often,
            // and that cannot be computed in f64; it used to come out as p = (0, 1)
            what: "score range beyond f64, Student ν = 0.001",
            call: || within(Family::student(0.001).unwrap(), &[-1e308, 1e308]),
            want: |e| matches!(e, Error::Inaccurate { .. }),
        },
    ];
    let mut failures = Vec::new();
    for case in &cases {
        match (case.call)() {
            Err(e) if (case.want)(&e) => {
                // every message is one line
                assert!(!e.to_string().contains('\n'), "{}: {e}", case.what);
            }
            other => failures.push(format!("{}: got {other:?}", case.what)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Extreme but valid inputs: light tails make a range beyond f64 harmless (the low class
/// cannot win), one class wins surely; p within 1e-12, accepted at the CLI default 1e-9.
#[test]
fn extreme_valid_inputs() {
    let cases: [(Family, Vec<f64>, Vec<f64>); 6] = [
        (Family::Gauss, vec![-1e308, 1e308], vec![0.0, 1.0]),
        // Cauchy: the others win with probability ~1/(π·1e308)
        (
            Family::student(1.0).unwrap(),
            vec![-1e308, 1e308, 0.0],
            vec![0.0, 1.0, 0.0],
        ),
        (
            Family::Logistic,
            vec![1e308, -1e308, 0.0],
            vec![1.0, 0.0, 0.0],
        ),
        (Family::Exponential, vec![-1e308, 1e308], vec![0.0, 1.0]),
        (Family::Gauss, vec![7.0], vec![1.0]),
        (Family::student(0.5).unwrap(), vec![-3.0; 4], vec![0.25; 4]),
    ];
    for (family, mu, want) in cases {
        let ev = Map::new(family, 1.0)
            .unwrap()
            .evaluate_within(&mu, 1e-9)
            .unwrap_or_else(|e| panic!("{family} {mu:?}: {e}"));
        for (a, b) in ev.p.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-12, "{family} {mu:?}: {:?}", ev.p);
        }
    }
}
