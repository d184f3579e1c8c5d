"""The prefetching stream gives exactly the plain iterator's items, order and errors."""

from __future__ import annotations

import pytest

from bench.streams import prefetch


def test_same_items_in_order_and_errors_at_their_place() -> None:
    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))

    def boom():  # noqa: ANN202
        yield 1
        yield 2
        raise ValueError("bad file 3")

    got = []
    with pytest.raises(ValueError, match="bad file 3"):
        for x in prefetch(boom()):
            got.append(x)
    assert got == [1, 2]


def test_stopping_early_stops_the_producer() -> None:
    made = []

    def items():  # noqa: ANN202
        for i in range(1000):
            made.append(i)
            yield i

    for x in prefetch(items(), depth=2):
        if x == 5:
            break
    assert len(made) < 20  # the producer stopped a few items ahead, not at the end
