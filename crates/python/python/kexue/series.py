"""Convergence of Σ_{n ≥ start} a_n for a symbolic positive term, with the deciding test."""

from ._kexue import series as _native

decide = _native.decide

__all__ = ["decide"]
