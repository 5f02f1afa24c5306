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

fn builtin_hybrid(user: &str) -> Segmenter {
    let mut dict = cws::builtin::dict().unwrap();
    dict.add_user(user.as_bytes()).unwrap();
    Segmenter::hybrid(
        cws::builtin::tagger().unwrap(),
        dict,
        cws::builtin::HYBRID_LAMBDA,
    )
    .unwrap()
}

// Issue 20 item 4: user-dictionary words were ignored in the default (hybrid) mode.
#[test]
fn user_words_are_kept_in_hybrid_and_dict_modes() {
    let user = "创新办 3 j\n云计算 5\n天气很好 100000\n二维码 0\n";
    let hybrid = builtin_hybrid(user);
    let mut dict = cws::builtin::dict().unwrap();
    dict.add_user(user.as_bytes()).unwrap();
    let dict_mode = Segmenter::dict(dict);
    for seg in [&hybrid, &dict_mode] {
        let words = seg.segment("今天天气很好，创新办主任谈云计算，扫描二维码");
        for w in ["天气很好", "创新办", "云计算"] {
            assert!(words.contains(&w), "{:?}: {words:?}", seg.mode());
        }
        // A deleted word is never a token.
        assert!(!words.contains(&"二维码"), "{:?}: {words:?}", seg.mode());
        assert_eq!(
            words.concat(),
            "今天天气很好，创新办主任谈云计算，扫描二维码"
        );
    }
}

#[test]
fn search_mode_adds_dictionary_sub_words() {
    let d = Dict::from_entries(
        [
            ("中华人民共和国", 10),
            ("中华", 5),
            ("华人", 3),
            ("人民", 8),
            ("共和国", 4),
            ("共和", 2),
            ("万岁", 6),
        ]
        .iter()
        .map(|&(w, c)| (w.to_string(), c)),
    )
    .unwrap();
    let seg = Segmenter::dict(d);
    let text = "中华人民共和国万岁！";
    let tokens = seg.tokenize_search(text);
    let words: Vec<&str> = tokens.iter().map(|t| t.word).collect();
    assert_eq!(
        words,
        [
            "中华",
            "华人",
            "人民",
            "共和",
            "共和国",
            "中华人民共和国",
            "万岁",
            "！"
        ]
    );
    let chars: Vec<char> = text.chars().collect();
    for t in &tokens {
        assert_eq!(&text[t.byte_start..t.byte_end], t.word);
        assert_eq!(chars[t.start..t.end].iter().collect::<String>(), t.word);
    }
}

#[test]
fn token_offsets_slice_the_input_back() {
    let text = "我爱 北京🇨🇳，iPhone15 售价 3.14%！e\u{301}结婚的和尚未结婚的\r";
    let chars: Vec<char> = text.chars().collect();
    for seg in segmenters() {
        let tokens = seg.tokenize(text);
        let words: Vec<&str> = tokens.iter().map(|t| t.word).collect();
        assert_eq!(words, seg.segment(text));
        let mut prev = (0, 0);
        for t in &tokens {
            assert_eq!(&text[t.byte_start..t.byte_end], t.word);
            assert_eq!(chars[t.start..t.end].iter().collect::<String>(), t.word);
            assert_eq!((t.start, t.byte_start), prev, "tokens are contiguous");
            prev = (t.end, t.byte_end);
        }
        assert_eq!(prev, (chars.len(), text.len()));
    }
}

#[test]
fn pos_tags_on_a_fixed_sentence() {
    // Tags of 我, 爱, 北京, 天安门, 发布 are the tag column of data/dict.txt (jieba's); the rest
    // come from the rules of cws::pos.
    let seg = Segmenter::dict(cws::builtin::dict().unwrap());
    let mut tokens = seg.tokenize("我爱北京天安门，2023年 iPhone15 发布");
    seg.pos_tag(&mut tokens);
    let got: Vec<(&str, &str)> = tokens.iter().map(|t| (t.word, t.pos.unwrap())).collect();
    assert_eq!(
        got,
        [
            ("我", "r"),
            ("爱", "v"),
            ("北京", "ns"),
            ("天安门", "ns"),
            ("，", "x"),
            ("2023", "m"),
            ("年", "m"),
            (" ", "x"),
            ("iPhone15", "eng"),
            (" ", "x"),
            ("发布", "v"),
        ]
    );
}

fn run_stream(seg: &Segmenter, opts: &cws::stream::Options, input: &[u8]) -> (Vec<u8>, String) {
    let mut out = Vec::new();
    let r = cws::stream::run(seg, opts, input, &mut out);
    (out, r.map_or_else(|e| e.to_string(), |s| format!("{s:?}")))
}

#[test]
fn parallel_output_is_identical_to_serial() {
    use cws::stream::{Format, Granularity, Options, Pos};
    let raw = include_str!("../../../../data/cws-dev/raw.txt");
    // Enough lines for several blocks of the parallel driver, with CRLF and blank lines.
    let mut input = String::new();
    for i in 0..30 {
        input.push_str(raw);
        input.push_str(if i % 2 == 0 { "\r\n\n" } else { "\n" });
    }
    let seg = builtin_hybrid("天气很好 100\n");
    for format in [Format::Text, Format::Json] {
        for granularity in [Granularity::Words, Granularity::Search] {
            for pos in [Pos::Off, Pos::On] {
                let opts = Options {
                    format,
                    granularity,
                    pos,
                    threads: 1,
                };
                let serial = run_stream(&seg, &opts, input.as_bytes());
                for threads in [2, 3] {
                    let par = run_stream(&seg, &Options { threads, ..opts }, input.as_bytes());
                    assert!(serial == par, "{opts:?} with {threads} threads differs");
                }
            }
        }
    }
}

// Issue 20 item 13: the `\r` of CRLF input was dropped even in --json; a joiner before a space
// swallowed the space.
#[test]
fn stream_json_keeps_cr_and_text_has_single_spaces() {
    use cws::stream::{Format, Options};
    let seg = Segmenter::dict(toy_dict());
    let json = Options {
        format: Format::Json,
        ..Options::default()
    };
    let (out, _) = run_stream(&seg, &json, "结婚的\r\n和尚\n".as_bytes());
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let words = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| t["word"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(words(&lines[0]), ["结婚", "的", "\r"]);
    assert_eq!(lines[0][2]["start"], 3);
    assert_eq!(lines[0][2]["byte_start"], 9);
    assert_eq!(words(&lines[1]), ["和尚"]);
    let (out, _) = run_stream(&seg, &Options::default(), "👍\u{200d} 结婚\r\n".as_bytes());
    assert_eq!(String::from_utf8(out).unwrap(), "👍\u{200d} 结婚\n");
}

#[test]
fn stream_reports_the_bad_line_after_writing_the_good_ones() {
    let seg = Segmenter::dict(toy_dict());
    for threads in [1, 2] {
        let opts = cws::stream::Options {
            threads,
            ..Default::default()
        };
        let (out, err) = run_stream(&seg, &opts, b"\xe7\xbb\x93\xe5\xa9\x9a\n\xff\n");
        assert_eq!(out, "结婚\n".as_bytes());
        assert!(err.contains("line 2") && err.contains("UTF-8"), "{err}");
    }
}
