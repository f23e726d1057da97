"""An MCP server written with the MCP Python SDK (``MCPServer``), every tool call verified by
agentcap: the Python twin of the Rust example ``examples/mcp_server.rs`` (executor id
``mcp-files``, trusting the demo root). The Rust agent drives it:

    cargo run --features mcp-demo --example mcp_agent -- python python/examples/mcp_server.py

The demo root's secret is a fixed seed anyone can read: never trust it outside a demo.
"""

from mcp.server.mcpserver import MCPServer

import agentcap
from agentcap.mcp import guard_server

DEMO_ROOT = agentcap.AuthorityKey.from_bytes(1, bytes([42] * 32)).public

verifier = agentcap.Verifier("mcp-files", [DEMO_ROOT], ["read_file", "post"])
server = guard_server(MCPServer("files"), verifier)


@server.tool()
def read_file(path: str) -> str:
    """Read a file (a demo: it returns a made-up text)."""
    return f"contents of {path}"


@server.tool()
def post(text: str) -> str:
    """Post a message publicly."""
    return f"posted: {text}"


if __name__ == "__main__":
    server.run()
