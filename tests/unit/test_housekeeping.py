"""Circular recording deletes the oldest first and stops as soon as the disk is under the limit."""

from __future__ import annotations

from appliance.services.housekeeping import delete_oldest_until


class FakeDisk:
    def __init__(self, sizes: dict[int, float], other: float) -> None:
        self.sizes = dict(sizes)  # id -> percent of the disk, ids in age order
        self.other = other
        self.deleted: list[int] = []

    def usage(self) -> float:
        return self.other + sum(self.sizes.values())

    def oldest(self, n: int) -> list[int]:
        return sorted(self.sizes)[:n]

    def delete(self, rid: int) -> int:
        del self.sizes[rid]
        self.deleted.append(rid)
        return 1


def test_deletes_oldest_first_until_under_the_limit():
    disk = FakeDisk({i: 1.0 for i in range(1, 301)}, other=10.0)  # 310 % "used", 3 batches
    result = delete_oldest_until(90, disk.usage, disk.oldest, disk.delete)
    assert disk.deleted == list(range(1, 221))
    assert (result.deleted, result.usage_before, result.usage_after) == (220, 310.0, 90.0)


def test_nothing_happens_under_the_limit():
    disk = FakeDisk({1: 5.0}, other=10.0)
    result = delete_oldest_until(90, disk.usage, disk.oldest, disk.delete)
    assert result.deleted == 0 and disk.sizes == {1: 5.0}


def test_stops_when_no_recordings_are_left():
    disk = FakeDisk({1: 1.0, 2: 1.0}, other=95.0)
    result = delete_oldest_until(90, disk.usage, disk.oldest, disk.delete)
    assert disk.deleted == [1, 2] and result.usage_after == 95.0
