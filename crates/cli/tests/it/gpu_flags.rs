//! Issue 20, item 20: the GPU build is spelled one way in the README, in `--help` and in the
//! errors of a CPU-only build (`-p cli --features cuda`; never `cli/cuda` or `--cuda`).

use crate::kexue;

/// Every `--features …` in `text` is `--features cuda`, and `cli/cuda` never appears.
fn assert_one_spelling(what: &str, text: &str) {
    assert!(!text.contains("cli/cuda"), "{what} spells `cli/cuda`");
    for (i, _) in text.match_indices("--features") {
        let rest = &text[i + "--features".len()..];
        assert!(
            rest.starts_with(" cuda"),
            "{what}: `--features{}`",
            &rest[..rest.len().min(20)]
        );
    }
}

#[test]
fn gpu_build_flag_has_one_spelling() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    assert_one_spelling("README.md", &readme);
    assert!(readme.contains("cargo build --release -p cli --features cuda"));
    for args in [
        &["diffusion", "train", "--help"][..],
        &["diffusion", "sample", "--help"],
        &["cws", "train", "--help"],
    ] {
        let out = kexue(args, "");
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert_one_spelling(&format!("{args:?}"), &help);
        assert!(help.contains("--device"), "{args:?} has no --device");
    }
}
