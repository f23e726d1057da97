"""CrewAI (run in its own virtual environment: crewai pins an older openai than the OpenAI
Agents SDK): a guarded BaseTool, through ``run`` and through the structured tool a CrewAI agent's
tool usage invokes."""

from pydantic import BaseModel

import agentcap as ac

crewai_tools = __import__("crewai.tools", fromlist=["BaseTool"])


class ReadArgs(BaseModel):
    path: str


def make_tool(runs):
    class ReadFile(crewai_tools.BaseTool):
        name: str = "read_file"
        description: str = "Read a file."
        args_schema: type[BaseModel] = ReadArgs

        def _run(self, path: str) -> str:
            runs.append(path)
            return f"contents of {path}"

    return ReadFile()


def test_a_guarded_crewai_tool_runs_only_verified_calls(world):
    from agentcap.crewai import guard_tool

    runs = []
    holder = ac.Holder(world.read_token(), world.alice)
    tool = guard_tool(make_tool(runs), world.verifier(), holder=holder)
    assert tool.run(path="/data/a") == "contents of /data/a"
    assert tool.run(path="/etc/passwd") == "agentcap: call denied (denied)"
    # The path a CrewAI agent takes: its tool usage invokes the structured form.
    structured = tool.to_structured_tool()
    assert structured.invoke({"path": "/data/b"}) == "contents of /data/b"
    assert structured.invoke({"path": "/data/../etc/shadow"}) == "agentcap: call denied (denied)"
    bob = guard_tool(make_tool(runs), world.verifier(), holder=ac.Holder(world.read_token(), world.bob))
    assert bob.run(path="/data/a") == "agentcap: call denied (denied)"
    assert runs == ["/data/a", "/data/b"]


def test_a_crewai_tool_without_a_holder_is_denied(world):
    from agentcap.crewai import guard_tool

    runs = []
    tool = guard_tool(make_tool(runs), world.verifier())
    assert tool.run(path="/data/a") == "agentcap: call denied (denied)"
    with ac.holding(ac.Holder(world.read_token(), world.alice)):
        assert tool.run(path="/data/a") == "contents of /data/a"
    assert runs == ["/data/a"]


def test_results_are_never_cached_across_agents(world):
    """CrewAI's shared cache would hand one agent's result to another without a decision."""
    from agentcap.crewai import guard_tool

    runs = []
    tool = guard_tool(make_tool(runs), world.verifier(), holder=ac.Holder(world.read_token(), world.alice))
    assert tool.cache_function({"path": "/data/a"}, "contents") is False
    named = guard_tool(make_tool(runs), world.verifier(), name="read_file")
    assert named.name == "read_file"
