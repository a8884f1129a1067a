"""Conformance checks for ProfileStore implementations, the small catalog and event stream they
run on (also used by pyrerank's own store tests and benchmarks), and a private Redis server."""

from __future__ import annotations

import contextlib
import itertools
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..reranker import Reranker

TOPICS = ["space starship", "paris romance", "bees nature", "haunted horror", "jazz music", "mountain climbing"]
STYLES = ["documentary", "comedy", "drama", "thriller", "animated"]
ITEMS = [f"{topic} {style} {n}" for n, (topic, style) in enumerate(itertools.product(TOPICS, STYLES))]
KINDS = ["view", "click", "like", "purchase", "skip", "dislike"]
USERS = [f"u{i}" for i in range(8)]


def make_reranker(store: Any = "memory", **options: Any) -> Reranker:
    """A Reranker on `store` over ITEMS (int ids 0..29, the dependency-free hashing encoder)."""
    rr = Reranker(encoder="hashing", store=store, **options)
    rr.add_items(list(range(len(ITEMS))), ITEMS)
    return rr


def events(n: int, seed: int = 0, users: list[str] = USERS) -> list[tuple[str, int, str, float]]:
    """n (user, item, kind, timestamp) events, timestamps increasing."""
    rng = np.random.default_rng(seed)
    return [
        (str(rng.choice(users)), int(rng.integers(len(ITEMS))), str(rng.choice(KINDS)), 1_000.0 + 10.0 * i)
        for i in range(n)
    ]


def feed(rr: Reranker, stream: list[tuple[str, int, str, float]]) -> None:
    for user, item, kind, t in stream:
        rr.observe(user, item, kind, timestamp=t)


def rankings(rr: Reranker, users: list[str] = USERS) -> dict[str, list[tuple[Any, float]]]:
    """Each user's top 10 of the whole catalog at one fixed moment."""
    return {
        u: [(r.item, round(r.score, 5)) for r in rr.rerank(u, np.arange(len(ITEMS)), k=10, now=10**7)] for u in users
    }


def assert_same_statistics(got: Any, want: Any) -> None:
    """Two ItemStats hold the same counts and co-engagement links (to float tolerance)."""
    np.testing.assert_allclose(got.table, want.table, rtol=1e-9, atol=1e-12)
    links = {row: got.co.links(row) for row in range(len(got.table)) if got.co.links(row)}
    want_links = {row: want.co.links(row) for row in range(len(want.table)) if want.co.links(row)}
    assert links.keys() == want_links.keys(), "co-engagement links differ"
    for row, neighbors in links.items():
        assert neighbors == want_links[row], f"co-engagement links of row {row} differ"


@contextlib.contextmanager
def redis_server(folder: str | Path, *, port: int | None = None, persistent: bool = False) -> Iterator[str]:
    """A private redis-server (from PATH) on a loopback port (a free one unless given): yields
    its URL, and stops it on exit. It keeps nothing on disk unless `persistent` (then
    ``appendonly yes`` and ``appendfsync always`` in `folder`, so an acknowledged event survives
    a crash of the server). Raises FileNotFoundError without redis-server."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not on PATH (Debian: apt-get install redis-server)")
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    persistence = ["--appendonly", "yes", "--appendfsync", "always"] if persistent else ["--appendonly", "no"]
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder), *persistence]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.kill()
        server.wait()


class StoreConformance:
    """Subclass and implement ``new_store(tmp_path)``: the URL of a fresh, empty store of your
    kind (``Reranker(store=url)`` opens it as often as a check needs; a durable store's
    instances share one log). Every check compares Rerankers on that store with the model: a
    memory-store Reranker fed the same events, which never evicts, reopens or touches a disk.
    Checks that need durability are skipped for a store whose ``durable`` is False::

        class TestMyStore(StoreConformance):
            def new_store(self, tmp_path):
                return f"mystore://{tmp_path}/db"
    """

    def new_store(self, tmp_path: Path) -> str:
        raise NotImplementedError

    def _durable_store(self, tmp_path: Path) -> str:
        url = self.new_store(tmp_path)
        rr = make_reranker(url)
        durable = rr.store.durable
        rr.store.close()
        if not durable:
            import pytest

            pytest.skip("the store is not durable")
        return url

    def test_ranks_as_its_events_say(self, tmp_path: Path) -> None:
        stream = events(200, seed=1)
        rr, model = make_reranker(self.new_store(tmp_path)), make_reranker()
        feed(rr, stream)
        feed(model, stream)
        assert rankings(rr) == rankings(model) != rankings(make_reranker())
        np.testing.assert_allclose(rr.stats.popularity, model.stats.popularity, rtol=1e-9)
        rr.close()

    def test_reopened_it_ranks_as_before_and_goes_on(self, tmp_path: Path) -> None:
        url, stream = self._durable_store(tmp_path), events(300, seed=2)
        with make_reranker(url) as rr:
            feed(rr, stream[:200])
            before = rankings(rr)
        with make_reranker(url) as rr:  # from the snapshot written by close()
            assert rankings(rr) == before
            feed(rr, stream[200:])
        model = make_reranker()
        feed(model, stream)
        crashed = make_reranker(url)
        crashed.store.close()  # as a crash would: no snapshot of the last events
        reopened = make_reranker(url)
        assert rankings(reopened) == rankings(model)
        np.testing.assert_allclose(reopened.stats.popularity, model.stats.popularity, rtol=1e-9)
        reopened.close()

    def test_an_event_in_one_instance_shows_in_the_next_rerank_of_another(self, tmp_path: Path) -> None:
        url = self._durable_store(tmp_path)
        here, there, model = make_reranker(url), make_reranker(url), make_reranker()
        for step, (user, item, kind, t) in enumerate(events(40, seed=3, users=USERS[:3])):
            writer = here if step % 2 else there
            writer.observe(user, item, kind, timestamp=t)
            model.observe(user, item, kind, timestamp=t)
            reader = there if step % 2 else here
            assert rankings(reader, [user]) == rankings(model, [user])
        here.close()
        there.close()

    def test_users_evicted_from_memory_are_rebuilt(self, tmp_path: Path) -> None:
        url, stream = self._durable_store(tmp_path), events(200, seed=4)
        rr, model = make_reranker(url, max_users=2), make_reranker()
        feed(rr, stream)
        feed(model, stream)
        assert len(rr.users) <= 2
        assert rankings(rr) == rankings(model)
        rr.close()

    def test_a_user_read_with_the_log_is_the_user_read_after_it(self, tmp_path: Path) -> None:
        """ProfileStore.read_with_user gives read()'s events and, where it gives a history, what
        user_history gives after them (kept records included: users with over 64 events), so a
        process holding none of its users ranks each as the model while another one writes."""
        url = self._durable_store(tmp_path)
        writer, reader, model = make_reranker(url), make_reranker(url, max_users=1), make_reranker()
        together, apart = make_reranker(url).store, make_reranker(url).store
        assert together.read() == apart.read()
        for step, (user, item, kind, t) in enumerate(events(300, seed=9, users=USERS[:2])):
            writer.observe(user, item, kind, timestamp=t)
            model.observe(user, item, kind, timestamp=t)
            if step % 20 == 19:
                logged, history = together.read_with_user(user)
                assert logged == apart.read() and len(logged) == 20
                assert history is None or history == apart.user_history(user)
                assert rankings(reader, [user]) == rankings(model, [user])
        for rr in (writer, reader):
            rr.close()
        together.close()
        apart.close()

    def test_text_events_move_users_alike_after_a_rebuild(self, tmp_path: Path) -> None:
        """Text a user wrote (observe_text) is logged with its vector: a durable store rebuilds
        the user from it, in another instance and after the user left memory."""
        url, stream = self.new_store(tmp_path), events(60, seed=7, users=USERS[:3])
        rr, model = make_reranker(url), make_reranker()
        for target in (rr, model):
            feed(target, stream[:30])
            target.observe_text(USERS[0], "haunted horror thriller", kind="review", timestamp=2_000.0)
            target.observe_text(USERS[1], "jazz", kind="query", timestamp=2_001.0, weight=-1.0)
            feed(target, stream[30:])
        assert rankings(rr, USERS[:3]) == rankings(model, USERS[:3]) != rankings(make_reranker(), USERS[:3])
        rr.close()
        if rr.store.durable:
            rebuilt = make_reranker(url, max_users=1)
            assert rankings(rebuilt, USERS[:3]) == rankings(model, USERS[:3])
            rebuilt.close()

    def test_seen_items_never_come_back(self, tmp_path: Path) -> None:
        """exclude_seen (the default) leaves out every item a user engaged with, in the instance
        that observed it and (durable stores) in another instance, after a restart and after
        the user was evicted from memory and rebuilt from the store."""
        url, stream = self.new_store(tmp_path), events(150, seed=6)
        rr = make_reranker(url)
        feed(rr, stream)
        readers = [rr]
        if rr.store.durable:
            rr.close()
            readers = [make_reranker(url), make_reranker(url, max_users=1)]
        for reader in readers:
            for user in USERS:
                seen = {item for u, item, _, _ in stream if u == user}
                ranked = {r.item for r in reader.rerank(user, np.arange(len(ITEMS)), k=len(ITEMS))}
                assert ranked == set(range(len(ITEMS))) - seen, user
            reader.close()

    def test_forget_removes_the_user_in_every_instance(self, tmp_path: Path) -> None:
        url = self.new_store(tmp_path)
        rr = make_reranker(url)
        feed(rr, [("gone", 0, "like", 1.0), ("gone", 5, "like", 2.0), ("kept", 1, "like", 3.0)])
        personal = rankings(rr, ["gone"])["gone"]
        assert rr.forget("gone") is True
        assert rr.forget("gone") is False
        after = rankings(rr, ["gone", "nobody"])
        assert after["gone"] == after["nobody"] != personal  # ranked like a user never seen
        if rr.store.durable:
            later = rankings(make_reranker(url), ["gone", "nobody", "kept"])
            assert later["gone"] == later["nobody"] != later["kept"]
        rr.close()

    def test_forget_leaves_the_statistics_of_a_log_without_the_user(self, tmp_path: Path) -> None:
        """After forget, item statistics equal those of a Reranker that never saw the user: in
        the instance that forgot, and (durable stores) in one that was open meanwhile and in one
        opened after a restart."""
        url, stream = self.new_store(tmp_path), events(300, seed=8, users=USERS[:4])
        rr = make_reranker(url)
        other = make_reranker(url) if rr.store.durable else None
        feed(rr, stream)
        reference = make_reranker()
        feed(reference, [e for e in stream if e[0] != "u1"])
        assert rr.forget("u1") is True
        assert_same_statistics(rr.stats, reference.stats)
        assert rankings(rr, USERS[:4]) == rankings(reference, USERS[:4])
        if other is not None:
            assert rankings(other, USERS[:4]) == rankings(reference, USERS[:4])  # syncs: applies the marker
            assert_same_statistics(other.stats, reference.stats)
            other.close()
            rr.store.close()  # no snapshot on the way out: the one forget wrote must do
            restarted = make_reranker(url)
            assert rankings(restarted, USERS[:4]) == rankings(reference, USERS[:4])
            assert_same_statistics(restarted.stats, reference.stats)
            rr = restarted
        rr.close()

    def test_an_instance_with_other_statistics_settings_is_refused(self, tmp_path: Path) -> None:
        """The store keeps the first instance's statistics settings (claim_settings); one with
        other ones is refused by name, since a forget would leave the two with other counts."""
        import pytest

        from ..errors import StoreError

        url = self._durable_store(tmp_path)  # opened with the default settings, as here
        first = make_reranker(url)
        first.observe("u", 0, "like", timestamp=100.0)
        for name, value in {"exact_forget": False, "forget_horizon": None, "max_neighbors": 8}.items():
            with pytest.raises(StoreError, match=f"{name}=[^ ]+ \\(here {value}\\)"):
                make_reranker(url, **{name: value})
        same = make_reranker(url)
        assert rankings(same, ["u"]) == rankings(first, ["u"])
        same.close()
        first.close()

    def test_random_histories_match_the_memory_model(self, tmp_path: Path) -> None:
        """Random observe / forget / reopen (with or without a snapshot) sequences on a Reranker
        holding at most 2 users in memory, checked after every step."""
        from hypothesis import settings
        from hypothesis import strategies as st
        from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

        self._durable_store(tmp_path)
        new_store = self.new_store
        folders = itertools.count()

        class Machine(RuleBasedStateMachine):
            def __init__(self) -> None:
                super().__init__()
                folder = tmp_path / f"run{next(folders)}"
                folder.mkdir()
                self.url = new_store(folder)
                self.rr, self.model, self.clock = make_reranker(self.url, max_users=2), make_reranker(), 0.0
                self.log: list[tuple[str, int, str, float, bool]] = []  # the events of users not forgotten

            @rule(
                user=st.sampled_from(USERS[:4]),
                item=st.integers(0, len(ITEMS) - 1),
                kind=st.sampled_from(KINDS),
                count=st.booleans(),
            )
            def observe(self, user: str, item: int, kind: str, count: bool) -> None:
                self.clock += 1.0
                self.rr.observe(user, item, kind, timestamp=self.clock, count=count)
                self.model.observe(user, item, kind, timestamp=self.clock, count=count)
                self.log.append((user, item, kind, self.clock, count))

            @rule(user=st.sampled_from(USERS[:4]))
            def forget(self, user: str) -> None:
                assert self.rr.forget(user) == self.model.forget(user)
                self.log = [e for e in self.log if e[0] != user]

            @rule(snapshot=st.booleans())
            def reopen(self, snapshot: bool) -> None:
                if snapshot:
                    self.rr.close()
                else:
                    self.rr.store.close()  # as a crash would: no snapshot of the latest counts
                self.rr = make_reranker(self.url, max_users=2)

            @invariant()
            def ranks_like_the_model_and_counts_only_users_not_forgotten(self) -> None:
                assert rankings(self.rr, USERS[:4]) == rankings(self.model, USERS[:4])  # brings rr up to date
                replayed = make_reranker()
                for user, item, kind, t, count in self.log:
                    replayed.observe(user, item, kind, timestamp=t, count=count)
                assert_same_statistics(self.rr.stats, replayed.stats)

            def teardown(self) -> None:
                self.rr.store.close()

        run_state_machine_as_test(Machine, settings=settings(max_examples=15, stateful_step_count=25, deadline=None))
