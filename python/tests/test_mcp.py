"""The MCP Python SDK guard, and interoperability with the Rust binding both ways."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.server.mcpserver import MCPServer

import agentcap as ac
from agentcap.mcp import denial_class, guard_server

REPO = Path(__file__).resolve().parents[2]
DEMO_ROOT_KEY = ac.AuthorityKey.from_bytes(1, bytes([42] * 32))


def guarded_server(world, runs):
    server = MCPServer("files")
    verifier = ac.Verifier(world.executor, world.roots, ["read_file", "write_file"])
    guard_server(server, verifier)

    @server.tool()
    def read_file(path: str) -> str:
        runs.append(path)
        return f"contents of {path}"

    return server


def text(result):
    return " ".join(getattr(c, "text", "") for c in result.content)


def test_a_guarded_mcp_server_runs_only_verified_calls(world):
    runs = []
    server = guarded_server(world, runs)
    token = world.read_token()

    async def main():
        async with Client(server) as client:
            call = ac.ToolCall("read_file", {"path": "/data/a"})
            meta = ac.call_meta(world.alice, token, world.executor, call)
            ok = await client.call_tool("read_file", {"path": "/data/a"}, meta=meta)
            assert not ok.is_error and "contents of /data/a" in text(ok)
            assert denial_class(ok) is None
            # The same _meta again: a replay.
            again = await client.call_tool("read_file", {"path": "/data/a"}, meta=meta)
            assert denial_class(again) == "denied"
            # No token at all.
            bare = await client.call_tool("read_file", {"path": "/data/a"})
            assert denial_class(bare) == "denied"
            assert text(bare) == "agentcap: call denied (denied)"
            # Arguments changed after signing.
            signed = ac.call_meta(world.alice, token, world.executor, ac.ToolCall("read_file", {"path": "/data/a"}))
            swapped = await client.call_tool("read_file", {"path": "/etc/passwd"}, meta=signed)
            assert denial_class(swapped) == "denied"
            # A tool the token does not grant.
            other = ac.ToolCall("write_file", {"path": "/data/a"})
            denied = await client.call_tool(
                "write_file", {"path": "/data/a"}, meta=ac.call_meta(world.alice, token, world.executor, other)
            )
            assert denial_class(denied) == "denied"

    asyncio.run(main())
    assert runs == ["/data/a"]


def test_python_client_calls_the_rust_guarded_server():
    """The Python package signs; the Rust GuardedServer (examples/mcp_server) verifies."""
    server = REPO / "target" / "debug" / "examples" / "mcp_server"
    assert server.exists(), "cargo build --features mcp-demo --examples first"
    agent = ac.AgentKey.generate()
    authority = ac.Authority("demo", DEMO_ROOT_KEY)
    import time

    grant = ac.Grant(
        agent.public,
        {"read_file": ac.ToolGrant().arg("path", ac.Constraint.sub_path("/docs"))},
        time.time() + 600,
    )
    token = authority.issue(grant)

    async def main():
        async with Client(StdioServerParameters(command=str(server))) as client:
            call = ac.ToolCall("read_file", {"path": "/docs/readme.md"})
            ok = await client.call_tool(
                "read_file", {"path": "/docs/readme.md"}, meta=ac.call_meta(agent, token, "mcp-files", call)
            )
            assert not ok.is_error, text(ok)
            assert "contents of /docs/readme.md" in text(ok)
            bad = ac.ToolCall("read_file", {"path": "/etc/passwd"})
            denied = await client.call_tool(
                "read_file", {"path": "/etc/passwd"}, meta=ac.call_meta(agent, token, "mcp-files", bad)
            )
            assert denial_class(denied) == "denied"

    asyncio.run(main())


def test_rust_caller_calls_the_python_guarded_server():
    """The Rust McpCaller (examples/mcp_agent) signs; the Python MCPServer guard verifies."""
    agent = REPO / "target" / "debug" / "examples" / "mcp_agent"
    assert agent.exists(), "cargo build --features mcp-demo --examples first"
    script = REPO / "python" / "examples" / "mcp_server.py"
    out = subprocess.run(
        [str(agent), sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "server tools: read_file, post"
    assert lines[1].startswith('allowed read_file {"path":"/docs/readme.md"}: contents of /docs/readme.md')
    assert lines[2] == 'denied  read_file {"path":"/etc/passwd"}: agentcap: call denied (denied)'
    assert lines[3] == 'denied  post {"text":"hello world"}: agentcap: call denied (denied)'


def test_tokens_cross_languages_both_ways(world):
    """Issued in Rust (the CLI), attenuated and delegated in Python, verified in Rust (the CLI);
    and the other way round."""
    cli = REPO / "target" / "debug" / "agentcap"
    assert cli.exists(), "cargo build --features cli first"
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        subprocess.run([str(cli), "keygen", "--kind", "authority", "--key-id", "5", "--out", str(d / "root.key")], check=True, capture_output=True)
        secret = bytes.fromhex(json.loads((d / "root.key").read_text())["secret"])
        root = ac.AuthorityKey.from_bytes(5, secret)
        alice, bob = ac.AgentKey.generate(), ac.AgentKey.generate()
        (d / "grant.toml").write_text(
            f'holder = "{alice.public}"\nexpires_in = "1h"\nmax_depth = 1\n'
            '[tools.read_file]\nargs = { path = { sub_path = "/data" } }\n'
        )
        issued = subprocess.run(
            [str(cli), "issue", "--key", str(d / "root.key"), "--authority-id", "ops", "--grant", str(d / "grant.toml")],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        token = ac.Token.from_text(issued, [root.public])
        narrowed = token.attenuate(ac.Narrowing().constrain("read_file", "path", ac.Constraint.sub_path("/data/pub")))
        delegated = narrowed.delegate(alice, bob.public, ac.new_agent_id(), ac.message_digest(b"handoff"))
        call = ac.ToolCall("read_file", {"path": "/data/pub/a"})
        proof = ac.CallProof.sign(bob, delegated, "files-1", call)
        (d / "token").write_text(delegated.to_text())
        (d / "proof").write_text(proof.to_text())
        verified = subprocess.run(
            [str(cli), "verify", "--token", str(d / "token"), "--root", str(root.public),
             "--executor", "files-1", "--tool", "read_file", "--args", '{"path":"/data/pub/a"}',
             "--proof", str(d / "proof")],
            capture_output=True, text=True,
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr
        # And a Rust-narrowed token verifies in Python: the CLI attenuates the Python token.
        (d / "narrow.toml").write_text('[args.read_file]\npath = { sub_path = "/data/pub/x" }\n')
        rust_narrowed = subprocess.run(
            [str(cli), "attenuate", "--token", str(d / "token"), "--root", str(root.public), "--narrowing", str(d / "narrow.toml")],
            capture_output=True, text=True,
        )
        assert rust_narrowed.returncode == 0, rust_narrowed.stderr
        t2 = ac.Token.from_text(rust_narrowed.stdout.strip(), [root.public])
        v = ac.Verifier("files-1", [root.public], ["read_file"])
        ok_call = ac.ToolCall("read_file", {"path": "/data/pub/x/1"})
        assert v.verify(t2.to_text(), ok_call, ac.CallProof.sign(bob, t2, "files-1", ok_call))
        bad_call = ac.ToolCall("read_file", {"path": "/data/pub/a"})
        with pytest.raises(ac.Denied):
            v.verify(t2.to_text(), bad_call, ac.CallProof.sign(bob, t2, "files-1", bad_call))
