"""Value history: the chart on the dashboard and its own page, ranges, downsampling in SQL, the CSV."""
import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import sqlalchemy as sa
from conftest import login, make_user, post, set_price

from webapp.extensions import db
from webapp.models import PortfolioSnapshot
from webapp.services.portfolio import history as history_service
from webapp.web.charts import line_chart

NOW = datetime.now(timezone.utc).replace(microsecond=0)
PATH_RE = re.compile(r'<path class="line" d="([^"]+)"')


def snapshots(app, user_id, values, currency="USD", step=timedelta(hours=1), end=None):
    """Snapshots ending now (or at `end`), one per `step`, oldest first; values are strings."""
    end = end or datetime.now(timezone.utc).replace(microsecond=0)  # not the import time: ranges end "now"
    rows = [{"user_id": user_id, "as_of": end - step * (len(values) - 1 - i), "currency": currency,
             "total_value": Decimal(v), "account_values": {}} for i, v in enumerate(values)]
    with app.app_context():
        db.session.execute(sa.insert(PortfolioSnapshot), rows)
        db.session.commit()


def points_drawn(html: str) -> int:
    m = PATH_RE.search(html)
    assert m, "no chart line in the page"
    return m.group(1).count("L") + 1


def test_dashboard_shows_the_chart_with_min_max_and_dates_in_the_users_currency(app, client, alice):
    login(client)
    snapshots(app, alice, ["1000.004", "1234.5", "987.65", "1100"], step=timedelta(days=2))
    html = client.get("/").get_data(as_text=True)
    assert 'id="portfolio-history"' in html
    assert points_drawn(html) == 4
    assert '<span class="high">1,234.50 USD</span>' in html
    assert '<span class="low">987.65 USD</span>' in html
    assert (NOW - timedelta(days=6)).strftime("%Y-%m-%d") in html and NOW.strftime("%Y-%m-%d") in html
    assert 'class="current" aria-current="true">1M<' in html  # the default range


def test_ranges_choose_what_is_drawn_without_javascript_and_as_an_htmx_fragment(app, client, alice):
    login(client)
    # a value every day (less a minute, so that no value sits on a range's edge) for 400 days:
    # 1D holds 2 of them, 1W 8, 1M 31, 1Y 366, All 400
    snapshots(app, alice, [str(1000 + i) for i in range(400)], step=timedelta(days=1, minutes=-1))
    for key, expected in (("1D", 2), ("1W", 8), ("1M", 31), ("1Y", 366), ("All", 400)):
        page = client.get(f"/?range={key}").get_data(as_text=True)
        assert points_drawn(page) == expected, key
        assert f'class="current" aria-current="true">{key}<' in page
        frag = client.get(f"/portfolio/history?range={key}", headers={"HX-Request": "true"})
        html = frag.get_data(as_text=True)
        assert html.lstrip().startswith('<section id="portfolio-history"') and "<html" not in html
        assert points_drawn(html) == expected
    # the standalone page (nav "History") works without htmx too
    page = client.get("/portfolio/history?range=1W").get_data(as_text=True)
    assert "<html" in page and points_drawn(page) == 8
    assert 'href="/portfolio/history?range=1Y#portfolio-history"' in page


def test_an_unknown_range_is_a_400_on_the_fragment_and_the_default_on_the_dashboard(app, client, alice):
    login(client)
    snapshots(app, alice, ["1", "2"])
    assert client.get("/portfolio/history?range=5Y").status_code == 400
    page = client.get("/?range=5Y")
    assert page.status_code == 200
    assert 'class="current" aria-current="true">1M<' in page.get_data(as_text=True)


def test_a_long_history_is_downsampled_in_sql_to_at_most_500_points(app, client, alice):
    login(client)
    values = [str(10_000 + (i % 97) * 3) for i in range(3000)]
    snapshots(app, alice, values, step=timedelta(minutes=10))
    with app.app_context():
        h = history_service.value_history(alice, "USD", "All")
        assert h.sampled_from == 3000
        assert 2 <= len(h.points) <= 500
        assert h.points[0][1] == Decimal(values[0]) and h.points[-1][1] == Decimal(values[-1])
        assert [t for t, _ in h.points] == sorted(t for t, _ in h.points)
    html = client.get("/?range=All").get_data(as_text=True)
    assert points_drawn(html) <= 500
    assert "of 3000 recorded values drawn" in html


def test_downsampled_points_are_recorded_values_from_every_part_of_the_range(app, alice):
    values = [str(100 + i) for i in range(2000)]  # rising: each value tells where it was recorded
    snapshots(app, alice, values, step=timedelta(minutes=1))
    with app.app_context():
        h = history_service.value_history(alice, "USD", "All", max_points=10)
    drawn = [v for _, v in h.points]
    assert 2 <= len(drawn) <= 10
    assert drawn == sorted(drawn) and set(drawn) <= {Decimal(v) for v in values}
    assert drawn[0] == Decimal("100") and drawn[-1] == Decimal("2099")
    # five buckets of ~400 minutes: no gap between drawn points is much wider than a bucket
    assert max(b - a for a, b in zip(drawn, drawn[1:])) <= 401


def test_empty_and_single_value_histories_say_so(app, client, alice):
    login(client)
    html = client.get("/").get_data(as_text=True)
    assert "No value history yet" in html and 'class="line"' not in html
    snapshots(app, alice, ["1234.56"])
    html = client.get("/").get_data(as_text=True)
    assert "Only one value in this range so far: 1,234.56 USD" in html
    snapshots(app, alice, ["1000"], end=NOW - timedelta(days=3))
    html = client.get("/?range=1D").get_data(as_text=True)
    assert "Only one value" in html
    html = client.get("/?range=1W").get_data(as_text=True)
    assert points_drawn(html) == 2


def test_values_recorded_in_another_base_currency_are_not_drawn_as_if_they_were_the_same(app, client, alice):
    login(client)
    snapshots(app, alice, ["900", "950"], currency="EUR", end=NOW - timedelta(days=2))
    snapshots(app, alice, ["1000", "1010"])
    html = client.get("/?range=1W").get_data(as_text=True)
    assert points_drawn(html) == 2
    assert "950.00" not in html
    assert "2 values of this range recorded in another base currency are not drawn" in html


def test_a_poll_is_204_until_a_new_snapshot_then_the_chart_is_redrawn(app, client, alice):
    login(client)
    make_account = post(client, "/accounts/", {"name": "Main", "kind": "brokerage"}).headers["Location"]
    post(client, f"{make_account}/holdings", {"symbol": "AAPL", "asset_type": "stock", "quantity": "10"})
    set_price(app, "AAPL", "100", as_of=NOW - timedelta(minutes=5))
    set_price(app, "AAPL", "110", as_of=NOW - timedelta(minutes=2))
    page = client.get("/").get_data(as_text=True)
    version = re.search(r'id="portfolio-history"[^>]*data-version="(\d+)"', page, re.S).group(1)
    assert '<span class="high">1,100.00 USD</span>' in page
    hx = {"HX-Request": "true"}
    assert client.get(f"/portfolio/history?range=1M&v={version}", headers=hx).status_code == 204
    set_price(app, "AAPL", "120", as_of=NOW - timedelta(minutes=1))
    resp = client.get(f"/portfolio/history?range=1M&v={version}", headers=hx)
    assert resp.status_code == 200
    assert '<span class="high">1,200.00 USD</span>' in resp.get_data(as_text=True)


def test_the_history_shows_only_the_users_own_snapshots(app, client, alice, bob):
    snapshots(app, bob, ["777777.77", "888888.88"])
    snapshots(app, alice, ["100", "200"])
    login(client)
    html = client.get("/").get_data(as_text=True)
    assert "888,888.88" not in html and "777,777.77" not in html
    csv_text = client.get("/portfolio/history.csv").get_data(as_text=True)
    assert "888888" not in csv_text
    # Bob's latest snapshot id as a poll version does not reveal anything either
    with app.app_context():
        bob_version = history_service.latest_version(bob)
    resp = client.get(f"/portfolio/history?v={bob_version}", headers={"HX-Request": "true"})
    assert resp.status_code == 200 and "888,888.88" not in resp.get_data(as_text=True)


def test_csv_export_has_every_snapshot_exactly_in_time_order(app, client, alice):
    login(client)
    snapshots(app, alice, ["100.1234567891", "0.0000000001", "123456789012345.5"], step=timedelta(days=1), end=NOW)
    snapshots(app, alice, ["99"], currency="EUR", end=NOW - timedelta(days=10))
    resp = client.get("/portfolio/history.csv")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    assert rows[0] == ["as_of", "currency", "total_value"]
    assert [r[1:] for r in rows[1:]] == [["EUR", "99.0000000000"], ["USD", "100.1234567891"],
                                         ["USD", "0.0000000001"], ["USD", "123456789012345.5000000000"]]
    assert rows[-1][0] == NOW.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_csv_export_streams_more_rows_than_one_batch(app, alice):
    snapshots(app, alice, [str(i) for i in range(2500)], step=timedelta(seconds=1))
    with app.app_context():
        text = "".join(history_service.export_rows(alice, batch=1000))
    lines = text.splitlines()
    assert len(lines) == 2501
    assert [line.rsplit(",", 1)[1] for line in lines[1:]] == [f"{i}.0000000000" for i in range(2500)]


def test_csv_export_and_history_need_a_login(client):
    for url in ("/portfolio/history.csv", "/portfolio/history"):
        resp = client.get(url)
        assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]


def test_the_chart_line_is_scaled_exactly_between_min_and_max():
    t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    chart = line_chart([(t, Decimal("10")), (t + timedelta(hours=1), Decimal("30")),
                        (t + timedelta(hours=2), Decimal("20"))], width=216, height=124)
    # plot box: x 8..208, y 12..112; 10 -> bottom, 30 -> top, 20 -> middle
    assert chart.line == "M8.0,112.0 L108.0,12.0 L208.0,62.0"
    assert (chart.low, chart.high) == (Decimal("10"), Decimal("30"))
    flat = line_chart([(t, Decimal("5")), (t + timedelta(hours=1), Decimal("5"))], width=216, height=124)
    assert flat.line == "M8.0,62.0 L208.0,62.0"
    assert line_chart([(t, Decimal("5"))]) is None


# ---- the history page's daily values: its table and the interactive chart's data --------------
def _chart_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" class="chart-data">(.*?)</script>', html, re.S)
    assert m, "no chart data in the page"
    return json.loads(m.group(1))


def test_daily_values_are_the_last_value_of_each_utc_day_exactly(app, alice, bob):
    day = datetime(2026, 3, 2, tzinfo=timezone.utc)
    rows = [(day + timedelta(hours=1), "100.10"), (day + timedelta(hours=23, minutes=59, seconds=59), "1234567.891"),
            (day + timedelta(days=1, minutes=1), "99.99"), (day + timedelta(days=3, hours=12), "0.0000000001")]
    with app.app_context():
        db.session.execute(sa.insert(PortfolioSnapshot), [
            {"user_id": alice, "as_of": t, "currency": "USD", "total_value": Decimal(v), "account_values": {}}
            for t, v in rows] + [
            {"user_id": alice, "as_of": day + timedelta(hours=2), "currency": "EUR", "total_value": Decimal("5"),
             "account_values": {}},  # another base currency: not mixed in
            {"user_id": bob, "as_of": day + timedelta(hours=22), "currency": "USD", "total_value": Decimal("7"),
             "account_values": {}}])
        db.session.commit()
        assert history_service.daily_values(alice, "USD") == [
            (day.date(), Decimal("1234567.891")), ((day + timedelta(days=1)).date(), Decimal("99.99")),
            ((day + timedelta(days=3)).date(), Decimal("0.0000000001"))]
        assert history_service.daily_values(bob, "USD") == [(day.date(), Decimal("7"))]


def test_the_history_page_lists_daily_values_and_gives_the_chart_the_same_days(app, client, alice, bob):
    login(client)
    snapshots(app, alice, ["1000", "1234567.895", "2000.5", "2100.25"], step=timedelta(hours=13))
    snapshots(app, bob, ["31337.77", "31338.88"], step=timedelta(days=1))
    html = client.get("/portfolio/history").get_data(as_text=True)
    with app.app_context():
        daily = history_service.daily_values(alice, "USD")
    assert len(daily) >= 2
    data = _chart_data(html)
    assert data["days"] == [d.isoformat() for d, _ in daily]
    assert data["series"][0]["values"] == [format(v, "f") for _, v in daily]  # exact, as strings
    for d, v in daily:  # the readout's text is the table's, row for row
        text = data["series"][0]["text"][data["days"].index(d.isoformat())]
        assert f'<tr data-day="{d.isoformat()}"><td><time datetime="{d.isoformat()}">{d.isoformat()}</time></td>' \
               f'<td class="num">{text}</td></tr>' in html
    assert "31,337.77" not in html and "31338.88" not in json.dumps(data)  # only alice's own
    assert 'data-replaced-by-chart' in html and "uPlot-1.6.32.iife.min.js" in html
    # the dashboard's chart stays the server's SVG alone: no table, no data, no uPlot
    dash = client.get("/").get_data(as_text=True)
    assert "chart-data" not in dash and 'id="daily-values"' not in dash and "uPlot" not in dash


def test_the_history_page_needs_a_login_for_its_data(client, alice):
    resp = client.get("/portfolio/history")
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]
