"""The complaints list: filters by customer, symptom, judgement and received plant days; pages; CSV."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.http import token


def _open(client: TestClient, customer: str, symptom: str, day: str) -> str:
    body = {
        "customer": customer,
        "received_at": f"{day}T09:00:00+08:00",
        "channel": "email",
        "symptom": symptom,
        "severity": "major",
        "description": "seen on site",
        "barcodes": ["M000000001"],
    }
    r = client.post("/api/v1/complaints", json=body, headers=token(client, "customer_service"))
    assert r.status_code == 201, r.text
    return str(r.json()["complaint"]["number"])


def test_filters_pages_and_csv_of_the_complaints(client: TestClient) -> None:
    for i in range(32):
        _open(
            client,
            "隆基绿能 (LONGi)" if i % 4 == 0 else "SolarCo",
            "hot_spot" if i % 2 else "cell_crack",
            f"2026-11-{1 + i % 28:02d}",
        )
    h = token(client, "customer_service")
    page = client.get("/complaints", headers=h)
    assert "Complaints (32)" in page.text and 'id="complaints-older"' in page.text
    assert "entries 31 to 32 of 32" in client.get("/complaints", headers=h, params={"offset": 30}).text
    longi = client.get("/complaints", headers=h, params={"customer": "longi"})  # part of the name, any case
    assert "Complaints (8)" in longi.text
    hot = client.get("/complaints", headers=h, params={"symptom": "hot_spot", "since": "2026-11-01", "until": "2026-11-10"})
    assert "Complaints (7)" in hot.text  # odd i with day 1 + i % 28 in 1..10: i = 1, 3, 5, 7, 9, 29, 31
    assert "Complaints (32)" in client.get("/complaints", headers=h, params={"justified": "open"}).text
    assert "Complaints (0)" in client.get("/complaints", headers=h, params={"justified": "yes"}).text
    bad = client.get("/complaints", headers=h, params={"symptom": "rain"})
    assert "Choose a symptom from the list." in bad.text and "Complaints (32)" in bad.text
    csv_ = client.get("/complaints.csv", headers=h, params={"customer": "LONGi"})
    rows = csv_.text.lstrip("\ufeff").strip().splitlines()
    assert csv_.status_code == 200 and len(rows) == 1 + 8 and all("隆基绿能 (LONGi)" in r for r in rows[1:])
    assert "cell_crack" not in csv_.text and "cell crack" in csv_.text.lower()  # words, not codes
    assert client.get("/complaints.csv", headers=token(client, "operator")).status_code == 403
