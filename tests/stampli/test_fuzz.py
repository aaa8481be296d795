"""Fuzzing: no input makes the readers raise anything but a reported issue (issue 19 point 1).

Hypothesis feeds random bytes and mutated copies of the shipped samples through ``read_export``
(both passes, every check) under a few profiles. Bounded and reproducible: a fixed number of
examples per test, derandomized, no example database, so it runs in the default suite in about
20 seconds together.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_connector.domain.documents import Invoice, content_hash
from ml_connector.stampli.profile import BUILTIN_PROFILES, ReaderProfile
from ml_connector.stampli.read import ReadResult, read_export
from tests.stampli.fixture_data import FIXTURES, SAMPLES

PROFILES = [
    BUILTIN_PROFILES["canonical"],
    BUILTIN_PROFILES["nordic"],
    BUILTIN_PROFILES["canonical"].with_(company_id="C100234", thousands_sep=" "),
]
SEEDS = sorted(SAMPLES.glob("stampli_*")) + sorted(FIXTURES.glob("stampli_*"))
NAMES = ["stampli_invoices_fuzz.csv", "stampli_payments_fuzz.xml", "export.txt"]

# Snippets that have broken a reader before (issue 19) or sit on a parsing edge.
TOKENS = [
    b"\x00",
    b"\r",
    b"\n",
    b'"',
    b",",
    b";",
    b"\t",
    b"<",
    b">",
    b"/>",
    b"&amp;",
    b"<![CDATA[x]]>",
    "\u00b2".encode(),
    "\u2075".encode(),
    "\uff11\uff12\uff13".encode(),
    "\u200b".encode(),
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xff",
    b"-",
    b"0",
    b"0.005",
    b"7.450",
    b"1,5",
    b"1e9",
    b"NaN",
    b"99999999999999999999999",
    b"<Hidden/>",
    b"<Total>1</Total>",
    b'sequence="\xc2\xb2"',
    b'invoiceCount="\xe2\x81\xb5"',
    b"<!DOCTYPE x>",
    b"APPROVED",
    b"SCHEDULED",
]
UNICODE_DIGITS = ["\u00b2", "\u2075", "\uff15", "\u0665", "\u096b", "\U0001d7d3"]
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _read(data: bytes, name: str, profile: ReaderProfile) -> ReadResult:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        result = read_export(path, profile=profile)
        for doc in result.documents:  # what the pipeline does next with an accepted document
            assert (doc.key if isinstance(doc, Invoice) else doc.stampli_payment_id) and content_hash(doc)
        return result


def _reported(result: ReadResult) -> None:
    assert result.status in ("ok", "partial", "rejected")
    if result.status == "rejected":
        assert any(i.level == "error" for i in result.issues)
    for rec in result.rejected:
        assert any(i.level == "error" for i in rec.issues)


@SETTINGS
@given(
    data=st.binary(max_size=4096),
    name=st.sampled_from(NAMES),
    profile=st.sampled_from(PROFILES),
)
def test_random_bytes_never_raise(data: bytes, name: str, profile: ReaderProfile) -> None:
    _reported(_read(data, name, profile))


Mutation = tuple[str, float, bytes]


def _mutate(seed: Path, mutations: list[Mutation]) -> bytes:
    """Apply the mutations (action, relative position, payload) to the seed's bytes."""
    data = bytearray(seed.read_bytes())
    for action, where, payload in mutations:
        at = int(where * len(data))
        if action == "digit":  # an ASCII digit becomes a Unicode digit of another script or form
            digits = [i for i, b in enumerate(data) if 0x30 <= b <= 0x39]
            if digits:
                i = digits[int(where * len(digits)) % len(digits)]
                data[i : i + 1] = payload
        elif action == "long":  # a field or line longer than every limit
            data[at:at] = b"y" * 140_000
        elif action == "insert":
            data[at:at] = payload
        elif action == "delete":
            del data[at : at + len(payload) * 8]
        elif action == "replace":
            data[at : at + len(payload)] = payload
        elif action == "truncate":
            del data[at:]
    return bytes(data)


_PAYLOADS = st.sampled_from(TOKENS) | st.binary(min_size=1, max_size=8)
MUTATIONS = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["insert", "delete", "replace"]), st.floats(0, 1), _PAYLOADS),
        st.tuples(st.just("digit"), st.floats(0, 1), st.sampled_from(UNICODE_DIGITS).map(str.encode)),
        st.tuples(st.sampled_from(["long", "truncate"]), st.floats(0, 1), st.just(b"")),
    ),
    min_size=1,
    max_size=6,
)


@SETTINGS
@given(seed=st.sampled_from(SEEDS), mutations=MUTATIONS, profile=st.sampled_from(PROFILES))
def test_mutated_samples_never_raise(seed: Path, mutations: list[Mutation], profile: ReaderProfile) -> None:
    _reported(_read(_mutate(seed, mutations), seed.name, profile))
