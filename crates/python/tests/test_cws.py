"""kexue.cws: losslessness on random Unicode, offsets, user words, the CLI's segmentation."""

import json
import random

import pytest

from kexue import cws

from conftest import run_cli

MODES = ["dict", "neural", "hybrid"]


def random_text(rng, n):
    """Han, Latin, digits, punctuation, whitespace, combining marks, emoji, ZWJ, flags, CJK
    punctuation and arbitrary code points (no surrogates)."""
    pools = [
        lambda: chr(rng.randint(0x4E00, 0x9FFF)),
        lambda: rng.choice("abcXYZ0123456789.,%-_ \t"),
        lambda: rng.choice("，。！？「」、《》：；"),
        lambda: chr(rng.randint(0x0300, 0x036F)),
        lambda: chr(rng.randint(0x1F300, 0x1F6FF)),
        lambda: "\u200d",
        lambda: chr(rng.randint(0x1F1E6, 0x1F1FF)),
        lambda: chr(rng.choice([rng.randint(0x20, 0xD7FF), rng.randint(0xE000, 0x10FFFF)])),
    ]
    weights = [10, 3, 2, 1, 1, 1, 1, 2]
    return "".join(rng.choices(pools, weights)[0]() for _ in range(n))


@pytest.mark.parametrize("mode", MODES)
def test_cut_is_lossless_on_random_unicode(mode):
    rng = random.Random(17)
    for _ in range(200):
        text = random_text(rng, rng.randint(0, 60))
        words = list(cws.cut(text, mode=mode))
        assert "".join(words) == text
        assert all(words), "no empty token"
        assert cws.lcut(text, mode=mode) == words


@pytest.mark.parametrize("mode", MODES)
def test_tokenize_offsets_slice_the_input_back(mode):
    rng = random.Random(3)
    for _ in range(100):
        text = random_text(rng, rng.randint(1, 40))
        end_prev = 0
        for word, start, end in cws.tokenize(text, mode=mode):
            assert text[start:end] == word
            assert start == end_prev
            end_prev = end
        assert end_prev == len(text)


def test_cut_is_an_iterator():
    it = cws.cut("我来到北京清华大学")
    assert iter(it) is it
    first = next(it)
    assert isinstance(first, str) and first
    assert "".join([first, *it]) == "我来到北京清华大学"


def test_segmentation_equals_the_cli(kexue_bin):
    lines = ["我来到北京清华大学", "他来到了网易杭研大厦", "小明硕士毕业于中国科学院计算所，后在日本京都大学深造",
             "结婚的和尚未结婚的", "kexue 3.14% 的人在 2024 年使用 Python。"]
    for mode in MODES:
        out = run_cli(kexue_bin, "cws", "seg", "--mode", mode, "--json", stdin="\n".join(lines) + "\n")
        rust = [json.loads(line) for line in out.splitlines()]
        assert [[t["word"] for t in toks] for toks in rust] == [
            cws.lcut(line, mode=mode) for line in lines
        ], mode
        # The CLI's character offsets are tokenize's.
        assert [[(t["word"], t["start"], t["end"]) for t in toks] for toks in rust] == [
            list(cws.tokenize(line, mode=mode)) for line in lines
        ], mode


def test_user_words_change_the_dictionary_segmentation(tmp_path):
    word = "鑫淼焱垚"
    text = f"我爱{word}吗"
    seg = cws.Segmenter(mode="dict")
    assert word not in seg.lcut(text)
    seg.add_word(word, 1000)
    assert word in seg.lcut(text)
    assert word in seg.lcut(text, mode="hybrid") or "".join(seg.lcut(text, mode="hybrid")) == text
    # From a user dictionary file, without a count (jieba's suggested count makes it win).
    path = tmp_path / "user.txt"
    path.write_text(f"{word}\n", encoding="utf-8")
    other = cws.Segmenter(mode="dict", user_dict=path)
    assert word in other.lcut(text)
    fresh = cws.Segmenter(mode="dict")
    fresh.load_userdict(path)
    assert word in fresh.lcut(text)
    # The module-level default dictionary, as jieba.add_word.
    word2 = "犇骉猋"
    assert word2 not in cws.lcut(f"看{word2}了", mode="dict")
    cws.add_word(word2)
    assert word2 in cws.lcut(f"看{word2}了", mode="dict")


def test_custom_dictionary(tmp_path):
    path = tmp_path / "dict.txt"
    path.write_text("结婚 100\n的 1000\n和 500\n和尚 50\n尚未 80\n未 100\n", encoding="utf-8")
    seg = cws.Segmenter(mode="dict", dict=path)
    assert seg.lcut("结婚的和尚未结婚的。") == ["结婚", "的", "和", "尚未", "结婚", "的", "。"]
    assert seg.mode == "dict"


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown mode"):
        cws.lcut("你好", mode="fast")
    with pytest.raises(ValueError, match="whitespace"):
        cws.Segmenter(mode="dict").add_word("两 个")
    bad = tmp_path / "bad.txt"
    bad.write_text("好 1\n坏 x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2"):
        cws.Segmenter(mode="dict", dict=bad)
    with pytest.raises(OSError, match="nope.txt"):
        cws.load_userdict(tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="lam"):
        cws.Segmenter(lam=-1.0)


def test_search_mode_matches_the_cli_and_its_offsets_slice_the_text(kexue_bin):
    text = "中华人民共和国成立了"
    words = cws.lcut(text, mode="search")
    # jieba's cut_for_search shape: the sub-words come before the long word they are part of.
    assert "中华人民共和国" in words and "共和国" in words and "中华" in words
    assert words.index("共和国") < words.index("中华人民共和国")
    for word, start, end in cws.tokenize(text, mode="search"):
        assert text[start:end] == word
    out = run_cli(kexue_bin, "cws", "seg", "--mode", "search", "--json", stdin=text + "\n")
    assert [t["word"] for t in json.loads(out)] == words


def test_del_word_removes_a_word_and_add_word_forces_one():
    seg = cws.Segmenter(mode="dict")
    text = "我来到北京清华大学"
    assert "清华大学" in seg.lcut(text)
    seg.del_word("清华大学")
    assert "清华大学" not in seg.lcut(text)
    seg.add_word("北京清华", 10**9)
    assert "北京清华" in seg.lcut(text)
    with pytest.raises(ValueError, match="whitespace"):
        seg.del_word("两 个")
