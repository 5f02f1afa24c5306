"""The README's PyTorch example runs (skipped without torch)."""

import importlib.util
import pathlib

import pytest


def test_analytic_ddpm_torch_example_runs():
    pytest.importorskip("torch")
    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / "analytic_ddpm_torch.py"
    spec = importlib.util.spec_from_file_location("analytic_ddpm_torch", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main(train_steps=300)
    assert set(results) == {"analytic-ddpm", "ddpm-tilde"}
    assert all(0.0 <= v < 2.0 for v in results.values())
