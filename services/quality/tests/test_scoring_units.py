"""Pure scoring rules against the spec's worked numbers (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from quality.methodology import appendix_for_list_code, structure_tables
from quality.scoring import data_score, kpi_gap, steward_score, timeliness
from quality.validate import BIT, DATE, DMY, INT, NUM, STR, classify, sniff_delimiter


def test_timeliness_worked_example() -> None:
    now = datetime(2026, 11, 26, tzinfo=UTC)
    t, timely, due = timeliness("monthly", now - timedelta(days=40), now)
    assert (t, timely) == (99.8, False)  # spec §5.13: 4 days late, x = 0.129, K = 2
    assert due == now - timedelta(days=4)
    assert timeliness("monthly", now - timedelta(days=30), now)[1] is True
    assert timeliness("on_change", now - timedelta(days=400), now)[1] is False


def test_resource_data_score() -> None:
    rep = {
        "tabular": True,
        "fatal": False,
        "error_counts": {"type-error": 12},
        "err_rate": 0.006,
        "schema_source": "published",
    }
    assert data_score(rep) == 94.0  # spec §5.13
    assert data_score({**rep, "schema_source": "inferred"}) == 75.2
    assert data_score({**rep, "fatal": True}) == 0.0


def test_steward_formula_and_gap() -> None:
    s = steward_score(
        n_req=4,
        n_pub=2,
        n_all=3,
        compliant=2,
        mean_dqi=80,
        city_dqi=70,
        tm=1,
        r=1,
        has_responsible=True,
    )
    q = (3 * 0.8 + 3 * 0.7) / 6
    assert s["score"] == round(100 * (0.25 * 0.5 + 0.3 * 2 / 3 + 0.25 * q + 0.2), 1)
    assert kpi_gap(20, 16) == 1 and kpi_gap(20, 17) == 0


def test_list_code_mapping_and_classes() -> None:
    assert appendix_for_list_code("ALL-1") == "2" and appendix_for_list_code("LSG-10") == "27"
    assert structure_tables("LSG-10")[0]["table"] == "stops"
    assert [
        classify(v)
        for v in ("12", "1", "-3", "2.5", "2024-02-30", "2024-02-29", "01.02.2024", "м’ясо")
    ] == [INT, BIT, INT, NUM, STR, DATE, DMY, STR]
    assert sniff_delimiter("a;b;c\n1;2,5;3\n4;5;6\n") == ";"


def test_responsiveness_from_feedback_statistics() -> None:
    from quality.monitoring import compute_ratings, responsiveness

    a, b, c = (
        "00000000-0000-0000-0000-00000000000a",
        "00000000-0000-0000-0000-00000000000b",
        "00000000-0000-0000-0000-00000000000c",
    )
    feedback = {a: {"on_time_share": 0.25, "total": 5}, b: {"on_time_share": None, "total": 1}}
    assert responsiveness(feedback, a) == (0.25, "feedback")
    assert responsiveness(feedback, b) == (1.0, "no-feedback")  # nothing answered or overdue yet
    assert responsiveness(feedback, c) == (1.0, "no-feedback")
    assert responsiveness(None, a) == (1.0, "unavailable")
    state = {
        "datasets": [{"dqi": 80.0}] * 3,
        "orgs": {a: {"n_all": 3, "compliant": 3, "timely": 3, "dqi_sum": 240.0}},
    }
    kw = {
        "weekly_states": [],
        "orgs": {a: {"responsible_persons": [{"name": "Олена Коваль"}]}},
        "req_pub": {},
    }
    with_r = compute_ratings(state, feedback=feedback, **kw)[0]
    without = compute_ratings(state, feedback=None, **kw)[0]
    # R weighs 0.10: a quarter of reports answered on time costs 100 * 0.1 * 0.75 = 7.5 points
    assert (with_r["r"], with_r["r_source"], without["r_source"]) == (
        0.25,
        "feedback",
        "unavailable",
    )
    assert round(without["score"] - with_r["score"], 1) == 7.5
    assert without["score"] == 95.0  # Q = 0.8 with the city mean 0.8
