import logging

import pytest

from chat_server import ChatServer
from textcell.annotation.chat import ChatProposer, parse_names
from textcell.errors import RateLimitError, ResponseError

SECRET = "sk-chat-test-do-not-leak"
TOP = {"0": ["ACTA2", "FGF7", "S100A8"], "1": ["CD3E", "IL7R"], "2": ["NOTAGENE"]}


@pytest.fixture
def server():
    with ChatServer({"S100A8": "Neutrophils", "CD3E": "T cells"}) as running:
        yield running


def test_names_each_group_and_sends_the_key_only_in_the_header(server, caplog):
    caplog.set_level(logging.DEBUG, logger="textcell")
    proposer = ChatProposer("gpt-test", base_url=server.base_url, api_key=SECRET, backoff=0.01)
    assert proposer.propose(TOP, tissue="bladder") == {
        "0": "Neutrophils",
        "1": "T cells",
        "2": "Unknown cells",
    }
    assert len(server.prompts) == 1
    assert "bladder cells" in server.prompts[0]
    assert "ACTA2, FGF7, S100A8" in server.prompts[0]
    assert server.headers_seen[0]["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in repr(proposer) + str(proposer.provenance()) + caplog.text


def test_groups_are_sent_in_bounded_chunks(server):
    proposer = ChatProposer("m", base_url=server.base_url, groups_per_request=2)
    assert len(proposer.propose(TOP)) == 3
    assert len(server.prompts) == 2


@pytest.mark.parametrize("fault", ["429", "500", "garbage", "short"])
def test_a_failed_answer_is_retried(server, fault):
    server.faults.extend([fault])
    proposer = ChatProposer("m", base_url=server.base_url, max_retries=2, backoff=0.01)
    assert proposer.propose(TOP)["1"] == "T cells"
    assert len(server.prompts) == 2


@pytest.mark.parametrize(("fault", "error"), [("429", RateLimitError), ("short", ResponseError)])
def test_spend_is_bounded(server, fault, error):
    server.always = fault
    proposer = ChatProposer("m", base_url=server.base_url, max_retries=2, backoff=0.01)
    with pytest.raises(error, match="on all 3 attempts"):
        proposer.propose(TOP)
    assert len(server.prompts) == 3


def test_parse_names_strips_numbering_and_bullets():
    assert parse_names("1. T cells\n2) B cells\n\n- NK cells.\n* Monocytes") == [
        "T cells", "B cells", "NK cells", "Monocytes",
    ]  # fmt: skip
