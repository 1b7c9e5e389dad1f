"""The reports API's contract where no call is needed: each report answers its rows for a
period, every figure has a definition, and a bad period is refused naming the parameter.
(The figures themselves: tests/store/test_reports.py; over real calls:
tests/integration/test_reports_calls.py.)"""

from __future__ import annotations

from parley.kpi import DEFINITIONS

from .conftest import Api

PERIOD = {"from": "2026-12-01T08:07:00+03:00", "to": "2026-12-01T18:00:00Z"}


def test_reports_answer_rows_and_refuse_bad_periods_by_name(api: Api) -> None:
    with api.client("supervisor") as client:
        for name in ("queues", "operators", "teams", "trunks", "numbers", "campaigns",
                     "results"):
            response = client.get(f"/api/reports/{name}", params=PERIOD)
            assert response.status_code == 200, response.text
            assert response.json() == {"from": "2026-12-01T05:07:00+00:00",
                                       "to": "2026-12-01T18:00:00+00:00", "rows": []}
        definitions = client.get("/api/reports/definitions").json()
        assert definitions == DEFINITIONS
        assert {"offered", "answered", "abandoned", "abandoned_short", "service_level",
                "asa_s", "aht_s", "occupancy", "contact_rate", "erlangs"} <= set(definitions)
        for params, message in (
                ({"from": PERIOD["to"], "to": PERIOD["from"]}, "to: must come after from"),
                ({"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
                 "to: a report covers at most 400 days"),
                ({"from": "1970-01-01T00:00:00Z", "to": "1970-01-02T00:00:00Z"},
                 "from: must be between the years 2000 and 2200")):
            response = client.get("/api/reports/queues", params=params)
            assert response.status_code == 422
            assert response.json()["detail"] == message
        missing = client.get("/api/reports/queues", params={"from": PERIOD["from"]})
        assert missing.status_code == 422
        assert missing.json()["detail"][0]["loc"] == ["query", "to"]
    with api.client("agent") as client:
        assert client.get("/api/reports/queues", params=PERIOD).status_code == 403
        assert client.get("/api/reports/intervals", params=PERIOD).status_code == 404

