"""The document state machine is declared once (``ledger/states.py``): every status change in src
goes through it, every event a call site names is in it, and docs/exactly-once.md shows it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from ml_connector.ledger.schema import documents
from ml_connector.ledger.states import TRANSITIONS, DocStatus, markdown_table
from ml_connector.ledger.store import Ledger

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src" / "ml_connector"
STATES = {v for k, v in vars(DocStatus).items() if k.isupper() and isinstance(v, str)}
# the one writer of a document's status: the compare-and-set gate, the insert of a new document and
# the bulk move of a file's documents (one event, from the table too)
GATE = ("ledger/documents.py", {"_change", "insert_in", "move_file_documents_in"})
# the ledger's awaited calls (ledger/awaited.py) only pass their caller's event on to the gate
PASS_ON = {GATE[0], "ledger/awaited.py"}
# Ledger methods whose first argument after the id (the bulk move: after the transaction) is the event
CHANGERS = {"transition", "park", "move_file_documents_in"}
MOVE = "Move"  # documents.Move(event, ...): one event of a chain applied in one commit


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(SRC.rglob("*.py")):
        yield path.relative_to(SRC).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def _functions(tree: ast.Module) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.Call]]:
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(fn):
                if isinstance(node, ast.Call):
                    yield fn, node


def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "text"`` assignments."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    out[target.id] = node.value.value
    return out


def test_the_table_only_names_known_states_and_columns() -> None:
    for t in TRANSITIONS.values():
        assert set(t.sources) <= STATES and t.targets and set(t.targets) <= STATES, t.event
        assert set(t.records) <= set(documents.c.keys()), t.event
    reached = {s for t in TRANSITIONS.values() for s in t.targets}
    assert reached == STATES  # every state can be reached, none is left out of the table
    assert {t.event for t in TRANSITIONS.values() if t.opens_failure} == {
        "unpostable",
        "rejected",
        "release_rejected",
        "duplicate_in_visma",
        "image_required",
        "attach_rejected",
    }
    assert all(t.targets == (DocStatus.PARKED,) for t in TRANSITIONS.values() if t.opens_failure)


def test_only_the_gate_writes_a_documents_status() -> None:
    writers = []
    for name, tree in _modules():
        for fn, call in _functions(tree):
            f = call.func
            if (
                isinstance(f, ast.Attribute)
                and f.attr in {"update", "insert"}
                and isinstance(f.value, ast.Name)
                and f.value.id == "documents"
            ):
                writers.append((name, fn.name))
    assert writers and {(n, f) for n, f in writers} <= {(GATE[0], f) for f in GATE[1]}, writers
    text = "\n".join(p.read_text(encoding="utf-8") for p in SRC.rglob("*.py")).lower()
    assert "update documents" not in text and "into documents" not in text  # no raw SQL either


def test_every_status_change_names_an_event_of_the_table() -> None:
    seen: set[str] = set()
    for name, tree in _modules():
        constants = _constants(tree)
        calls = list(_functions(tree))
        for fn, call in calls:
            f = call.func
            is_move = isinstance(f, ast.Name) and f.id == MOVE
            changer = (isinstance(f, ast.Attribute) and f.attr in CHANGERS) or (
                isinstance(f, ast.Name) and f.id in CHANGERS
            )
            if not (is_move or changer) or name in PASS_ON:
                continue
            where = f"{name}:{call.lineno}"
            position = 0 if is_move else 1  # Move(event, ...) / transition(doc_id, event, ...)
            assert len(call.args) > position, f"{where}: the event is not named"
            assert not any(isinstance(a, ast.List | ast.Tuple) for a in call.args), f"{where}: a from-list"
            assert "action" not in {k.arg for k in call.keywords}, f"{where}: the action comes from the table"
            events = _event_values(call.args[position], fn, calls, constants, where)
            for event in events:
                assert event in TRANSITIONS, f"{where}: {event!r} is not in the transition table"
                assert TRANSITIONS[event].opens_failure == (
                    isinstance(f, ast.Attribute) and f.attr == "park"
                ), where
            seen |= events
        for stmt in tree.body:  # module constants: LEFT_ON_HOLD = Move("posted", ...)
            value = stmt.value if isinstance(stmt, ast.Assign) else None
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == MOVE:
                literal = value.args[0]
                assert isinstance(literal, ast.Constant) and isinstance(literal.value, str), (
                    f"{name}:{stmt.lineno}"
                )
                assert literal.value in TRANSITIONS, f"{name}:{stmt.lineno}: {literal.value!r}"
                assert not TRANSITIONS[literal.value].opens_failure, f"{name}:{stmt.lineno}"
                seen.add(literal.value)
    # every event but "received" (the insert) is used by some call site, or by the ledger itself
    assert seen | {"received", "claimed", "superseded"} == set(TRANSITIONS)


def _event_values(
    arg: ast.expr,
    fn: ast.FunctionDef | ast.AsyncFunctionDef,
    calls: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.Call]],
    constants: dict[str, str],
    where: str,
) -> set[str]:
    """The event names an argument can hold: a literal, a module constant, or a parameter of the
    enclosing helper (then every call of that helper in the module must pass one of those)."""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return {arg.value}
    assert isinstance(arg, ast.Name), f"{where}: the event must be a name or a literal"
    if arg.id in constants:
        return {constants[arg.id]}
    params = [a.arg for a in fn.args.args]
    assert arg.id in params, f"{where}: cannot tell which event {arg.id} holds"
    index = params.index(arg.id)
    out: set[str] = set()
    for outer, call in calls:
        if isinstance(call.func, ast.Name) and call.func.id == fn.name:
            out |= _event_values(call.args[index], outer, calls, constants, f"{where} via {call.lineno}")
    assert out, f"{where}: {fn.name} is never called"
    return out


def test_docs_table_is_the_codes() -> None:
    doc = (REPO / "docs" / "exactly-once.md").read_text(encoding="utf-8")
    begin = doc.index("<!-- transitions:begin")
    body = doc[doc.index("\n", begin) + 1 : doc.index("<!-- transitions:end -->")]
    assert body == markdown_table(), "regenerate it with: python -m ml_connector.ledger.states"


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    led = Ledger.open(ledger_url)
    yield led
    led.close()


def test_an_event_refuses_what_the_table_does_not_allow(ledger: Ledger) -> None:
    doc_id = ledger.insert_document(
        {
            "connection": "acme",
            "doc_key": "INV:9",
            "kind": "invoice",
            "content_hash": "h",
            "reference": "ST-9",
            "source": {"stampliInvoiceId": "9"},
            "amount": "10.00",
        },
        status=DocStatus.PENDING,
        actor="test",
        reason="read",
    )
    assert doc_id is not None
    with pytest.raises(ValueError, match="no document transition"):
        ledger.transition(doc_id, "teleported", actor="t")
    with pytest.raises(ValueError, match="cannot lead to"):
        ledger.transition(doc_id, "found_in_visma", DocStatus.PARKED, actor="t")
    with pytest.raises(ValueError, match="needs a to-state"):
        ledger.transition(doc_id, "found_in_visma", actor="t")
    with pytest.raises(ValueError, match="does not record"):
        ledger.transition(doc_id, "voided", actor="t", batch_number="1")
    with pytest.raises(ValueError, match="use park"):
        ledger.transition(doc_id, "unpostable", actor="t")
    with pytest.raises(ValueError, match="does not park"):
        ledger.park(doc_id, "voided", category="c", code="x", reason="r", actor="t")
    with pytest.raises(ValueError, match="cannot lead to"):
        ledger.insert_document({}, status=DocStatus.POSTED, actor="t", reason="r")
    assert ledger.document_by_id(doc_id).status == DocStatus.PENDING
    # the table's side effects: a release clears the claim, and its audit row is the table's action
    assert ledger.transition(doc_id, "found_in_visma", DocStatus.CREATED, actor="t", batch_number="7")
    assert ledger.transition(doc_id, "released", actor="t", etag="e")
    row = ledger.document_by_id(doc_id)
    assert (row.status, row.claimed_by, row.claim_expires) == (DocStatus.POSTED, None, None)
    trail = ledger.audit_trail("document", "INV:9")
    assert [(a.action, a.from_status, a.to_status) for a in trail] == [
        ("received", None, "pending"),
        ("found_in_visma", "pending", "created"),
        ("released", "created", "posted"),
    ]


def test_every_status_is_listed_where_statuses_are_offered() -> None:
    """DocStatus.ALL names every state once; the API's status filter and the documents page's
    select offer each of them (``reading`` included), and nothing else."""
    from ml_connector.web.api import DOC_STATUSES

    assert set(DocStatus.ALL) == STATES and len(DocStatus.ALL) == len(STATES)
    assert set(DocStatus.NOT_POSTED) <= STATES and DocStatus.READING in DocStatus.NOT_POSTED
    assert DocStatus.READING not in DocStatus.OPEN  # not on its way to Visma until its file is read
    offered = DOC_STATUSES.removeprefix("^(").split(")$")[0].split("|")
    assert sorted(offered) == sorted(DocStatus.ALL)
    page = (SRC / "web" / "templates" / "documents.html").read_text(encoding="utf-8")
    select = page[page.index('{% for s in ["') : page.index("] %}")]
    assert sorted(select.split("[", 1)[1].replace('"', "").split(", ")) == sorted(DocStatus.ALL)
