"""Finding the active master (regent.discovery), without I/O: which masters are asked, in which order, and
what is learned for the next round."""

from __future__ import annotations

from regent.discovery import Discovery, KnownMasters, MasterAnswer, redirect

A, B, C = "h:1", "h:2", "h:3"


def _backup(names: str, *masters: str) -> MasterAnswer:
    return MasterAnswer(active=False, active_master=names, masters=masters)


def test_a_backup_that_names_the_active_master_is_followed_and_the_others_are_learned() -> None:
    known = KnownMasters([B])
    discovery = Discovery(known)
    assert discovery.first() == [B]
    assert discovery.answered(B, _backup(A, A, B, C)) == [A, C]
    assert not discovery.done
    assert discovery.answered(A, MasterAnswer(active=True, active_master=A, masters=(A, B, C))) == []
    assert discovery.done and discovery.finish() == A
    assert known.all == (B, A, C)  # the configured one first


def test_a_round_where_nobody_answers_keeps_what_was_learned() -> None:
    known = KnownMasters([A])
    known.learn([A, B])
    discovery = Discovery(known)
    assert discovery.first() == [A, B]
    discovery.failed(A, "UNAVAILABLE")
    discovery.failed(B, "UNAVAILABLE")
    assert discovery.done and discovery.finish() is None
    assert known.all == (A, B)
    assert discovery.problems == {A: "UNAVAILABLE", B: "UNAVAILABLE"}


def test_a_dead_master_left_out_of_the_answers_is_forgotten_unless_configured() -> None:
    known = KnownMasters([A])
    known.learn([A, B, C])
    discovery = Discovery(known)
    discovery.first()
    discovery.failed(A, "UNAVAILABLE")
    discovery.answered(C, _backup("", B, C))
    discovery.answered(B, MasterAnswer(active=True, active_master=B, masters=(B, C)))
    assert discovery.finish() == B
    assert known.all == (A, B, C)  # A was given: kept; had it been learned, it would be gone
    discovery = Discovery(known)
    discovery.first()
    discovery.answered(B, MasterAnswer(active=True, active_master=B, masters=(B,)))
    discovery.finish()
    assert known.all == (A, B)


def test_masters_that_name_each_other_end_the_round_without_an_active_one() -> None:
    discovery = Discovery(KnownMasters([A]))
    discovery.first()
    assert discovery.answered(A, _backup(B)) == [B]
    assert discovery.answered(B, _backup(A)) == []  # A was asked already
    assert discovery.done and discovery.finish() is None


def test_a_redirect_to_the_master_asked_is_no_redirect() -> None:
    assert redirect([("regent-error", "NotActiveMaster"), ("regent-active-master", B)], A) == B
    assert redirect([("regent-active-master", A)], A) is None
    assert redirect(None, A) is None
