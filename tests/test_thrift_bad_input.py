"""Bad Thrift input, sent with raw sockets to real gateway processes: garbage, truncated, oversized and
malformed frames, huge announced lengths, stalls, unknown methods, wrong argument types, too many
connections, and a client that vanishes mid-scan. Each time the gateway answers with a Thrift error or
closes that connection only; it stays up, other clients are unaffected, and no scanner is left behind."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import happybase
import Hbase_thrift as hb
import pytest
from thriftpy2.thrift import TApplicationException, TMessageType

from tests.cluster import Cluster, module_cluster, wait_until
from tests.thrift_gateway import Gateway, gateway_for
from tests.thrift_wire import (
    binary_call,
    closed_by_peer,
    connect,
    encode,
    framed,
    i32_field,
    read_reply,
    reply_of,
    string_field,
)

pytestmark = pytest.mark.timeout(120)

LIMITS = ["--max-message-bytes", "100000", "--message-timeout", "1", "--max-connections", "8"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with module_cluster(tmp_path_factory, servers=1) as made:
        yield made


@pytest.fixture(scope="module")
def buffered(cluster: Cluster) -> Gateway:
    return gateway_for(cluster, extra_args=LIMITS)


@pytest.fixture(scope="module")
def framed_compact(cluster: Cluster) -> Gateway:
    return gateway_for(cluster, transport="framed", protocol="compact", extra_args=LIMITS)


@pytest.fixture(scope="module")
def table(buffered: Gateway) -> bytes:
    conn = buffered.connect()
    conn.create_table("bad_input", {"cf": {}})
    with conn.table("bad_input").batch() as b:
        for i in range(50):
            b.put(b"r%02d" % i, {b"cf:c": b"v"})
    conn.close()
    return b"bad_input"


def still_serving(*gateways: Gateway) -> None:
    """Each gateway is alive and answers an ordinary happybase call on a new connection."""
    for gateway in gateways:
        assert gateway.daemon.alive, gateway.daemon.log_tail()
        conn = gateway.connect()
        try:
            assert b"bad_input" in conn.tables()
        finally:
            conn.close()


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff" * 64,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x00" * 64,
        struct.pack(">I", 0x80010001) + struct.pack(">i", -5) + b"x",  # a negative method name length
        binary_call("getRow", string_field(1, b"bad_input") + string_field(2, b"", length=-7)),
    ],
    ids=["ff-bytes", "http", "zeros", "negative-name", "negative-string"],
)
def test_garbage_closes_that_connection_only(
    buffered: Gateway, framed_compact: Gateway, table: bytes, payload: bytes
) -> None:
    bystander = buffered.connect()
    for gateway in (buffered, framed_compact):
        with connect(gateway.port) as sock:
            sock.sendall(payload)
            assert closed_by_peer(sock)
    assert bystander.table(table).row(b"r01") == {b"cf:c": b"v"}  # its connection was not disturbed
    bystander.close()
    still_serving(buffered, framed_compact)


def test_frames_announcing_no_bytes_or_too_many_are_refused(framed_compact: Gateway, table: bytes) -> None:
    for size in (0, -1, 100001, 2**31 - 1):
        with connect(framed_compact.port) as sock:
            sock.sendall(struct.pack(">i", size) + b"abcd")
            assert closed_by_peer(sock)
    assert framed_compact.daemon.has_event("connection_dropped")
    still_serving(framed_compact)


def test_a_huge_announced_string_is_cut_off_at_the_message_limit(buffered: Gateway, table: bytes) -> None:
    header = binary_call("getRow", string_field(1, table) + string_field(2, b"", length=2**31 - 1))[:-1]
    with connect(buffered.port) as sock:
        sock.sendall(header)
        try:
            for _ in range(20):  # 20 x 8 KiB > the 100,000-byte limit
                sock.sendall(b"x" * 8192)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while we were still sending: what we wanted
        assert closed_by_peer(sock)
    still_serving(buffered)


def test_truncated_messages_and_stalls_free_their_connection(
    buffered: Gateway, framed_compact: Gateway, table: bytes
) -> None:
    whole = encode("getRow", hb.Hbase.getRow_args(tableName=table, row=b"r01", attributes={}))
    with connect(buffered.port) as sock:
        sock.sendall(whole[: len(whole) // 2])  # and then nothing: the message timeout (1 s) closes it
        assert closed_by_peer(sock)
    with connect(framed_compact.port) as sock:
        compact = encode("getRow", hb.Hbase.getRow_args(tableName=table, row=b"r01"), compact=True)
        sock.sendall(framed(compact)[:5])
        assert closed_by_peer(sock)
    for gateway in (buffered, framed_compact):
        with connect(gateway.port) as sock:
            sock.sendall(b"\x80\x01")  # half a header, then the client goes away
    still_serving(buffered, framed_compact)


def test_an_unknown_method_is_a_thrift_error_and_the_connection_stays(
    buffered: Gateway, table: bytes
) -> None:
    with connect(buffered.port) as sock:
        sock.sendall(binary_call("dropEverything", string_field(1, table)))
        kind, answer = reply_of(read_reply(sock), "getTableNames")
        assert kind == TMessageType.EXCEPTION
        assert isinstance(answer, TApplicationException)
        assert answer.type == TApplicationException.UNKNOWN_METHOD
        sock.sendall(encode("getTableNames", hb.Hbase.getTableNames_args(), seqid=2))
        kind, result = reply_of(read_reply(sock), "getTableNames")
        assert kind == TMessageType.REPLY and table in result.success


def test_wrong_argument_types_answer_a_declared_error(framed_compact: Gateway, table: bytes) -> None:
    # getRow with tableName sent as an i32: Thrift skips the field, the gateway says which is missing.
    with connect(framed_compact.port) as sock:
        call = hb.Hbase.getRow_args(tableName=None, row=b"r01", attributes={})
        sock.sendall(framed(encode("getRow", call, compact=True)))
        kind, result = reply_of(read_reply(sock, framed_reply=True), "getRow", compact=True)
        assert kind == TMessageType.REPLY
        assert "tableName is missing" in result.io.message
    conn = framed_compact.connect()
    try:
        with pytest.raises(hb.IllegalArgument, match="mutations must be a list"):
            conn.client.mutateRow(table, b"r", None, {})
        with pytest.raises(hb.IOError, match="numVersions is missing"):
            conn.client.getVer(table, b"r01", b"cf:c", None, {})
        with pytest.raises(hb.IllegalArgument, match="timestamp must be"):
            conn.client.mutateRowTs(table, b"r", [hb.Mutation(column=b"cf:c", value=b"v")], -5, {})
        assert conn.table(table).row(b"r01") == {b"cf:c": b"v"}
    finally:
        conn.close()


def test_an_i32_where_a_string_belongs(buffered: Gateway, table: bytes) -> None:
    with connect(buffered.port) as sock:
        sock.sendall(binary_call("getRow", i32_field(1, 7) + string_field(2, b"r01")))
        kind, result = reply_of(read_reply(sock), "getRow")
        assert kind == TMessageType.REPLY and "tableName is missing" in result.io.message


def test_connections_beyond_the_limit_are_closed_at_once(buffered: Gateway, table: bytes) -> None:
    idle = [connect(buffered.port) for _ in range(8)]
    try:
        wait_until(
            lambda: _refused(buffered.port), 10, "a connection beyond --max-connections 8 to be closed"
        )
    finally:
        for sock in idle:
            sock.close()
    wait_until(lambda: _served(buffered), 10, "the gateway to serve again once connections closed")


def _refused(port: int) -> bool:
    with connect(port, timeout=2.0) as sock:
        return closed_by_peer(sock)


def _served(gateway: Gateway) -> bool:
    try:
        still_serving(gateway)
    except Exception:
        return False
    return True


def test_a_client_that_vanishes_mid_scan_leaves_no_scanner(buffered: Gateway, table: bytes) -> None:
    vanishing = buffered.connect()
    scanner = vanishing.client.scannerOpen(table, b"", [], {})
    assert len(vanishing.client.scannerGetList(scanner, 5)) == 5
    vanishing.transport.close()  # gone, without scannerClose
    other = buffered.connect()
    try:

        def forgotten() -> bool:
            try:
                other.client.scannerGet(scanner)
            except hb.IllegalArgument:
                return True
            return False

        wait_until(forgotten, 10, f"scanner {scanner} to be closed with its connection")
        rows = list(other.table(table).scan())
        assert len(rows) == 50
    finally:
        other.close()
    still_serving(buffered)


def test_happybase_over_the_wrong_transport_fails_and_others_carry_on(
    framed_compact: Gateway, table: bytes
) -> None:
    wrong = happybase.Connection("127.0.0.1", framed_compact.port, timeout=5000)  # buffered binary
    with pytest.raises(Exception):  # noqa: B017 - whatever thriftpy2 raises for the closed socket
        wrong.tables()
    wrong.close()
    still_serving(framed_compact)
