"""The default install must not load torch: importing intent matching and using the lexical
matcher leaves torch and sentence-transformers unimported (checked in a fresh interpreter)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from warden.mandates.intent import semantic

PROBE = """
import sys
from warden.mandates.intent import ProfileText, extract_designated, make_matcher
matcher = make_matcher("lexical")
matcher.fit([ProfileText("ap-reconciliation", "Reconcile vendor invoices.")])
assert matcher.match("reconcile the vendor invoices").profile == "ap-reconciliation"
extract_designated("pay EUR 9,000 to Maria Lopez")
print(sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules))
"""


def run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip()


def test_lexical_matching_never_imports_torch() -> None:
    assert run(PROBE) == "[]"


def test_torch_is_imported_only_when_the_semantic_matcher_is_used() -> None:
    if not semantic.available():
        if os.environ.get("CI"):
            pytest.fail("the semantic extra is not installed: pip install -e '.[dev]'")
        pytest.skip("the semantic extra is not installed (pip install warden[semantic])")
    code = (
        "import sys\n"
        "from warden.mandates.intent import ProfileText, make_matcher\n"
        "m = make_matcher('semantic')\n"
        "print('torch' in sys.modules, end=' ')\n"
        "m.fit([ProfileText('ap', 'Reconcile vendor invoices.')])\n"
        "print('torch' in sys.modules)\n"
    )
    assert run(code) == "False True"
