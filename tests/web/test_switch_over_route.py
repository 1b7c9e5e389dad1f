"""``POST /api/cluster/switch-over`` on a node that is not one of a hot-standby cluster: the
admin is told why, nothing stops. (The switch-over itself, two nodes and a call carried on:
tests/integration/test_call_carried.py.)"""

from __future__ import annotations

from .conftest import Api


def test_a_single_node_refuses_a_switch_over_and_says_why(api: Api) -> None:
    with api.client("admin") as admin:
        answer = admin.post("/api/cluster/switch-over")
        assert answer.status_code == 409
        assert answer.json() == {"detail": "this node is not one of a hot-standby cluster"}
        assert admin.get("/api/health").status_code == 200  # still serving
    with api.client("supervisor") as supervisor:
        assert supervisor.post("/api/cluster/switch-over").status_code == 403
