"""Search by duty (`GET /v1/reference/departments`): the operator asks who handles a matter and gets the duty
catalogue's units ranked, each with the duty that matched; the query is bounded and the endpoint is the
operator's."""

import pytest
from fastapi.testclient import TestClient
from service_builders import auth, make_settings, new_key, quiet_services

from api.main import create_app

PATH = "/v1/reference/departments"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("departments")
    services = quiet_services(make_settings(tmp_path, f"sqlite:///{tmp_path / 'departments.db'}"))
    keys = {role: new_key(services, role) for role in ("operator", "qa", "telephony", "admin")}
    with TestClient(create_app(services=services)) as client:
        yield client, keys
    services.engine.dispose()


def test_a_duty_finds_the_unit_that_handles_it_with_the_duty_that_matched(service):
    client, keys = service
    response = client.get(PATH, params={"q": "电梯年检归谁管"}, headers=auth(keys["operator"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"] == "电梯年检归谁管"
    first = body["items"][0]
    assert first == {
        "department": "市场监督管理局",
        "score": first["score"],
        "duty": "特种设备与产品质量",
        "words": ["电梯年检"],
        "matched_by": "keyword",
    }
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True) and 0 < scores[-1] <= scores[0] <= 1
    assert len({item["department"] for item in body["items"]}) == len(body["items"])


def test_a_name_finds_its_unit_and_limit_bounds_the_list(service):
    client, keys = service
    named = client.get(PATH, params={"q": "住建", "limit": 1}, headers=auth(keys["operator"])).json()
    assert named["items"] == [
        {"department": "住房和城乡建设局", "score": 1.0, "duty": None, "words": ["住建"], "matched_by": "name"}
    ]
    nothing = client.get(PATH, params={"q": "啊啊"}, headers=auth(keys["operator"]))
    assert nothing.status_code == 200 and nothing.json()["items"] == []


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": ""},
        {"q": "电" * 65},
        {"q": "电梯", "limit": 0},
        {"q": "电梯", "limit": 21},
        {"q": "电梯", "limit": "x"},
    ],
)
def test_the_query_is_bounded(service, params):
    client, keys = service
    response = client.get(PATH, params=params, headers=auth(keys["operator"]))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"]


def test_only_an_operator_searches(service):
    client, keys = service
    assert client.get(PATH, params={"q": "电梯"}).status_code == 401
    for role in ("qa", "telephony"):
        assert client.get(PATH, params={"q": "电梯"}, headers=auth(keys[role])).status_code == 403, role
    # the administrator, who maintains the catalogue, passes every role's check
    assert client.get(PATH, params={"q": "电梯"}, headers=auth(keys["admin"])).status_code == 200


def test_the_search_is_documented_in_openapi(service):
    client, _ = service
    schema = client.get("/openapi.json").json()
    operation = schema["paths"][PATH]["get"]
    query = {parameter["name"]: parameter["schema"] for parameter in operation["parameters"]}
    assert (query["q"]["minLength"], query["q"]["maxLength"]) == (1, 64)
    assert (query["limit"]["minimum"], query["limit"]["maximum"]) == (1, 20)
    response = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert response.endswith("/DepartmentSearchOut")
    match = schema["components"]["schemas"]["DepartmentMatchOut"]
    assert match["properties"]["matched_by"]["enum"] == ["name", "keyword", "sound", "words"]
