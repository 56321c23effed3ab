"""Who may call the master (the policy regent.authz enforces on every call; docs/security.md).

RegionServers (role node) report, with a certificate for the host they claim; operators (role admin) change
tables and regions; applications (role client) look things up. GetClusterInfo is open to every role: it is
how anyone finds the active master.
"""

from __future__ import annotations

from typing import Any

from regent.authz import ALL_ROLES, Rule, rule

MASTER = "/regent.v1.Master/"
STATUS = "/regent.v1.RegionServerStatus/"
HEALTH = "/grpc.health.v1.Health/"

#: Read-only calls: what an application needs to find its regions.
LOOKUPS = (
    "TableRegions",
    "GetRegion",
    "LocateRegions",
    "DescribeTable",
    "ListTables",
    "ClusterStatus",
    "GetProcedure",
    "ListProcedures",
    "BalancerStatus",
    "ListDecommissioned",
    "CatalogJanitorStatus",
    "RegionStory",
    "SplitMergeStatus",
    "NormalizerStatus",
)
#: Calls that change the cluster: DDL, region moves, procedure control.
ADMIN = (
    "CreateTable",
    "DeleteTable",
    "TruncateTable",
    "EnableTable",
    "DisableTable",
    "ModifyTable",
    "AddFamily",
    "ModifyFamily",
    "DeleteFamily",
    "Assign",
    "Unassign",
    "Move",
    "AbortProcedure",
    "Bypass",
    "Balance",
    "BalancerSwitch",
    "Decommission",
    "Recommission",
    "CatalogJanitorRun",
    "CatalogJanitorSwitch",
    "Hbck",
    "Split",
    "Merge",
    "SplitMergeSwitch",
    "Normalize",
    "NormalizerSwitch",
)


def _host(request: Any) -> str:
    return str(request.host)


def _server_host(request: Any) -> str:
    return str(request.server.host)


POLICY: dict[str, Rule] = {
    STATUS + "RegionServerStartup": rule("node", claimed_host=_host),
    STATUS + "RegionServerReport": rule("node", claimed_host=_server_host),
    STATUS + "ReportRegionStateTransition": rule("node", claimed_host=_server_host),
    STATUS + "RequestSplit": rule("node", claimed_host=_server_host),
    MASTER + "GetClusterInfo": Rule(ALL_ROLES),
    **{MASTER + m: rule("admin", "client") for m in LOOKUPS},
    **{MASTER + m: rule("admin") for m in ADMIN},
    HEALTH + "Check": Rule(ALL_ROLES),
}
