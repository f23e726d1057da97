"""What a verify costs from Python against the same verify in a Rust loop, in one run (same
process, same verifier, same token and call, fresh proofs signed beforehand).

    target/py-venv/bin/python python/bench/verify.py

Prints the per-call cost of each and their ratio (the target is ≤ 1.3×). Build the wheel with
`--release` for figures worth comparing.
"""

import statistics
import time

import agentcap as ac

N = 2000
ROUNDS = 5

root = ac.AuthorityKey.generate(1)
agent = ac.AgentKey.generate()
token = ac.Authority("bench", root).issue(
    ac.Grant(agent.public, {"search": ac.ToolGrant().arg("q", ac.Constraint.max_length(64))}, time.time() + 3600)
)
text = token.to_text()
call = ac.ToolCall("search", {"q": "weather"})


def proofs():
    return [ac.CallProof.sign(agent, token, "bench", call) for _ in range(N)]


python_runs, rust_runs = [], []
for _ in range(ROUNDS):
    # A fresh verifier each round: every proof is new to its replay store.
    v = ac.Verifier("bench", [root.public], ["search"])
    batch = proofs()
    start = time.perf_counter()
    for p in batch:
        v.verify(text, call, p)
    python_runs.append((time.perf_counter() - start) / N)
    v = ac.Verifier("bench", [root.public], ["search"])
    rust_runs.append(v._bench_rust_loop(text, call, proofs()) / N)

py, rs = statistics.median(python_runs), statistics.median(rust_runs)
print(f"verify from Python: {py * 1e6:.1f} µs/call")
print(f"verify in a Rust loop: {rs * 1e6:.1f} µs/call")
print(f"ratio: {py / rs:.2f}x (median of {ROUNDS} rounds of {N} calls)")
