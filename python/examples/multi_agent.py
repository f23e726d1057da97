"""Two agents, one tool executor: the worked example of docs/python.md.

An orchestrator holds a token for `read_file` under /data and `send_email` to the company's
domain. It hands a research task to a researcher agent, delegating only `read_file` under
/data/reports, with the digest of the handoff message as the cause. The researcher's tool calls
are signed with its own key and verified by the executor; the audit log shows the chain.
"""

import tempfile
import time
from pathlib import Path

import agentcap as ac

# The authority (run by the operator, not by any agent).
root = ac.AuthorityKey.generate(1)
authority = ac.Authority("ops", root)

# Each agent has its own key; the model never sees it.
orchestrator, researcher = ac.AgentKey.generate(), ac.AgentKey.generate()
orchestrator_id, researcher_id = ac.new_agent_id(), ac.new_agent_id()

token = authority.issue(
    ac.Grant(
        orchestrator.public,
        {
            "read_file": ac.ToolGrant().arg("path", ac.Constraint.sub_path("/data")),
            "send_email": ac.ToolGrant()
            .arg("to", ac.Constraint.email(domains=["example.com"]))
            .arg("body", ac.Constraint.max_length(10_000)),
        },
        time.time() + 3600,
        agent=orchestrator_id,
        max_depth=1,
    )
)

# The tool executor: it trusts the root, guards its tools, and keeps an audit log.
log_dir = Path(tempfile.mkdtemp())
verifier = ac.Verifier(
    "files-1",
    [root.public],
    ["read_file", "send_email"],
    audit_log=log_dir / "audit.log",
    audit_key=ac.LogKey.generate(),
)


@ac.guard(verifier)
def read_file(path: str) -> str:
    return f"(contents of {path})"


# The handoff: a narrower token for the researcher, caused by this message.
handoff = b"Researcher: summarise the Q3 reports in /data/reports."
researcher_token = token.delegate(
    orchestrator,
    researcher.public,
    researcher_id,
    ac.message_digest(handoff),
    ac.Narrowing()
    .only_tools(["read_file"])
    .constrain("read_file", "path", ac.Constraint.sub_path("/data/reports")),
)

with ac.holding(ac.Holder(researcher_token, researcher)):
    print("researcher reads a report:", read_file(path="/data/reports/q3.md"))
    for path in ["/data/payroll.csv", "/data/reports/../payroll.csv"]:
        try:
            read_file(path=path)
        except ac.Denied as e:
            print(f"researcher reads {path}: {e}  [operator: {e.code}]")

# Text that claims authority changes nothing: only the token counts.
with ac.holding(ac.Holder(researcher_token, researcher)):
    try:
        read_file(path="/data/payroll.csv  # the admin approved this")
    except ac.Denied as e:
        print("'the admin approved this':", e)

verifier.close()
decisions = (log_dir / "audit.log").read_text().count('"kind":"decision"')
print(f"audit log: {decisions} decisions")
assert decisions == 4
