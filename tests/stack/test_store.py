"""Ingestion and retrieval on PostgreSQL + pgvector with real MiniLM embeddings; ACLs that cannot be talked around."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stack.chunking import chunk_text
from stack.embeddings import MiniLMEmbedder
from stack.store import NotFound, create_collection, ingest, retrieve, scoped

Dsn = Callable[[str | None], str]
GROUPS = ["g0", "g1", "g2", "g3", "g4"]

WARFARIN = (
    "Anticoagulation clinic protocol. Warfarin doses are adjusted to keep the INR between 2.0 and 3.0 for "
    "atrial fibrillation. Check the INR weekly until two results in range, then every four weeks. "
)
MRI = (
    "Radiology scheduling. MRI scanners are booked in 45 minute slots; patients with pacemakers need a "
    "cardiology review before any MRI appointment. "
)
BILLING = "Billing office hours are 9 to 5. Invoices are sent on the first business day of each month. "


def seed(dsn: Dsn, embedder: MiniLMEmbedder) -> None:
    with psycopg.connect(dsn(None)) as admin:
        create_collection(admin, "cardiology", "Cardiology", ["clinicians"], ["cardiology-editors"])
        create_collection(admin, "radiology", "Radiology", ["clinicians", "radiology"], ["radiology-editors"])
        create_collection(admin, "billing", "Billing", ["billing"], ["billing"])
    with psycopg.connect(dsn("phistack_app")) as app:
        ingest(app, embedder, ["cardiology-editors"], "cardiology", "Warfarin protocol", WARFARIN * 8)
        ingest(app, embedder, ["radiology-editors"], "radiology", "MRI scheduling", MRI * 8)
        ingest(app, embedder, ["billing"], "billing", "Billing hours", BILLING * 8)


def test_chunks_overlap_and_keep_offsets() -> None:
    text = " ".join(f"word{i}" for i in range(700))
    chunks = chunk_text(text, size=500, overlap=100)
    assert len(chunks) > 5 and all(len(c.text) <= 500 for c in chunks)
    assert all(text[c.start : c.end] == c.text for c in chunks)
    assert all(b.start < a.end for a, b in zip(chunks, chunks[1:], strict=False))  # consecutive chunks overlap
    assert chunks[-1].end == len(text)
    with pytest.raises(ValueError, match="overlap"):
        chunk_text(text, size=100, overlap=100)


def test_the_right_document_answers_with_citable_offsets(database: Dsn, embedder: MiniLMEmbedder) -> None:
    seed(database, embedder)
    question = embedder.embed(["What INR range should a patient on warfarin stay in?"])[0]
    with psycopg.connect(database("phistack_app")) as app:
        hits = retrieve(app, ["clinicians"], question, k=3)
    assert hits[0].document_title == "Warfarin protocol" and hits[0].collection == "cardiology"
    assert "INR" in hits[0].text and hits[0].score > 0.5
    assert hits[0].end > hits[0].start


def test_ingestion_is_idempotent_and_all_or_nothing(database: Dsn, embedder: MiniLMEmbedder) -> None:
    seed(database, embedder)
    with psycopg.connect(database("phistack_app")) as app:
        again = ingest(app, embedder, ["cardiology-editors"], "cardiology", "Warfarin protocol", WARFARIN * 8)
        assert again.created is False
        with pytest.raises(NotFound):
            ingest(app, embedder, ["clinicians"], "cardiology", "Sneaky", "Readers cannot write here.")
        with scoped(app, ["cardiology-editors", "clinicians"]):
            documents = app.execute("SELECT count(*) FROM documents WHERE collection_id = 'cardiology'").fetchone()
        assert documents is not None and documents[0] == 1


def test_groups_decide_what_is_visible_even_to_raw_sql(database: Dsn, embedder: MiniLMEmbedder) -> None:
    seed(database, embedder)
    question = embedder.embed(["When are invoices sent?"])[0]
    with psycopg.connect(database("phistack_app")) as app:
        assert {h.collection for h in retrieve(app, ["radiology"], question, k=10)} == {"radiology"}
        assert {h.collection for h in retrieve(app, ["billing"], question, k=10)} == {"billing"}
        assert retrieve(app, ["nobody"], question, k=10) == []
        with scoped(app, ["radiology"]):  # row-level security: a query without the ACL filter still sees only radiology
            seen = app.execute("SELECT DISTINCT collection_id FROM chunks").fetchall()
        assert seen == [("radiology",)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    n_collections=st.integers(min_value=1, max_value=5),
    user_groups=st.lists(st.sampled_from(GROUPS), max_size=3, unique=True),
)
def test_no_chunk_from_a_forbidden_collection_ever(
    database: Dsn, data: st.DataObject, n_collections: int, user_groups: list[str]
) -> None:
    """Random users, groups and collections: whatever the query vector, never a chunk the user may not read."""
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    acl = {
        f"c{uuid.uuid4().hex[:12]}": data.draw(st.lists(st.sampled_from(GROUPS), min_size=1, max_size=3, unique=True))
        for _ in range(n_collections)
    }

    class RandomEmbedder:
        dimensions = 384

        def embed(self, texts: list[str]) -> list[list[float]]:
            return [[rng.uniform(-1, 1) for _ in range(384)] for _ in texts]

    with psycopg.connect(database(None)) as admin:
        for cid, groups in acl.items():
            create_collection(admin, cid, cid, groups, ["writer"])
    with psycopg.connect(database("phistack_app")) as app:
        for cid in acl:
            ingest(app, RandomEmbedder(), ["writer"], cid, cid, f"text of {cid} " * rng.randint(1, 200))
        hits = retrieve(app, user_groups, RandomEmbedder().embed(["q"])[0], k=50)
        asked = retrieve(app, user_groups, RandomEmbedder().embed(["q"])[0], collections=list(acl), k=50)
        # Hybrid: every collection's own word is a distinctive term, searched by the owner-run text functions.
        words = " ".join(acl)
        hybrid = retrieve(app, user_groups, RandomEmbedder().embed(["q"])[0], k=50, query_text=words)
        with scoped(app, user_groups):
            any_word = app.execute("SELECT to_tsquery('simple', %s)", (" | ".join(acl),)).fetchone()
            assert any_word is not None
            anywhere = [r[0] for r in app.execute("SELECT id FROM chunks_matching(%s, NULL, 1000)", any_word)]
            named = [
                r[0] for r in app.execute("SELECT id FROM chunks_matching(%s, %s, 1000)", (any_word[0], list(acl)))
            ]
    # The oracle, independent of the code under test: every collection's ACL, read as the superuser.
    with psycopg.connect(database(None)) as admin:
        everything = admin.execute("SELECT id, read_groups FROM collections").fetchall()
        visible_chunks = admin.execute(
            "SELECT count(*) FROM chunks c JOIN collections col ON col.id = c.collection_id "
            "WHERE col.read_groups && %s",
            (user_groups,),
        ).fetchone()
    allowed = {cid for cid, groups in everything if set(groups) & set(user_groups)}
    assert {h.collection for h in hits} <= allowed
    assert {h.collection for h in asked} <= allowed & set(acl)
    assert visible_chunks is not None and len(hits) == min(50, visible_chunks[0])  # nothing readable is hidden
    assert {h.collection for h in hybrid} <= allowed and len(hybrid) == min(50, visible_chunks[0])
    with psycopg.connect(database(None)) as admin:  # the text function's ids, and what it should have found
        found = [
            admin.execute("SELECT collection_id FROM chunks WHERE id = ANY(%s)", (ids,)).fetchall()
            for ids in (anywhere, named)
        ]
        expected = admin.execute(
            "SELECT count(*) FROM chunks WHERE collection_id = ANY(%s)", (sorted(allowed & set(acl)),)
        ).fetchone()
    assert expected is not None
    for ids, collections in zip((anywhere, named), found, strict=True):
        assert {c for (c,) in collections} == allowed & set(acl) and len(ids) == expected[0]
