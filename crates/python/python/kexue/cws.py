"""Chinese word segmentation trained from a dictionary alone, with jieba's interface.

``cut``/``lcut``/``tokenize`` use the dictionary and model shipped with kexue (loaded on first
use); ``load_userdict``/``add_word`` change that default dictionary. ``Segmenter`` holds its own
dictionary and model. Tokens always concatenate to the input. Segmentation releases the GIL.
"""

from ._kexue import cws as _native

Segmenter = _native.Segmenter
Tokens = _native.Tokens
cut = _native.cut
lcut = _native.lcut
tokenize = _native.tokenize
load_userdict = _native.load_userdict
add_word = _native.add_word
del_word = _native.del_word
HYBRID_LAMBDA = _native.HYBRID_LAMBDA
MODES = _native.MODES

__all__ = [
    "Segmenter",
    "Tokens",
    "cut",
    "lcut",
    "tokenize",
    "load_userdict",
    "add_word",
    "del_word",
    "HYBRID_LAMBDA",
    "MODES",
]
