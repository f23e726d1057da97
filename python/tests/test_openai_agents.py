"""The OpenAI Agents SDK: guarded FunctionTools invoked through the SDK's tool-invocation entry
point (``on_invoke_tool`` with a ``ToolContext``, as its runner does), holders in the run
context, and a handoff that delegates a narrower token."""

import asyncio
import json

from agents import Agent, RunContextWrapper, function_tool
from agents.tool_context import ToolContext

import agentcap as ac
from agentcap.openai_agents import delegating_handoff, guard_tool


def make_read_file(runs):
    @function_tool
    def read_file(path: str) -> str:
        """Read a file."""
        runs.append(path)
        return f"contents of {path}"

    return read_file


def invoke(tool, context, args, agent=None):
    raw = json.dumps(args)
    ctx = ToolContext(
        context=context, tool_name=tool.name, tool_call_id="call-1", tool_arguments=raw, agent=agent
    )
    return asyncio.run(tool.on_invoke_tool(ctx, raw))


def test_a_guarded_function_tool_runs_only_verified_calls(world):
    runs = []
    tool = guard_tool(make_read_file(runs), world.verifier())
    holder = ac.Holder(world.read_token(), world.alice)
    assert invoke(tool, holder, {"path": "/data/a"}) == "contents of /data/a"
    assert invoke(tool, holder, {"path": "/etc/passwd"}) == "agentcap: call denied (denied)"
    assert invoke(tool, None, {"path": "/data/a"}) == "agentcap: call denied (denied)"
    assert invoke(tool, ac.Holder(world.read_token(), world.bob), {"path": "/data/a"}) == (
        "agentcap: call denied (denied)"
    )
    assert runs == ["/data/a"]


def test_a_handoff_delegates_and_the_receiving_agent_acts_with_its_own_key(world, tmp_path):
    runs = []
    v = world.verifier(audit_log=tmp_path / "audit.log", audit_key=ac.LogKey.generate())
    tools = {"read_file": ac.ToolGrant().arg("path", ac.Constraint.sub_path("/data"))}
    triage_token = world.authority.issue(world.grant(tools, max_depth=1))
    researcher_key = ac.AgentKey.generate()
    tool = guard_tool(make_read_file(runs), v)
    researcher = Agent(name="researcher", tools=[tool])
    triage = Agent(
        name="triage",
        handoffs=[
            delegating_handoff(
                "triage",
                researcher,
                researcher_key,
                ac.Narrowing().constrain("read_file", "path", ac.Constraint.sub_path("/data/reports")),
            )
        ],
    )
    holders = ac.Holders({"triage": ac.Holder(triage_token, world.alice)})
    # Before the handoff the researcher holds nothing.
    assert invoke(tool, holders, {"path": "/data/reports/q3"}, agent=researcher) == (
        "agentcap: call denied (denied)"
    )
    # The SDK invokes the handoff when the model picks it.
    target = asyncio.run(triage.handoffs[0].on_invoke_handoff(RunContextWrapper(context=holders), ""))
    assert target is researcher
    assert invoke(tool, holders, {"path": "/data/reports/q3"}, agent=researcher) == "contents of /data/reports/q3"
    assert invoke(tool, holders, {"path": "/data/payroll"}, agent=researcher) == "agentcap: call denied (denied)"
    assert runs == ["/data/reports/q3"]
    v.close()
    records = [json.loads(l) for l in (tmp_path / "audit.log").read_text().splitlines()]
    allowed = [r["data"] for r in records if r["kind"] == "decision" and r["data"]["decision"] == "allow"]
    assert allowed[0]["hops"][0]["cause"] == ac.message_digest(b"handoff from triage to researcher")
