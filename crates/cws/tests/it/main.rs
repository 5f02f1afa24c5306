//! Integration tests of `cws` through its public API.

use cws::{Dict, Segmenter};
use proptest::prelude::*;
use std::sync::OnceLock;

fn toy_dict() -> Dict {
    let words = [
        ("结婚", 100),
        ("的", 1000),
        ("和", 500),
        ("和尚", 50),
        ("尚未", 80),
        ("未", 100),
        ("二维码", 30),
        ("扫描", 20),
    ];
    Dict::from_entries(words.iter().map(|&(w, c)| (w.to_string(), c))).unwrap()
}

/// The three modes, built once (loading the model folds its tables, which takes a moment).
fn segmenters() -> &'static [Segmenter] {
    static SEGMENTERS: OnceLock<Vec<Segmenter>> = OnceLock::new();
    SEGMENTERS.get_or_init(|| {
        let tagger = cws::builtin::tagger().expect("shipped model loads");
        vec![
            Segmenter::dict(toy_dict()),
            Segmenter::neural(tagger.clone()),
            Segmenter::hybrid(tagger, toy_dict(), 0.3).unwrap(),
        ]
    })
}

#[test]
fn shipped_dictionary_and_model_load() {
    let d = cws::builtin::dict().expect("shipped dictionary parses");
    assert!(d.len() > 300_000);
    assert!(d.contains("二维码"));
    cws::builtin::tagger().expect("shipped model loads");
}

#[test]
fn shipped_model_segments_the_notes_examples() {
    let seg = Segmenter::hybrid(
        cws::builtin::tagger().unwrap(),
        cws::builtin::dict().unwrap(),
        cws::builtin::HYBRID_LAMBDA,
    )
    .unwrap();
    // 微信号 and 微信 are not in the dictionary; the shipped model gives 微信/号 (not 微信号).
    assert_eq!(
        seg.segment("扫描二维码，关注微信号")[..4],
        ["扫描", "二维码", "，", "关注"]
    );
    assert_eq!(
        seg.segment("结婚的和尚未结婚的"),
        ["结婚", "的", "和", "尚未", "结婚", "的"]
    );
}

#[test]
fn shipped_tagger_alone_handles_the_notes_examples() {
    let seg = Segmenter::neural(cws::builtin::tagger().unwrap());
    assert_eq!(
        seg.segment("结婚的和尚未结婚的"),
        ["结婚", "的", "和", "尚未", "结婚", "的"]
    );
    // A name that is not in the dictionary comes out as one word.
    assert_eq!(seg.segment("苏剑林是博主")[0], "苏剑林");
    assert_eq!(
        seg.segment("扫描二维码，关注微信号")[..4],
        ["扫描", "二维码", "，", "关注"]
    );
}

#[test]
fn edge_cases_are_lossless() {
    let cases = [
        "",
        " ",
        "\n",
        "\u{0}\u{7}\u{1b}",
        "👍🏽👨\u{200d}👩",
        "a\u{301}",
        "１２３４５．６７％",
        "中",
        "𠀀𠀁中文",
    ];
    for seg in segmenters() {
        for c in cases {
            let t = seg.segment(c);
            assert_eq!(t.concat(), c);
            assert!(t.iter().all(|x| !x.is_empty()));
        }
    }
}

#[test]
fn invalid_utf8_is_rejected() {
    let seg = Segmenter::dict(toy_dict());
    let err = seg.segment_bytes(b"ab\xffcd").unwrap_err();
    assert!(matches!(err, cws::Error::Utf8 { offset: 2 }), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn random_unicode_is_segmented_losslessly(s in any::<String>(), han in "[结婚的和尚未二维码扫描苏剑林，。 a1]{0,40}") {
        for seg in segmenters() {
            for text in [s.as_str(), han.as_str()] {
                let t = seg.segment(text);
                prop_assert_eq!(t.concat(), text);
                prop_assert!(t.iter().all(|x| !x.is_empty()));
            }
        }
    }
}
