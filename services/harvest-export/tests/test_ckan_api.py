"""Every action through ckanapi's RemoteCKAN (POST and get_only=True), and CKAN's error bodies."""

from __future__ import annotations

import asyncio
import json

import ckanapi
import pytest
import requests

pytestmark = pytest.mark.asyncio(loop_scope="session")


def run_all_actions(url: str, get_only: bool, sample: dict) -> dict:
    ua = "ckanapi-test/4 (get)" if get_only else "ckanapi-test/4 (post)"
    ckan = ckanapi.RemoteCKAN(url, user_agent=ua, get_only=get_only)
    out: dict = {}
    out["package_search"] = ckan.action.package_search(
        q="*:*",
        fq="res_format:CSV",
        rows=100,
        start=0,
        sort="id asc",
        **{
            "facet.field": json.dumps(
                ["organization", "tags", "res_format", "license_id", "groups"]
            )
        },
    )
    out["package_show"] = ckan.action.package_show(id=sample["id"])
    out["package_show_by_name"] = ckan.action.package_show(id=sample["name"])
    out["package_list"] = ckan.action.package_list(limit=1000)
    out["current_package_list_with_resources"] = ckan.action.current_package_list_with_resources(
        limit=5, offset=0
    )
    out["organization_list"] = ckan.action.organization_list()
    out["organization_list_all"] = ckan.action.organization_list(all_fields=True)
    out["organization_show"] = ckan.action.organization_show(id=sample["owner_org"])
    out["organization_show_by_name"] = ckan.action.organization_show(
        id=sample["organization"]["name"], include_datasets=True
    )
    out["group_list"] = ckan.action.group_list(all_fields=True)
    out["group_show"] = ckan.action.group_show(id=sample["groups"][0]["id"])
    out["tag_list"] = ckan.action.tag_list()
    out["license_list"] = ckan.action.license_list()
    out["resource_show"] = ckan.action.resource_show(id=sample["resources"][0]["id"])
    out["status_show"] = ckan.action.status_show()
    out["help_show"] = ckan.action.help_show(name="package_search")
    errors = {}
    try:
        ckan.action.package_show(id="zp-does-not-exist")
    except ckanapi.NotFound as exc:
        errors["not_found"] = exc
    try:
        ckan.action.package_show()
    except ckanapi.ValidationError as exc:
        errors["validation"] = exc
    try:
        ckan.action.package_create(name="zp-new", title="Нове")
    except ckanapi.NotAuthorized as exc:
        errors["not_authorized"] = exc
    try:
        ckan.action.package_search(sort="nonsense desc")
    except ckanapi.SearchQueryError as exc:
        errors["search_query"] = exc
    try:
        ckan.action.group_show(id=sample["owner_org"])  # an organization is not a group
    except ckanapi.NotFound as exc:
        errors["group_is_not_org"] = exc
    out["errors"] = errors
    return out


@pytest.mark.parametrize("get_only", [False, True], ids=["post", "get_only"])
async def test_ckanapi_every_action(hx, catalog350, get_only):
    sample = (await hx.action("package_show", id=catalog350["docs"][0]["id"])).json()["result"]
    out = await asyncio.to_thread(run_all_actions, hx.url, get_only, sample)

    search = out["package_search"]
    assert search["count"] >= 100 and len(search["results"]) == 100
    ids = [p["id"] for p in search["results"]]
    assert ids == sorted(ids)
    assert all("CSV" in {r["format"] for r in p["resources"]} for p in search["results"])
    assert set(search["facets"]) == {"organization", "tags", "res_format", "license_id", "groups"}
    assert search["facets"]["res_format"]["CSV"] == search["count"]
    org_items = search["search_facets"]["organization"]["items"]
    assert {i["display_name"] for i in org_items} == {catalog350["orgs"][0]["title"]}
    assert out["package_show"] == out["package_show_by_name"] == sample
    assert sample["name"] in out["package_list"]
    assert out["package_list"] == sorted(out["package_list"])
    recent = out["current_package_list_with_resources"]
    assert len(recent) == 5 and all("resources" in p for p in recent)
    assert [p["metadata_modified"] for p in recent] == sorted(
        (p["metadata_modified"] for p in recent), reverse=True
    )
    org_names = {o["name"] for o in catalog350["orgs"]}
    assert org_names <= set(out["organization_list"])
    full = {o["name"]: o for o in out["organization_list_all"]}
    assert full[sample["organization"]["name"]]["package_count"] >= 175
    assert out["organization_show"]["id"] == sample["owner_org"]
    assert out["organization_show"]["is_organization"] is True
    assert len(out["organization_show_by_name"]["packages"]) >= 175
    assert {g["name"] for g in out["group_list"]} >= {"econ", "tran", "heal"}
    assert out["group_show"]["name"] == sample["groups"][0]["name"]
    assert "мʼясо" in out["tag_list"]
    assert {lic["id"] for lic in out["license_list"]} >= {"cc-by", "other-open"}
    assert out["resource_show"] == sample["resources"][0]
    assert out["status_show"]["ckan_version"].startswith("2.")
    assert isinstance(out["help_show"], str)
    errors = out["errors"]
    assert set(errors) == {
        "not_found",
        "validation",
        "not_authorized",
        "search_query",
        "group_is_not_org",
    }
    assert errors["validation"].error_dict["name_or_id"] == ["Missing value"]


def raw(method: str, url: str, **kw) -> requests.Response:
    return requests.request(method, url, allow_redirects=False, timeout=30, **kw)


async def test_transport_envelope_and_errors(hx, catalog350):
    base = hx.url
    ds = catalog350["docs"][1]

    def calls() -> dict:
        r = {}
        r["v3"] = raw("GET", f"{base}/api/3/action/package_show?id={ds['id']}")
        r["noversion"] = raw("GET", f"{base}/api/action/package_show?id={ds['id']}")
        r["slash"] = raw("GET", f"{base}/api/3/action/package_show/?id={ds['id']}")
        r["double_slash"] = raw(
            "GET", f"{base}//api/3/action/organization_show?id={ds['organization_id']}"
        )
        r["post_json"] = raw(
            "POST", f"{base}/api/3/action/package_search", json={"fq": f"id:{ds['id']}", "rows": 1}
        )
        r["post_bad_json"] = raw(
            "POST",
            f"{base}/api/3/action/package_search",
            data="{nope",
            headers={"Content-Type": "application/json"},
        )
        r["post_list"] = raw("POST", f"{base}/api/3/action/package_search", json=[1, 2])
        r["unknown"] = raw("GET", f"{base}/api/3/action/package_frobnicate")
        r["write"] = raw("POST", f"{base}/api/3/action/package_update", json={"id": ds["id"]})
        r["rows_neg"] = raw("GET", f"{base}/api/3/action/package_search?rows=-1")
        r["rows_text"] = raw("GET", f"{base}/api/3/action/package_search?rows=багато")
        r["rows_huge"] = raw("GET", f"{base}/api/3/action/package_search?rows=5000&fl=id")
        r["past_end"] = raw("GET", f"{base}/api/3/action/package_search?start=100000&rows=100")
        r["bad_sort"] = raw("GET", f"{base}/api/3/action/package_search?sort=id+sideways")
        r["bad_fq"] = raw(
            "GET", f"{base}/api/3/action/package_search", params={"fq": "(organization:a"}
        )
        r["unknown_field"] = raw(
            "GET", f"{base}/api/3/action/package_search", params={"fq": "colour:red"}
        )
        r["bad_date"] = raw(
            "GET",
            f"{base}/api/3/action/package_search",
            params={"fq": "metadata_modified:[вчора TO *]"},
        )
        r["org_missing"] = raw("GET", f"{base}/api/3/action/organization_show?id=nobody-here")
        r["res_bad"] = raw("GET", f"{base}/api/3/action/resource_show?id=not-a-uuid")
        r["q_cyr"] = raw(
            "GET", f"{base}/api/3/action/package_search", params={"q": "пам’ятки", "rows": 1}
        )
        r["tags_q"] = raw(
            "GET", f"{base}/api/3/action/package_search", params={"fq": 'tags:"м\'ясо"', "rows": 0}
        )
        r["range_now"] = raw(
            "GET",
            f"{base}/api/3/action/package_search",
            params={"fq": "metadata_modified:[* TO NOW-1DAY]", "rows": 0},
        )
        r["neg_grouped"] = raw(
            "GET",
            f"{base}/api/3/action/package_search",
            params={"fq": f"-(organization:{ds['organization_name']} OR groups:tran)", "rows": 0},
        )
        return r

    r = await asyncio.to_thread(calls)
    expected_action = {
        "v3": "package_show",
        "noversion": "package_show",
        "slash": "package_show",
        "double_slash": "organization_show",
        "post_json": "package_search",
    }
    for key, action_name in expected_action.items():
        assert r[key].status_code == 200, (key, r[key].text[:300])
        assert r[key].headers["content-type"] == "application/json;charset=utf-8"
        body = r[key].json()
        assert body["success"] is True
        assert body["help"] == f"{base}/api/3/action/help_show?name={action_name}"
    # ASCII-escaped JSON: the Cyrillic survives any charset guess
    assert r["v3"].content.isascii()
    assert r["post_json"].json()["result"]["results"][0]["id"] == ds["id"]
    assert r["post_bad_json"].status_code == 400 and "JSON Error" in r["post_bad_json"].json()
    assert r["post_list"].status_code == 400
    assert r["unknown"].status_code == 400
    assert r["unknown"].json() == "Bad request: Action name not known: package_frobnicate"
    assert r["write"].status_code == 403
    assert r["write"].json()["error"]["__type"] == "Authorization Error"
    for key, field in (("rows_neg", "rows"), ("rows_text", "rows")):
        assert r[key].status_code == 409, key
        err = r[key].json()["error"]
        assert err["__type"] == "Validation Error" and field in err
    huge = r["rows_huge"].json()["result"]
    assert len(huge["results"]) == min(huge["count"], 1000) and huge["count"] >= 350
    past = r["past_end"].json()
    assert r["past_end"].status_code == 200 and past["result"]["results"] == []
    assert past["result"]["count"] >= 350
    for key in ("bad_sort", "bad_fq", "bad_date"):
        assert r[key].status_code == 400, key
        assert r[key].json()["error"]["__type"] == "Search Query Error"
    assert r["unknown_field"].status_code == 409
    assert r["unknown_field"].json()["error"]["__type"] == "Search Error"
    assert r["org_missing"].status_code == 404
    assert r["org_missing"].json() == {
        "help": f"{base}/api/3/action/help_show?name=organization_show",
        "success": False,
        "error": {"__type": "Not Found Error", "message": "Not found"},
    }
    assert r["res_bad"].status_code == 404
    assert r["q_cyr"].json()["result"]["count"] >= 1
    assert r["tags_q"].json()["result"]["count"] == len(
        [d for d in catalog350["docs"] if "м'ясо" in d["keywords"]]
    )
    assert r["range_now"].json()["result"]["count"] == 0  # everything is younger than a day
    neg = r["neg_grouped"].json()["result"]["count"]
    assert 0 < neg < 350
