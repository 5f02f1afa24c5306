//! Property tests: the parser and the decider never panic, whatever the input.

use proptest::prelude::*;
use series::{Error, analyze, parse};

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("n".to_string()),
        Just("e".to_string()),
        Just("pi".to_string()),
        Just("ln(".to_string()),
        Just("exp(".to_string()),
        Just("sqrt(".to_string()),
        Just("sin(".to_string()),
        Just("cos(".to_string()),
        Just("arctan(".to_string()),
        Just("tanh(".to_string()),
        Just("abs(".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("+".to_string()),
        Just("-".to_string()),
        Just("*".to_string()),
        Just("/".to_string()),
        Just("^".to_string()),
        Just("!".to_string()),
        Just("!!".to_string()),
        (0u32..20).prop_map(|k| k.to_string()),
        Just("0.5".to_string()),
        Just(" ".to_string()),
    ]
}

/// Syntactically valid terms built from the grammar.
fn term() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("n".to_string()),
        (1u32..6).prop_map(|k| k.to_string()),
        Just("e".to_string()),
        Just("1/2".to_string()),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a})+({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a})-({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a})*({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a})/({b})")),
            (inner.clone(), -3i32..4).prop_map(|(a, k)| format!("({a})^({k})")),
            inner.clone().prop_map(|a| format!("ln({a})")),
            inner.clone().prop_map(|a| format!("exp(-({a}))")),
            inner.clone().prop_map(|a| format!("sqrt({a})")),
            inner.clone().prop_map(|a| format!("sin(1/({a}))")),
            inner.clone().prop_map(|a| format!("arctan({a})")),
            inner.clone().prop_map(|a| format!("sin({a})")),
            inner.clone().prop_map(|a| format!("(-1)^n*({a})")),
            inner.clone().prop_map(|a| format!("cos(n)*({a})")),
            Just("n!".to_string()),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_arbitrary_text(s in "\\PC{0,60}") {
        let _ = parse(&s);
    }

    #[test]
    fn parser_never_panics_on_token_soup(toks in proptest::collection::vec(token(), 0..30)) {
        let src = toks.concat();
        match parse(&src) {
            Ok(_) => {}
            Err(Error::Syntax { column, .. }) | Err(Error::UnknownName { column, .. }) => {
                prop_assert!(column >= 1 && column <= src.chars().count() + 1);
            }
            Err(other) => prop_assert!(false, "unexpected error kind {other:?}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn decider_never_panics_and_parses_what_it_prints(src in term(), n0 in 1u64..4) {
        let e = parse(&src).unwrap();
        // The infix printer must round-trip through the parser.
        prop_assert_eq!(parse(&e.infix()).unwrap(), e);
        // Stated bound: every decision (domain proof included) within 2 s in release builds.
        let start = std::time::Instant::now();
        let _ = analyze(&src, n0);
        prop_assert!(start.elapsed() < std::time::Duration::from_secs(2), "{}: {:?}", src, start.elapsed());
    }
}
