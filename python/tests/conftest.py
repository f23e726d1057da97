"""Shared fixtures: an authority, agents, a verifier for executor `files-1`."""

import time

import pytest

import agentcap as ac


class World:
    def __init__(self):
        self.authority_key = ac.AuthorityKey.generate(3)
        self.authority = ac.Authority("ops", self.authority_key)
        self.alice = ac.AgentKey.generate()
        self.bob = ac.AgentKey.generate()
        self.alice_id = ac.new_agent_id()
        self.bob_id = ac.new_agent_id()
        self.executor = "files-1"
        self.roots = [self.authority_key.public]

    def grant(self, tools, holder=None, **kw):
        holder = holder or self.alice
        return ac.Grant(holder.public, tools, time.time() + 3600, agent=self.alice_id, **kw)

    def read_token(self):
        tools = {"read_file": ac.ToolGrant().arg("path", ac.Constraint.sub_path("/data"))}
        return self.authority.issue(self.grant(tools))

    def verifier(self, tools=("read_file", "search", "write_file", "publish"), **kw):
        return ac.Verifier(self.executor, self.roots, list(tools), **kw)


@pytest.fixture
def world():
    return World()
