"""regent.verify.serving without a cluster: which sequences of answers prove a double service, and how the
watch samples (each double service reported once, silent servers asked less often)."""

from __future__ import annotations

import itertools

from regent.verify.serving import SILENT_BACKOFF_S, Observation, ServingWatch, doubly_served


def obs(server: str, at: float, **regions: int) -> Observation:
    return Observation(server, at, {int(k[1:]): v for k, v in regions.items()})


def test_a_steady_hold_with_another_servers_listing_in_between_is_a_double_service() -> None:
    found = doubly_served([obs("a", 1, r7=3), obs("b", 2, r7=4), obs("a", 3, r7=3)])
    assert [(d.region_id, d.server, d.other, d.at, d.open_seq_num, d.other_open_seq_num) for d in found] == [
        (7, "a", "b", 2, 3, 4)
    ]
    assert "region 7" in str(found[0]) and found[0].to_json()["servers"] == ["a", "b"]


def test_a_move_seen_half_before_and_half_after_is_not() -> None:
    # a closes r7, b opens it: a's two answers do not both hold it, or hold it under another open.
    assert not doubly_served([obs("a", 1, r7=3), obs("b", 2, r7=4), obs("a", 3)])
    assert not doubly_served([obs("a", 1, r7=3), obs("b", 2, r7=4), obs("a", 3, r7=5)])
    assert not doubly_served([obs("b", 1, r7=4), obs("a", 2, r7=3)])


class FakeServers:
    """Answers scripted per server and round; None is a server that does not answer."""

    def __init__(self, script: dict[str, list[dict[int, int] | None]]) -> None:
        self.script = {k: iter(v) for k, v in script.items()}
        self.asked: list[str] = []

    def __call__(self, address: str) -> dict[int, int] | None:
        self.asked.append(address)
        return next(self.script[address], {})


def test_the_watch_reports_each_double_service_once() -> None:
    probe = FakeServers({"a": [{7: 3}] * 6, "b": [{7: 4}] * 6})
    watch = ServingWatch(lambda: ["a", "b"], probe, clock=itertools.count().__next__)
    first = watch.sample() + watch.sample()
    later = watch.sample() + watch.sample()
    assert [d.region_id for d in first] == [7, 7]  # a steady around b's listing, and b around a's
    assert later == [] and len(watch.found) == 2 and watch.answers == 8 and watch.rounds == 4


def test_a_silent_server_is_asked_again_only_after_a_backoff() -> None:
    now = [0.0]
    probe = FakeServers({"a": [{1: 1}] * 10, "b": [None] * 10})
    watch = ServingWatch(lambda: ["a", "b"], probe, monotonic=lambda: now[0])
    watch.sample()
    watch.sample()
    assert probe.asked == ["a", "b", "a"]
    now[0] += SILENT_BACKOFF_S
    watch.sample()
    assert probe.asked[-2:] == ["a", "b"] and watch.answers == 3 and not watch.found


def test_a_server_that_stops_during_a_probe_is_no_answer_not_an_error() -> None:
    # A RegionServer that exits (declared dead, killed) while a GetOnlineRegions is in flight cancels the
    # call: CANCELLED. The long chaos run's watch died of it once; it is a silent server, as UNAVAILABLE.
    from concurrent import futures

    import grpc

    from regent.transport import Transport
    from regent.verify.serving import OnlineProbe

    def cancel(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.abort(grpc.StatusCode.CANCELLED, "the server is stopping")
        raise AssertionError("unreachable")

    handler = grpc.method_handlers_generic_handler(
        "regent.v1.RegionServerAdmin", {"GetOnlineRegions": grpc.unary_unary_rpc_method_handler(cancel)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    probe = OnlineProbe(Transport(None), timeout=10.0)
    try:
        assert probe(f"127.0.0.1:{port}") is None
    finally:
        probe.close()
        server.stop(None)
