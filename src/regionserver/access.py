"""Who may call a RegionServer (the policy regent.authz enforces on every call; docs/security.md).

Orders come only from a master (role node); the list of online regions is for masters and operators; data
calls are for applications and operators.
"""

from __future__ import annotations

from regent.authz import ALL_ROLES, Rule, rule

ADMIN = "/regent.v1.RegionServerAdmin/"
REGION_DATA = "/regent.v1.RegionData/"
#: What applications call on a RegionServer (regent.v1.RegionData); Compact is for operators.
DATA_CALLS = ("Get", "Mutate", "Increment", "CheckAndPut", "OpenScanner", "ScannerNext", "CloseScanner")

POLICY: dict[str, Rule] = {
    ADMIN + "ExecuteProcedures": rule("node"),
    ADMIN + "GetOnlineRegions": rule("node", "admin"),
    # Split and merge support: the master asks where a region splits and how large its regions are.
    ADMIN + "SplitPoint": rule("node", "admin"),
    ADMIN + "RegionSizes": rule("node", "admin"),
    # Test hooks (refused unless REGENT_TEST_HOOKS=1): change what the server holds behind the master's back.
    ADMIN + "DropRegion": rule("admin"),
    ADMIN + "AdoptRegion": rule("admin"),
    **{REGION_DATA + m: rule("admin", "client") for m in DATA_CALLS},
    REGION_DATA + "Compact": rule("admin"),
    "/grpc.health.v1.Health/Check": Rule(ALL_ROLES),
}
