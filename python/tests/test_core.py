"""The core API from Python: keys, grants, tokens, proofs, the verifier and its denials."""

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

import agentcap as ac


def sign_and_verify(world, verifier, token, call, key=None, **kw):
    proof = ac.CallProof.sign(key or world.alice, token, verifier.executor, call)
    return verifier.verify(token.to_text(), call, proof, **kw)


def test_an_allowed_call_returns_authorized(world):
    v = world.verifier()
    token = world.read_token()
    ok = sign_and_verify(world, v, token, ac.ToolCall("read_file", {"path": "/data/q3.csv"}))
    assert ok.agent == world.alice_id
    assert ok.args == {"path": "/data/q3.csv"}
    assert ok.token_id == token.id
    assert ok.issuer == "ops"
    assert ok.hops == []


@pytest.mark.parametrize(
    "tool,args,code",
    [
        ("read_file", {"path": "/etc/passwd"}, "argument_rejected"),
        ("read_file", {"path": "/data/../etc/passwd"}, "argument_rejected"),
        ("read_file", {"path": "/data/a", "mode": "w"}, "argument_not_allowed"),
        ("search", {"q": "x"}, "tool_not_granted"),
        ("shell", {"cmd": "ls"}, "tool_not_guarded"),
    ],
)
def test_denials_carry_a_class_and_an_operator_reason(world, tool, args, code):
    v = world.verifier()
    with pytest.raises(ac.Denied) as e:
        sign_and_verify(world, v, world.read_token(), ac.ToolCall(tool, args))
    assert e.value.klass == "denied"
    assert e.value.code == code
    assert str(e.value) == "agentcap: call denied (denied)"
    assert code not in str(e.value)  # the caller's text says nothing about why


def test_a_replayed_proof_is_denied(world):
    v = world.verifier()
    token = world.read_token()
    call = ac.ToolCall("read_file", {"path": "/data/a"})
    proof = ac.CallProof.sign(world.alice, token, v.executor, call)
    v.verify(token.to_text(), call, proof)
    with pytest.raises(ac.Denied) as e:
        v.verify(token.to_text(), call, proof.to_text())
    assert e.value.code == "replayed"


def test_a_token_for_another_agent_is_useless_without_its_key(world):
    v = world.verifier()
    with pytest.raises(ac.Denied) as e:
        sign_and_verify(
            world, v, world.read_token(), ac.ToolCall("read_file", {"path": "/data/a"}), key=world.bob
        )
    assert e.value.code == "bad_proof_signature"


def test_a_proof_for_another_executor_is_denied(world):
    v = world.verifier()
    token = world.read_token()
    call = ac.ToolCall("read_file", {"path": "/data/a"})
    proof = ac.CallProof.sign(world.alice, token, "mail-1", call)
    with pytest.raises(ac.Denied) as e:
        v.verify(token.to_text(), call, proof)
    assert e.value.code == "proof_for_another_executor"


def test_true_is_not_one(world):
    """Python's bool is an int; the wire value is a JSON boolean, never 1."""
    tools = {"publish": ac.ToolGrant().arg("draft", ac.Constraint.exact_value(True))}
    token = world.authority.issue(world.grant(tools))
    v = world.verifier()
    assert sign_and_verify(world, v, token, ac.ToolCall("publish", {"draft": True}))
    with pytest.raises(ac.Denied):
        sign_and_verify(world, v, token, ac.ToolCall("publish", {"draft": 1}))
    assert ac.Constraint.exact_value(1).allows(1)
    assert not ac.Constraint.exact_value(1).allows(True)


def test_arguments_without_one_json_meaning_are_refused():
    for bad in [{1: "int key"}, {"x": float("nan")}, {"x": 2**70}, {"x": object()}]:
        with pytest.raises(ac.AgentcapError):
            ac.ToolCall("t", bad)


def test_every_constraint_kind_builds_and_round_trips_through_json():
    kinds = [
        ac.Constraint.any(),
        ac.Constraint.exact("a"),
        ac.Constraint.exact_value(3),
        ac.Constraint.one_of(["a", "b"]),
        ac.Constraint.not_one_of(["a"]),
        ac.Constraint.one_of_ints([1, 2]),
        ac.Constraint.not_one_of_ints([3]),
        ac.Constraint.one_of_numbers([1.5, 2.5]),
        ac.Constraint.prefix("/a"),
        ac.Constraint.suffix(".md"),
        ac.Constraint.sub_path("/data"),
        ac.Constraint.url(["https"], ["api.example.com"]),
        ac.Constraint.url_public_web(),
        ac.Constraint.int_range(1, 10),
        ac.Constraint.number_range(0.0, 1.0),
        ac.Constraint.regex("[a-z]+"),
        ac.Constraint.max_length(64),
        ac.Constraint.all_of([ac.Constraint.prefix("a"), ac.Constraint.max_length(5)]),
        ac.Constraint.any_of([ac.Constraint.exact("a"), ac.Constraint.exact("b")]),
        ac.Constraint.optional(ac.Constraint.exact("a")),
        ac.Constraint.not_(ac.Constraint.sub_path("/data/secret")),
        ac.Constraint.each(ac.Constraint.max_length(8), 1, 3),
        ac.Constraint.contains("x"),
        ac.Constraint.subset_of(["a", "b"]),
        ac.Constraint.subset_of([1, 2]),
        ac.Constraint.host(["*.example.com"]),
        ac.Constraint.email(domains=["example.com"]),
        ac.Constraint.email(addresses=["a@example.com"], allow_subaddress=True),
        ac.Constraint.date(min="2026-01-01", max="2026-12-31"),
        ac.Constraint.ip(["10.0.0.0/8"]),
        ac.Constraint.ip_public(),
        ac.Constraint.command(["git"], subcommands=["status", "log"], max_args=4),
    ]
    assert len({c.kind for c in kinds}) == 23  # every variant of the Rust enum
    for c in kinds:
        again = ac.Constraint.from_json(c.to_json())
        assert again.to_json() == c.to_json()
    assert ac.Constraint.sub_path("/data").allows("/data/a")
    assert not ac.Constraint.sub_path("/data").allows("/data/../etc")
    assert ac.Constraint.email(domains=["example.com"]).allows("a@example.com")
    assert not ac.Constraint.host(["*.example.com"]).allows("localhost")
    assert ac.Constraint.command(["git"], subcommands=["status"]).allows("git status")
    assert not ac.Constraint.command(["git"]).allows("git status; rm -rf /")
    with pytest.raises(ac.AgentcapError):
        ac.Constraint.from_json('{"regex": "[a-z]+)|(x"}')


def test_delegation_narrows_and_the_chain_is_visible(world):
    tools = {"read_file": ac.ToolGrant().arg("path", ac.Constraint.sub_path("/data"))}
    token = world.authority.issue(world.grant(tools, max_depth=2))
    cause = ac.message_digest(b"please summarise /data/reports")
    narrower = ac.Narrowing().constrain("read_file", "path", ac.Constraint.sub_path("/data/reports"))
    child = token.delegate(world.alice, world.bob.public, world.bob_id, cause, narrower)
    v = world.verifier()
    ok = sign_and_verify(world, v, child, ac.ToolCall("read_file", {"path": "/data/reports/a"}), key=world.bob)
    assert ok.agent == world.bob_id
    assert ok.root_agent == world.alice_id
    assert [h["cause"] for h in ok.hops] == [cause]
    with pytest.raises(ac.Denied):
        sign_and_verify(world, v, child, ac.ToolCall("read_file", {"path": "/data/other"}), key=world.bob)
    # The previous holder can no longer use the delegated token.
    with pytest.raises(ac.Denied):
        sign_and_verify(world, v, child, ac.ToolCall("read_file", {"path": "/data/reports/a"}))
    d = child.describe()
    assert d["holder"] == str(world.bob.public)
    assert len(d["hops"]) == 1 and d["hops"][0]["cause"] == cause
    assert "read_file" in d["tools"]
    with pytest.raises(ac.AgentcapError):
        token.delegate(world.bob, world.bob.public, world.bob_id, cause)  # bob is not the holder


def test_attenuation_can_only_narrow(world):
    token = world.read_token()
    narrower = token.attenuate(ac.Narrowing().constrain("read_file", "path", ac.Constraint.sub_path("/data/x")))
    v = world.verifier()
    with pytest.raises(ac.Denied):
        sign_and_verify(world, v, narrower, ac.ToolCall("read_file", {"path": "/data/y"}))
    assert sign_and_verify(world, v, narrower, ac.ToolCall("read_file", {"path": "/data/x/1"}))
    # Wider than the grant, or not provably within it: refused when attenuating.
    for wider in [ac.Constraint.sub_path("/"), ac.Constraint.prefix("/data/x")]:
        with pytest.raises(ac.AgentcapError):
            token.attenuate(ac.Narrowing().constrain("read_file", "path", wider))
    with pytest.raises(ac.AgentcapError):
        token.attenuate(ac.Narrowing().only_tools(["shell"]))


def test_token_text_round_trips_and_needs_a_trusted_root(world):
    token = world.read_token()
    again = ac.Token.from_text(token.to_text(), [str(world.authority_key.public)])
    assert again.id == token.id
    with pytest.raises(ac.AgentcapError):
        ac.Token.from_text(token.to_text(), [ac.AuthorityKey.generate(3).public])


def test_secrets_never_appear_in_repr(world):
    secret = world.alice.to_bytes().hex()
    for obj in [world.alice, world.authority_key, world.authority, ac.LogKey.generate()]:
        assert secret not in repr(obj)
        assert world.authority_key.to_bytes().hex() not in repr(obj)
    holder = ac.Holder(world.read_token(), world.alice)
    assert secret not in repr(holder)


def test_approvals_count_distinct_principals(world):
    reviewer, sybil1, sybil2 = ac.AgentKey.generate(), ac.AgentKey.generate(), ac.AgentKey.generate()
    tools = {"publish": ac.ToolGrant().allow_other_args().approvals(2)}
    token = world.authority.issue(world.grant(tools))
    v = world.verifier(
        approvers={str(reviewer.public): "security", sybil1.public: "mallory", sybil2.public: "mallory"}
    )
    call = ac.ToolCall("publish", {"text": "release notes"})
    with pytest.raises(ac.Denied) as e:
        sign_and_verify(world, v, token, call)
    assert e.value.klass == "needs_approval"
    two_sybils = [ac.Approval.sign(k, v.executor, token, call) for k in (sybil1, sybil2)]
    with pytest.raises(ac.Denied) as e:
        sign_and_verify(world, v, token, call, approvals=two_sybils)
    assert e.value.klass == "needs_approval"
    both = two_sybils + [ac.Approval.from_text(ac.Approval.sign(reviewer, v.executor, token, call).to_text())]
    ok = sign_and_verify(world, v, token, call, approvals=both)
    assert sorted(ok.approved_by) == ["mallory", "security"]


def test_single_use_approvals_are_spent_once(world):
    reviewer = ac.AgentKey.generate()
    tools = {"publish": ac.ToolGrant().allow_other_args().approvals(1).single_use_approvals()}
    token = world.authority.issue(world.grant(tools))
    v = world.verifier(approvers={reviewer.public: "security"})
    call = ac.ToolCall("publish", {"text": "release notes"})
    reusable = ac.Approval.sign(reviewer, v.executor, token, call)
    with pytest.raises(ac.Denied) as e:
        sign_and_verify(world, v, token, call, approvals=[reusable])
    assert e.value.klass == "needs_approval"
    once = ac.Approval.sign_once(reviewer, v.executor, token, call, time.time() + 600)
    assert once.single_use and not reusable.single_use
    once = ac.Approval.from_text(once.to_text())
    assert sign_and_verify(world, v, token, call, approvals=[once]).approved_by == ["security"]
    with pytest.raises(ac.Denied) as e:
        sign_and_verify(world, v, token, call, approvals=[once])
    assert (e.value.klass, e.value.code) == ("needs_approval", "approval_spent")


def test_the_audit_log_records_every_decision(world, tmp_path):
    key = ac.LogKey.generate()
    v = world.verifier(audit_log=tmp_path / "audit.log", audit_key=key)
    token = world.read_token()
    ok = sign_and_verify(world, v, token, ac.ToolCall("read_file", {"path": "/data/a"}))
    with pytest.raises(ac.Denied) as e:
        sign_and_verify(world, v, token, ac.ToolCall("read_file", {"path": "/etc/a"}))
    with pytest.raises(ac.Denied) as e2:
        v.verify_meta("read_file", {"path": "/data/a"}, {"agentcap/token": "garbage"})
    v.close()
    records = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    decisions = [r for r in records if r["kind"] == "decision"]
    assert [d["id"] for d in decisions] == [ok.audit_event, e.value.audit_event, e2.value.audit_event]
    assert [d["data"]["decision"] for d in decisions] == ["allow", "deny", "deny"]
    assert decisions[2]["data"]["reason"] == "malformed_call"
    assert token.to_text()[:40] not in (tmp_path / "audit.log").read_text()


def test_expiry_accepts_aware_datetimes_only(world):
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    assert ac.Grant(world.alice.public, {"search": ac.ToolGrant()}, later)
    with pytest.raises(ac.AgentcapError):
        ac.Grant(world.alice.public, {"search": ac.ToolGrant()}, datetime.now() + timedelta(hours=1))


def test_with_the_redis_store_down_a_call_is_state_unavailable(world):
    v = world.verifier(state="redis://127.0.0.1:1/")
    with pytest.raises(ac.Denied) as e:
        sign_and_verify(world, v, world.read_token(), ac.ToolCall("read_file", {"path": "/data/a"}))
    assert e.value.klass == "state_unavailable"


def test_bools_are_not_integers_in_constraints_either():
    for build in [
        lambda: ac.Constraint.one_of_ints([True]),
        lambda: ac.Constraint.not_one_of_ints([1, False]),
        lambda: ac.Constraint.int_range(True, 5),
        lambda: ac.Constraint.subset_of([True]),
    ]:
        with pytest.raises(Exception):
            build()


def test_unreadable_arguments_are_an_audited_denial(world, tmp_path):
    v = world.verifier(audit_log=tmp_path / "audit.log", audit_key=ac.LogKey.generate())
    with pytest.raises(ac.Denied) as e:
        v.verify_meta("read_file", {"path": "\ud800"}, {})
    assert e.value.code == "malformed_call" and e.value.audit_event
    with pytest.raises(ac.Denied):
        v.verify_meta("read_file", ["not", "an", "object"], {})
    with pytest.raises(ac.AgentcapError):
        ac.Verifier("x", world.roots, ["t"], proof_window_seconds=2**63)
