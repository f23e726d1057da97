"""The golden vectors in tests/vectors verify from Python exactly as from Rust."""

import json
from pathlib import Path

import pytest

import agentcap as ac

VECTORS = sorted((Path(__file__).resolve().parents[2] / "tests" / "vectors").glob("*.json"))


def test_the_vectors_are_there():
    assert len(VECTORS) >= 20


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_vector(path):
    v = json.loads(path.read_text())
    verifier = ac.Verifier(
        v["executor"], [v["root_public_key"]], v["guarded_tools"], fixed_now=v["now"]
    )
    c = v["call"]
    call = ac.ToolCall(c["tool"], c["args"], labels=c["labels"] or None, cause=c["cause"])
    assert call.digest() == v["call_digest"]
    try:
        verifier.verify(v["token"], call, v["proof"])
        got = "allow"
    except ac.Denied as e:
        got = f"deny:{e.code}"
    assert got == v["expected"]
