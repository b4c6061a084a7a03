"""``claim_version`` on a local-folder datastore: concurrent claims take distinct versions, a taken version
can be recognised as the same registration (or refused), and too many taken versions is an error."""

from __future__ import annotations

import threading

import pytest

from amlflow.exceptions import UserErrorException
from amlflow.storage import get_backend
from amlflow.storage.versions import MAX_RACES, claim_version


@pytest.fixture
def backend(local_root):
    return get_backend("workspaceblobstore")


def path_for(version: int) -> str:
    return f"registry/thing/{version}.json"


def test_concurrent_claims_take_distinct_versions_each_with_its_own_payload(backend):
    claimers = 8
    barrier = threading.Barrier(claimers)
    got: dict[int, int] = {}
    failures: list[BaseException] = []

    def claim(who: int) -> None:
        try:
            barrier.wait()
            version, taken = claim_version(backend, 1, path_for, lambda v: f"{who}@{v}".encode(), what="Thing")
            assert taken is None
            got[who] = version
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    threads = [threading.Thread(target=claim, args=(who,)) for who in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert sorted(got.values()) == list(range(1, claimers + 1))
    for who, version in got.items():
        assert backend.read_bytes(path_for(version)) == f"{who}@{version}".encode()


def test_a_version_taken_meanwhile_gives_the_next_and_is_shown_to_on_taken(backend):
    backend.write_bytes(path_for(3), b"other")
    seen: list[int] = []

    def on_taken(version: int) -> None:
        seen.append(version)

    assert claim_version(backend, 3, path_for, lambda v: b"mine", what="Thing", on_taken=on_taken) == (4, None)
    assert seen == [3]
    assert backend.read_bytes(path_for(3)) == b"other"
    assert backend.read_bytes(path_for(4)) == b"mine"


def test_a_taken_version_with_the_same_content_is_given_back_and_nothing_is_written(backend):
    backend.write_bytes(path_for(1), b"same")

    def same(version: int) -> bytes | None:
        existing = backend.read_bytes(path_for(version))
        return existing if existing == b"same" else None

    assert claim_version(backend, 1, path_for, lambda v: b"same", what="Thing", on_taken=same) == (1, b"same")
    assert not backend.exists(path_for(2))


def test_on_taken_may_refuse_and_nothing_is_written(backend):
    backend.write_bytes(path_for(1), b"other")

    def refuse(version: int) -> None:
        raise UserErrorException(f"version {version} is another's")

    with pytest.raises(UserErrorException, match="version 1 is another's"):
        claim_version(backend, 1, path_for, lambda v: b"mine", what="Thing", on_taken=refuse)
    assert not backend.exists(path_for(2))


class ThingError(UserErrorException):
    pass


def test_too_many_taken_versions_raise_the_error_naming_what(backend):
    for version in range(1, MAX_RACES + 1):
        backend.write_bytes(path_for(version), b"other")
    with pytest.raises(ThingError) as raised:
        claim_version(backend, 1, path_for, lambda v: b"mine", what='Thing "t"', error=ThingError)
    assert str(raised.value) == f'Thing "t": could not take a new version ({MAX_RACES} were taken meanwhile)'
    assert not backend.exists(path_for(MAX_RACES + 1))
