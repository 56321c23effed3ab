"""Random sequences of DDL calls, valid and invalid, against a real local cluster match a simple model of
which tables and families exist, their settings and their states (the issue's stateful test).

One cluster (a master, two RegionServers) serves the whole module; each example starts by deleting every
table. The rules call the SDK (create, delete, truncate, enable, disable, modify_table, add/modify/delete
family); the model predicts whether each call succeeds and, if not, which named error it raises. Other
rules send requests the master must refuse itself (bad names, 0 or 10001 versions, a negative ttl,
unsorted or repeated split keys, repeated families...), straight over the connection so that the SDK's own
checks do not catch them first: each is refused with InvalidArgument and a message saying what is wrong.
After every refusal the tables the master describes and the procedures it has are unchanged. The
invariant compares list_tables and describe_table with the model after every step.

Bounded: 15 examples of at most 12 steps under hypothesis' default number of examples; a loaded profile
that asks for more examples (tests/conftest.py may load one) scales the 15 by the same factor.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from client.errors import (
    FamilyExists,
    FamilyNotFound,
    InvalidArgument,
    RegentError,
    TableExists,
    TableNotDisabled,
    TableNotEnabled,
    TableNotFound,
)
from meta import ColumnFamily, TableSettings, TableState
from regent.proto import common_pb2, master_pb2
from tests.cluster import Cluster, module_cluster

CALL_TIMEOUT_S = 60.0
TABLES = ("t0", "t1")
FAMILIES = ("a", "b", "c")
#: Hypothesis' default max_examples: a profile asking for k times as many scales this test's by k.
_DEFAULT_EXAMPLES = 100
EXAMPLES = max(1, 15 * settings.default.max_examples // _DEFAULT_EXAMPLES)
STEPS = 12


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with module_cluster(tmp_path_factory, servers=2) as made:
        yield made


# ---- the model ----


@dataclass
class ModelTable:
    families: list[ColumnFamily]
    settings: TableSettings
    regions: int
    state: TableState = TableState.ENABLED

    def family(self, name: str) -> ColumnFamily | None:
        return next((f for f in self.families if f.name == name), None)


# ---- strategies ----

families_st = st.builds(
    lambda name, versions, min_share, ttl: ColumnFamily(
        name, max_versions=versions, min_versions=versions * min_share // 4, ttl=ttl
    ),
    st.sampled_from(FAMILIES),
    st.integers(1, 5),
    st.integers(0, 4),
    st.none() | st.integers(1, 10**6),
)
settings_st = st.builds(
    TableSettings,
    max_region_size=st.none() | st.sampled_from([1 << 20, 1 << 30]),
    split_enabled=st.booleans(),
    merge_enabled=st.booleans(),
    normalization_enabled=st.booleans(),
)
split_keys_st = st.lists(st.binary(min_size=1, max_size=2), max_size=3, unique=True).map(sorted)


def _family_pb(name: str, **fields: Any) -> common_pb2.ColumnFamily:
    return common_pb2.ColumnFamily(name=name, **fields)


def _create(name: str = "ok", *families: common_pb2.ColumnFamily, **fields: Any) -> Callable[[str], Any]:
    return lambda _: master_pb2.CreateTableRequest(
        name=name, families=families or [_family_pb("a")], **fields
    )


#: Requests the master must refuse as InvalidArgument: (method, the request for table `t`, a regex of what
#: the message says).
INVALID: list[tuple[str, Callable[[str], Any], str]] = [
    ("CreateTable", _create("bad name"), "name"),
    ("CreateTable", _create(".dot"), "name"),
    ("CreateTable", _create("x" * 300), "name"),
    ("CreateTable", _create(""), "name"),
    ("CreateTable", _create("ok", _family_pb("b/ad")), "name"),
    ("CreateTable", lambda _: master_pb2.CreateTableRequest(name="ok"), "family"),
    ("CreateTable", _create("ok", _family_pb("a", max_versions=0)), "max_versions"),
    ("CreateTable", _create("ok", _family_pb("a", max_versions=10001)), "max_versions"),
    ("CreateTable", _create("ok", _family_pb("a", max_versions=2, min_versions=3)), "min_versions"),
    ("CreateTable", _create("ok", _family_pb("a", ttl_seconds=-5)), "ttl"),
    ("CreateTable", _create("ok", _family_pb("a"), _family_pb("a")), "repeat"),
    ("CreateTable", _create(split_keys=[b"b", b"a"]), "strictly increasing"),
    ("CreateTable", _create(split_keys=[b"a", b"a"]), "strictly increasing"),
    ("CreateTable", _create(split_keys=[b""]), "empty"),
    ("CreateTable", _create(split_keys=[b"a"], num_regions=3), "not both"),
    ("AddFamily", lambda t: master_pb2.FamilyRequest(table=t, family=_family_pb("d", max_versions=0)),
     "max_versions"),
    ("AddFamily", lambda t: master_pb2.FamilyRequest(table=t, family=_family_pb("d", ttl_seconds=-1)), "ttl"),
    ("ModifyFamily", lambda t: master_pb2.FamilyRequest(table=t, family=_family_pb("a", max_versions=10001)),
     "max_versions"),
    ("DeleteFamily", lambda t: master_pb2.DeleteFamilyRequest(table=t, family="no such!"), "name"),
    ("ModifyTable", lambda t: master_pb2.ModifyTableRequest(name=t, families=[_family_pb("a")] * 2),
     "repeat"),
    ("ModifyTable", lambda t: master_pb2.ModifyTableRequest(name=t), "family"),
    ("DisableTable", lambda _: master_pb2.TableRequest(name="-dash"), "name"),
]  # fmt: skip


# ---- the machine ----


class DDLMachine(RuleBasedStateMachine):
    def __init__(self, cluster: Cluster) -> None:
        super().__init__()
        self.cluster = cluster
        self.admin = cluster.admin
        self.model: dict[str, ModelTable] = {}
        for table in self.admin.list_tables(timeout=CALL_TIMEOUT_S):  # the previous example's
            if table.state is not TableState.DISABLED:
                self.admin.disable_table(table.name, timeout=CALL_TIMEOUT_S)
            self.admin.delete_table(table.name, timeout=CALL_TIMEOUT_S)

    # ---- helpers ----

    def _snapshot(self) -> tuple[Any, ...]:
        tables = self.admin.list_tables(timeout=CALL_TIMEOUT_S)
        regions = {t.name: self.admin.table_regions(t.name, timeout=CALL_TIMEOUT_S) for t in tables}
        procedures = sorted(p.proc_id for p in self.admin.list_procedures() if p.region_id is None)
        return tables, regions, procedures

    def _expect(self, error: type[Exception] | None, call: Callable[[], Any], what: str) -> Any:
        """Run `call`; it must succeed (error None) or raise `error` having changed nothing."""
        event(f"{what.split()[0]}: {error.__name__ if error else 'ok'}")
        if error is None:
            return call()
        before = self._snapshot()
        with pytest.raises(error) as raised:
            call()
        assert str(raised.value), f"{what}: {error.__name__} without a message"
        after = self._snapshot()
        assert after == before, f"{what} was refused ({raised.value}) but changed the cluster"
        return None

    def _missing_or(self, name: str, state_needed: TableState | None = None) -> type[RegentError] | None:
        table = self.model.get(name)
        if table is None:
            return TableNotFound
        if state_needed is TableState.DISABLED and table.state is not TableState.DISABLED:
            return TableNotDisabled
        if state_needed is TableState.ENABLED and table.state is not TableState.ENABLED:
            return TableNotEnabled
        return None

    # ---- tables ----

    @initialize(
        families=st.lists(families_st, min_size=1, max_size=3, unique_by=lambda f: f.name),
        table_settings=settings_st,
        split_keys=split_keys_st,
    )
    def a_first_table(
        self, families: list[ColumnFamily], table_settings: TableSettings, split_keys: list[bytes]
    ) -> None:
        """Every example starts with a table, so that most calls have one to act on."""
        self.create_table(TABLES[0], families, table_settings, split_keys, None)

    @rule(
        name=st.sampled_from(TABLES),
        families=st.lists(families_st, min_size=1, max_size=3, unique_by=lambda f: f.name),
        table_settings=settings_st,
        split_keys=split_keys_st,
        num_regions=st.none() | st.integers(1, 4),
    )
    def create_table(
        self,
        name: str,
        families: list[ColumnFamily],
        table_settings: TableSettings,
        split_keys: list[bytes],
        num_regions: int | None,
    ) -> None:
        by_keys = num_regions is None
        expected = TableExists if name in self.model else None
        regions = self._expect(
            expected,
            lambda: self.admin.create_table(
                name,
                families,
                settings=table_settings,
                split_keys=split_keys if by_keys else None,
                num_regions=num_regions,
                timeout=CALL_TIMEOUT_S,
            ),
            f"create_table {name}",
        )
        if expected is None:
            count = len(split_keys) + 1 if by_keys else num_regions
            assert regions == count
            self.model[name] = ModelTable(list(families), table_settings, count)

    @rule(name=st.sampled_from(TABLES))
    def delete_table(self, name: str) -> None:
        expected = self._missing_or(name, TableState.DISABLED)
        self._expect(
            expected, lambda: self.admin.delete_table(name, timeout=CALL_TIMEOUT_S), f"delete {name}"
        )
        if expected is None:
            del self.model[name]

    @rule(name=st.sampled_from(TABLES))
    def disable_table(self, name: str) -> None:
        expected = self._missing_or(name, TableState.ENABLED)
        self._expect(
            expected, lambda: self.admin.disable_table(name, timeout=CALL_TIMEOUT_S), f"disable {name}"
        )
        if expected is None:
            self.model[name].state = TableState.DISABLED

    @rule(name=st.sampled_from(TABLES))
    def enable_table(self, name: str) -> None:
        expected = self._missing_or(name, TableState.DISABLED)
        self._expect(
            expected, lambda: self.admin.enable_table(name, timeout=CALL_TIMEOUT_S), f"enable {name}"
        )
        if expected is None:
            self.model[name].state = TableState.ENABLED

    @rule(name=st.sampled_from(TABLES), preserve_splits=st.booleans())
    def truncate_table(self, name: str, preserve_splits: bool) -> None:
        expected = self._missing_or(name, TableState.DISABLED)
        self._expect(
            expected,
            lambda: self.admin.truncate_table(name, preserve_splits=preserve_splits, timeout=CALL_TIMEOUT_S),
            f"truncate {name}",
        )
        if expected is None:
            table = self.model[name]
            table.state = TableState.ENABLED
            table.regions = table.regions if preserve_splits else 1

    @rule(
        name=st.sampled_from(TABLES),
        table_settings=st.none() | settings_st,
        families=st.none() | st.lists(families_st, min_size=1, max_size=3, unique_by=lambda f: f.name),
    )
    def modify_table(
        self, name: str, table_settings: TableSettings | None, families: list[ColumnFamily] | None
    ) -> None:
        expected = self._missing_or(name)
        self._expect(
            expected,
            lambda: self.admin.modify_table(
                name, families=families, settings=table_settings, timeout=CALL_TIMEOUT_S
            ),
            f"modify_table {name}",
        )
        if expected is None:
            table = self.model[name]
            table.families = list(families) if families is not None else table.families
            table.settings = table_settings if table_settings is not None else table.settings

    # ---- families ----

    @rule(name=st.sampled_from(TABLES), family=families_st)
    def add_family(self, name: str, family: ColumnFamily) -> None:
        table = self.model.get(name)
        expected = self._missing_or(name) or (FamilyExists if table and table.family(family.name) else None)
        self._expect(
            expected, lambda: self.admin.add_family(name, family, timeout=CALL_TIMEOUT_S), f"add {family}"
        )
        if table is not None and expected is None:
            table.families.append(family)

    @rule(name=st.sampled_from(TABLES), family=families_st)
    def modify_family(self, name: str, family: ColumnFamily) -> None:
        table = self.model.get(name)
        expected = self._missing_or(name) or (None if table and table.family(family.name) else FamilyNotFound)
        self._expect(
            expected,
            lambda: self.admin.modify_family(name, family, timeout=CALL_TIMEOUT_S),
            f"modify {family}",
        )
        if table is not None and expected is None:
            index = [f.name for f in table.families].index(family.name)
            table.families[index] = family

    @rule(name=st.sampled_from(TABLES), versions=st.integers(1, 5))
    def modify_family_by_keyword(self, name: str, versions: int) -> None:
        """modify_family by name changes the given setting and keeps the others."""
        table = self.model.get(name)
        family = table.families[0].name if table else "a"
        expected: type[Exception] | None = self._missing_or(name)
        if table is not None and table.families[0].min_versions > versions:
            expected = ValueError  # the SDK's: the family it would send keeps min_versions above max
        self._expect(
            expected,
            lambda: self.admin.modify_family(name, family, max_versions=versions, timeout=CALL_TIMEOUT_S),
            f"modify {family} of {name} to {versions} versions",
        )
        if table is not None and expected is None:
            table.families[0] = dataclasses.replace(table.families[0], max_versions=versions)

    @rule(name=st.sampled_from(TABLES), family=st.sampled_from(FAMILIES))
    def delete_family(self, name: str, family: str) -> None:
        table = self.model.get(name)
        expected = self._missing_or(name)
        if table is not None and expected is None:
            if table.family(family) is None:
                expected = FamilyNotFound
            elif len(table.families) == 1:
                expected = InvalidArgument
        self._expect(
            expected,
            lambda: self.admin.delete_family(name, family, timeout=CALL_TIMEOUT_S),
            f"delete family {family} of {name}",
        )
        if table is not None and expected is None:
            table.families = [f for f in table.families if f.name != family]

    # ---- what the master must refuse itself ----

    @rule(case=st.sampled_from(INVALID), name=st.sampled_from(TABLES))
    def invalid_request(self, case: tuple[str, Callable[[str], Any], str], name: str) -> None:
        method, build, phrase = case
        request = build(name)
        conn = self.admin._conn  # the SDK's own checks would refuse these before the master sees them
        before = self._snapshot()
        with pytest.raises(RegentError) as raised:
            conn._call(method, request, CALL_TIMEOUT_S)
        error = raised.value
        # A request about a table that does not exist may be refused for that first: also a refusal.
        if not (isinstance(error, TableNotFound) and name not in self.model and method != "CreateTable"):
            assert isinstance(error, InvalidArgument), f"{method} {request}: {error!r}"
            assert re.search(phrase, str(error), re.IGNORECASE), f"{method}: {error} does not say {phrase!r}"
        assert self._snapshot() == before, f"refused {method} changed the cluster: {error}"

    @rule(name=st.sampled_from(TABLES), versions=st.sampled_from([0, 10001, -1]))
    def sdk_refuses_bad_versions_before_sending(self, name: str, versions: int) -> None:
        with pytest.raises(ValueError, match="max_versions"):
            self.admin.add_family(name, "d", max_versions=versions, timeout=CALL_TIMEOUT_S)

    # ---- what the master says matches the model ----

    @invariant()
    def tables_match_the_model(self) -> None:
        listed = self.admin.list_tables(timeout=CALL_TIMEOUT_S)
        assert [t.name for t in listed] == sorted(self.model), (listed, self.model)
        for described in listed:
            table = self.model[described.name]
            assert list(described.families) == table.families, (described, table)
            assert described.settings == table.settings, (described, table)
            assert described.state is table.state, (described, table)
            assert described.regions == table.regions, (described, table)
            settled_state = "OPEN" if table.state is TableState.ENABLED else "CLOSED"
            assert described.regions_by_state == {settled_state: table.regions}, (described, table)
            assert described.locked_by == 0, described
        for name in TABLES:
            if name not in self.model:
                with pytest.raises(TableNotFound, match=name):
                    self.admin.describe_table(name, timeout=CALL_TIMEOUT_S)
            else:
                assert self.admin.describe_table(name, timeout=CALL_TIMEOUT_S) == next(
                    t for t in listed if t.name == name
                )


@pytest.mark.parametrize(
    ("examples", "steps"),
    [
        (EXAMPLES, STEPS),
        pytest.param(EXAMPLES * 10, STEPS * 3, marks=[pytest.mark.slow, pytest.mark.timeout(900)]),
    ],
)
def test_random_ddl_sequences_match_a_model_of_tables_families_and_states(
    cluster: Cluster, examples: int, steps: int
) -> None:
    run_state_machine_as_test(
        lambda: DDLMachine(cluster),
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
