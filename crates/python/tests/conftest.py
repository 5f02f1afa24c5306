"""Shared fixtures: the repository root and the `kexue` CLI binary (the Rust reference).

The CLI comparisons need the binary built by `cargo build --release -p cli` (or
`cargo test --release --workspace`). It is found through $KEXUE_BIN or
<repo>/target/release/kexue; when it is missing those tests are skipped, unless
KEXUE_REQUIRE_CLI=1 (as in .ci/run), where a missing binary is a failure.
"""

import json
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def repo():
    return REPO


@pytest.fixture(scope="session")
def kexue_bin():
    path = pathlib.Path(os.environ.get("KEXUE_BIN", REPO / "target" / "release" / "kexue"))
    if not path.is_file():
        if os.environ.get("KEXUE_REQUIRE_CLI") == "1":
            pytest.fail(f"the kexue CLI is required but {path} does not exist")
        pytest.skip(f"the kexue CLI ({path}) is not built; run cargo build --release -p cli")
    return path


def run_cli(bin_path, *args, stdin=None):
    """Runs the CLI and returns its stdout (raises on a non-zero exit)."""
    out = subprocess.run(
        [str(bin_path), *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise AssertionError(f"kexue {' '.join(map(str, args))} failed: {out.stderr}")
    return out.stdout


def cli_json(bin_path, *args):
    return json.loads(run_cli(bin_path, *args))
