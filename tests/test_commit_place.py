"""Where a small group commit runs (regionserver.data.commit_place): on the loop while its commits are
quick and within their share of the loop's time; a slow one sends commits to the threads for a back-off
that doubles while they stay slow; and, whatever the commits' durations, the loop's time in commits stays
within its budget."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regionserver.data.commit_place import BACKOFF_S, MAX_BACKOFF_S, WINDOW, CommitPlacement
from tests.clocks import Clock


def placement(clock: Clock, **kwargs: float) -> CommitPlacement:
    return CommitPlacement(slow_s=0.002, stall_s=0.05, share=0.2, window_s=0.5, clock=clock, **kwargs)


def test_quick_commits_within_the_share_stay_on_the_loop() -> None:
    clock = Clock()
    place = placement(clock)
    for _ in range(1000):
        assert place.on_loop()
        place.took(0.0005)
        clock.now += 0.005  # 10% of the loop's time in commits, under its 20%


def test_slow_loop_commits_send_commits_to_the_threads_for_a_back_off_that_doubles_while_slow() -> None:
    clock = Clock()
    place = placement(clock)

    def slow_window() -> None:
        for _ in range(WINDOW):
            assert place.on_loop()
            place.took(0.005)  # above slow_s, below stall_s: judged once the window is full

    slow_window()
    assert not place.on_loop()
    clock.now += BACKOFF_S - 0.01
    assert not place.on_loop()
    clock.now += 0.01
    slow_window()  # tried again after the back-off, and still slow: twice as long
    clock.now += 2 * BACKOFF_S - 0.01
    assert not place.on_loop()
    clock.now += 0.01
    for _ in range(WINDOW):  # quick again: the back-off starts over
        assert place.on_loop()
        place.took(0.001)
    slow_window()
    clock.now += BACKOFF_S
    assert place.on_loop()


def test_a_single_stall_sends_commits_to_the_threads_at_once() -> None:
    clock = Clock()
    place = placement(clock)
    place.took(0.001)
    place.took(0.060)
    assert not place.on_loop()
    clock.now += BACKOFF_S
    assert place.on_loop()


def test_commits_made_slow_by_a_busy_cpu_stay_on_the_loop() -> None:
    clock = Clock()
    place = placement(clock)
    for i in range(1000):  # every other commit waited 10 ms for a CPU after its fsync
        assert place.on_loop()
        place.took(0.0005 if i % 2 else 0.010)
        clock.now += 0.005  # the budget is taken at the commits' own time, 0.5 ms: 10%, under 20%


def test_the_back_off_is_bounded() -> None:
    clock = Clock()
    place = placement(clock)
    for _ in range(20):
        place.took(0.060)
        clock.now += MAX_BACKOFF_S
        assert place.on_loop()


def test_where_commits_ran_is_counted() -> None:
    place = placement(Clock())
    assert place.on_loop()
    place.took(0.060)
    assert not place.on_loop()
    assert (place.on_loop_commits, place.in_thread_commits) == (1, 1)


def test_commits_beyond_the_loops_share_go_to_the_threads_until_the_budget_refills() -> None:
    clock = Clock()
    place = placement(clock)

    def back_to_back() -> int:  # loop commits of 1 ms with no time passing, until the budget is spent
        count = 0
        while place.on_loop():
            place.took(0.001)
            count += 1
        return count

    assert back_to_back() in (100, 101)  # what was saved up: 0.1 s
    assert not place.on_loop()
    clock.now += 0.05  # refills 0.01 s at 20%: ten more
    assert back_to_back() in (10, 11)
    clock.now += 60.0  # saved up again, but no more than 0.1 s
    assert back_to_back() in (100, 101)


def test_a_server_that_does_not_allow_the_loop_commits_every_small_group_in_a_thread() -> None:
    place = placement(Clock())
    place.allow_loop(False)  # --small-commits thread
    assert not place.on_loop() and not place.on_loop()
    place.allow_loop(True)
    assert place.on_loop()
    assert (place.on_loop_commits, place.in_thread_commits) == (1, 2)


def test_no_share_means_every_commit_in_a_thread() -> None:
    assert not CommitPlacement(share=0.0).on_loop()


@pytest.mark.parametrize(
    "kwargs",
    [{"slow_s": -1.0}, {"slow_s": 0.1, "stall_s": 0.01}, {"share": 1.5}, {"share": -0.1}, {"window_s": 0.0}],
    ids=str,
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        CommitPlacement(**kwargs)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.0, 0.05), st.floats(0.0, 0.08)),  # (time before the next group, its commit)
        min_size=1,
        max_size=400,
    )
)
def test_the_loops_own_time_in_commits_stays_within_its_budget_and_no_commit_follows_a_stall(
    steps: list[tuple[float, float]],
) -> None:
    clock = Clock()
    start = clock.now
    place = placement(clock)
    recent: list[float] = []
    spent = 0.0
    stalled_until = float("-inf")
    for gap, duration in steps:
        clock.now += gap
        if not place.on_loop():
            continue
        assert clock.now >= stalled_until, "a loop commit within the back-off after a stall"
        clock.now += duration
        place.took(duration)
        recent = [*recent[-(WINDOW - 1) :], duration]
        own = min(recent)
        spent += own
        if duration > 0.05:
            stalled_until, recent = clock.now + BACKOFF_S, []
        elif len(recent) == WINDOW and own > 0.002:
            recent = []
        # What was saved up, what refilled since, and the one commit that may overdraw it.
        assert spent <= 0.1 + 0.2 * (clock.now - start) + own + 1e-9
