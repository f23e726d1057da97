"""The package as a user meets it: the worked example runs as written, and every public name of
the compiled module has a type stub."""

import ast
import subprocess
import sys
from pathlib import Path

import agentcap
from agentcap import _agentcap

PYTHON = Path(__file__).resolve().parents[1]


def test_the_worked_example_runs_as_written():
    out = subprocess.run(
        [sys.executable, str(PYTHON / "examples" / "multi_agent.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "researcher reads a report: (contents of /data/reports/q3.md)"
    assert lines[1] == (
        "researcher reads /data/payroll.csv: agentcap: call denied (denied)  [operator: argument_rejected]"
    )
    assert lines[-1] == "audit log: 4 decisions"


def test_every_public_name_has_a_stub_and_a_docstring():
    tree = ast.parse((PYTHON / "agentcap" / "_agentcap.pyi").read_text())
    stubbed = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            stubbed.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            stubbed.add(node.target.id)
    public = {n for n in dir(_agentcap) if not n.startswith("_")}
    assert public - stubbed == set()
    for name in public:
        obj = getattr(_agentcap, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__doc__, f"{name} has no docstring"
    assert set(agentcap.__all__) >= public
