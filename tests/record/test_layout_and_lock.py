import multiprocessing
import os
from datetime import datetime, timezone

import pytest

from builder.common.locking import profile_lock
from builder.errors import BusyError, ExitCode
from builder.record.layout import ArtifactLayout, new_build_id
from builder.record.manifest import write_json_atomic
from tests.ops.fakes import manifest_record


def test_build_ids_sort_by_time_and_carry_the_key():
    key = "ab" * 32
    first = new_build_id(key, datetime(2026, 1, 1, tzinfo=timezone.utc))
    second = new_build_id(key, datetime(2026, 1, 2, tzinfo=timezone.utc))
    assert first < second and first == f"20260101T000000000000Z-{key[:12]}"


def _publish(layout, build_id, key, status="succeeded"):
    folder = layout.build_dir(build_id)
    folder.mkdir(parents=True)
    write_json_atomic(folder / "manifest.json", manifest_record(layout.profile, build_id, key, status))
    return folder


def test_latest_is_an_atomic_relative_symlink(tmp_path):
    layout = ArtifactLayout(tmp_path, "p")
    one = _publish(layout, "20260101T000000Z-aaaaaaaaaaaa", "a" * 64)
    two = _publish(layout, "20260102T000000Z-bbbbbbbbbbbb", "b" * 64)
    layout.point_latest_at(one.name)
    assert layout.latest_dir() == one.resolve()
    layout.point_latest_at(two.name)
    assert layout.latest_dir() == two.resolve()
    assert not os.path.isabs(os.readlink(layout.latest_link))
    latest = layout.latest_manifest()
    assert latest is not None and latest.build_key == "b" * 64
    assert [p.name for p in layout.profile_dir.iterdir() if p.name.startswith(".latest")] == []


def test_find_build_with_key_ignores_failed_builds(tmp_path):
    layout = ArtifactLayout(tmp_path, "p")
    _publish(layout, "20260101T000000Z-aaaaaaaaaaaa", "a" * 64, status="failed")
    assert layout.find_build_with_key("a" * 64) is None
    good = _publish(layout, "20260102T000000Z-aaaaaaaaaaaa", "a" * 64)
    assert layout.find_build_with_key("a" * 64) == good


def _hold(path, ready, release):
    with profile_lock(path, wait=False):
        ready.set()
        release.wait(10)


def test_second_lock_holder_is_refused_then_admitted(tmp_path):
    lock = tmp_path / ".lock"
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold, args=(lock, ready, release))
    proc.start()
    assert ready.wait(10)
    with pytest.raises(BusyError) as err:
        with profile_lock(lock, wait=False):
            pass
    assert err.value.exit_code == ExitCode.BUSY and "--wait" in err.value.hint
    release.set()
    proc.join(10)
    with profile_lock(lock, wait=False):
        pass


def test_lock_dies_with_a_killed_holder(tmp_path):
    lock = tmp_path / ".lock"
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold, args=(lock, ready, release))
    proc.start()
    assert ready.wait(10)
    proc.kill()
    proc.join(10)
    with profile_lock(lock, wait=False):  # free at once: a held lock would raise BusyError here, not wait
        pass
