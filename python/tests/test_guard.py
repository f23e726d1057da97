"""The plain decorator: the body runs only for an authorized call, with the verified arguments."""

import asyncio

import pytest

import agentcap as ac


class Counter:
    def __init__(self):
        self.runs = 0


def make_tool(world, verifier, counter):
    @ac.guard(verifier)
    def read_file(path: str) -> str:
        counter.runs += 1
        return f"contents of {path}"

    return read_file


def test_the_body_runs_for_an_authorized_call(world):
    c = Counter()
    read_file = make_tool(world, world.verifier(), c)
    with ac.holding(ac.Holder(world.read_token(), world.alice)):
        assert read_file(path="/data/a") == "contents of /data/a"
    assert c.runs == 1


@pytest.mark.parametrize(
    "case",
    ["no holder", "another agent's token", "forbidden argument", "too many arguments"],
)
def test_the_body_never_runs_for_a_refused_call(world, case):
    c = Counter()
    read_file = make_tool(world, world.verifier(), c)
    token = world.read_token()
    if case == "no holder":
        with pytest.raises(ac.Denied) as e:
            read_file(path="/data/a")
        assert e.value.code == "malformed_call"
    elif case == "another agent's token":
        with ac.holding(ac.Holder(token, world.bob)):
            with pytest.raises(ac.Denied) as e:
                read_file(path="/data/a")
        assert e.value.code == "bad_proof_signature"
    elif case == "forbidden argument":
        with ac.holding(ac.Holder(token, world.alice)):
            with pytest.raises(ac.Denied):
                read_file(path="/etc/shadow")
    else:
        with ac.holding(ac.Holder(token, world.alice)):
            with pytest.raises(TypeError):
                read_file("/data/a", "/data/b")
    assert c.runs == 0


def test_an_async_tool_is_guarded_too(world):
    c = Counter()
    v = world.verifier()

    @ac.guard(v, tool="read_file")
    async def read(path: str) -> str:
        c.runs += 1
        return path

    async def main():
        with ac.holding(ac.Holder(world.read_token(), world.alice)):
            assert await read(path="/data/x") == "/data/x"
            with pytest.raises(ac.Denied):
                await read(path="/tmp/x")

    asyncio.run(main())
    assert c.runs == 1


def test_a_budget_is_counted_across_calls(world):
    tools = {"search": ac.ToolGrant().allow_other_args().budget(2)}
    token = world.authority.issue(world.grant(tools))
    c = Counter()

    @ac.guard(world.verifier(), holder=ac.Holder(token, world.alice))
    def search(q: str) -> str:
        c.runs += 1
        return q

    search(q="a")
    search(q="b")
    with pytest.raises(ac.Denied) as e:
        search(q="c")
    assert e.value.code == "budget_exhausted"
    assert c.runs == 2


def test_labels_set_by_the_framework_stop_a_secret_reaching_an_egress_tool(world):
    tools = {"publish": ac.ToolGrant().allow_other_args().accept_labels(["public"])}
    token = world.authority.issue(world.grant(tools))
    c = Counter()

    @ac.guard(world.verifier())
    def publish(text: str) -> str:
        c.runs += 1
        return "posted"

    with ac.holding(ac.Holder(token, world.alice, labels=["public"])):
        assert publish(text="hello") == "posted"
    with ac.holding(ac.Holder(token, world.alice, labels=["secret"])):
        with pytest.raises(ac.Denied):
            publish(text="the password is hunter2")
    assert c.runs == 1


def test_with_the_redis_store_down_the_body_never_runs(world):
    c = Counter()
    read_file = make_tool(world, world.verifier(state="redis://127.0.0.1:1/"), c)
    with ac.holding(ac.Holder(world.read_token(), world.alice)):
        with pytest.raises(ac.Denied) as e:
            read_file(path="/data/a")
    assert e.value.klass == "state_unavailable"
    assert c.runs == 0


def test_positional_arguments_are_bound_to_parameter_names(world):
    c = Counter()

    @ac.guard(world.verifier(), holder=ac.Holder(world.read_token(), world.alice))
    def read_file(path: str) -> str:
        c.runs += 1
        return path

    assert read_file("/data/a") == "/data/a"
    with pytest.raises(ac.Denied):
        read_file("/etc/a")
    assert c.runs == 1


def test_unreadable_arguments_never_reach_the_body(world):
    c = Counter()

    @ac.guard(world.verifier(), holder=ac.Holder(world.read_token(), world.alice))
    def read_file(path) -> str:
        c.runs += 1
        return "x"

    for bad in [object(), float("nan"), "\ud800"]:
        with pytest.raises(ac.Denied) as e:
            read_file(path=bad)
        assert e.value.code == "malformed_call"
    assert c.runs == 0
