"""Daily exchange-rate history: ECB and Frankfurter series, loading, the rate of a past day, CSV import."""
from datetime import date, datetime, timezone
from decimal import Decimal

import payloads
import pytest
import sqlalchemy as sa
from replay import ReplayServer

from pricing_providers.fx import EcbProvider, FrankfurterProvider
from webapp.domain.money import EXACT
from webapp.extensions import db
from webapp.models import FxRate

# newest first, as the ECB writes it; Fri 2 Jan, Mon 5 (no weekend days), Wed 7 (Tue 6 a holiday here)
HIST = {
    "2026-01-07": {"USD": "1.0400", "GBP": "0.8400", "INR": "93.5"},
    "2026-01-05": {"USD": "1.0350", "GBP": "N/A", "INR": "93.25"},  # GBP not published that day
    "2026-01-02": {"USD": "1.0321", "GBP": "0.8412", "INR": "93.215"},  # first known day
}


@pytest.fixture
def server():
    with ReplayServer() as s:
        yield s


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def fx_app(make_app, server, providers="ecb"):
    return make_app(FX_PROVIDERS=providers, PROVIDER_ECB_URL=server.url, PROVIDER_FRANKFURTER_URL=server.url,
                    PROVIDER_RETRIES=0)


def count_rates(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(FxRate))


def test_ecb_history_reads_every_day_and_skips_missing_rates(server):
    days = dict(HIST)
    days["2026-01-05"] = {**HIST["2026-01-05"], "JPY": ""}  # an empty rate, and no CHF at all
    server.route(payloads.ECB_HIST, body=payloads.ecb_hist(days, quote='"'), content_type="text/xml")
    rates = EcbProvider(server.url).fetch_history()
    by_day = {}
    for r in rates:
        by_day.setdefault(r.as_of.date(), {})[r.quote] = r.rate
    assert by_day == {
        date(2026, 1, 7): {"USD": Decimal("1.0400"), "GBP": Decimal("0.8400"), "INR": Decimal("93.5")},
        date(2026, 1, 5): {"USD": Decimal("1.0350"), "INR": Decimal("93.25")},
        date(2026, 1, 2): {"USD": Decimal("1.0321"), "GBP": Decimal("0.8412"), "INR": Decimal("93.215")},
    }
    assert {r.base for r in rates} == {"EUR"}
    assert rates[0].as_of == datetime(2026, 1, 7, 15, 0, tzinfo=timezone.utc)  # 16:00 CET
    since = EcbProvider(server.url).fetch_history(date(2026, 1, 5))
    assert {r.as_of.date() for r in since} == {date(2026, 1, 7), date(2026, 1, 5)}


def test_frankfurter_time_series_since_a_day(server):
    path = payloads.frankfurter_series_path("2026-01-05")
    server.route(path, content_type="application/json", body=payloads.frankfurter_series(
        {d: {c: r for c, r in v.items() if r != "N/A"} for d, v in HIST.items() if d >= "2026-01-05"}))
    rates = FrankfurterProvider(server.url).fetch_history(date(2026, 1, 5))
    assert {(r.as_of.date(), r.quote): r.rate for r in rates} == {
        (date(2026, 1, 5), "USD"): Decimal("1.0350"), (date(2026, 1, 5), "INR"): Decimal("93.25"),
        (date(2026, 1, 7), "USD"): Decimal("1.0400"), (date(2026, 1, 7), "GBP"): Decimal("0.8400"),
        (date(2026, 1, 7), "INR"): Decimal("93.5"),
    }
    assert server.requests[0].path == "/v1/2026-01-05.."
    assert server.requests[0].query.get("base") == "EUR"


def test_history_loads_once_falls_back_and_keeps_todays_rates_newest(make_app, server):
    server.route(payloads.ECB_HIST, status=503, body="down")
    server.route(payloads.frankfurter_series_path("1999-01-04"), content_type="application/json",
                 body=payloads.frankfurter_series({d: {c: r for c, r in v.items() if r != "N/A"}
                                                   for d, v in HIST.items()}))
    server.route(payloads.FRANKFURTER_LATEST, content_type="application/json",
                 body=payloads.frankfurter_latest("2026-01-08", {"USD": "1.05", "GBP": "0.85", "INR": "94"}))
    app = fx_app(make_app, server, "ecb,frankfurter")
    with app.app_context():
        from webapp.services.pricing.fx import rates_per_eur_from_db, refresh_fx

        refresh_fx()  # today's rates first: the history, loaded after, holds older days
    result = run(app, "fx", "history", "--sync")
    assert result.exit_code == 0, result.output
    assert "8 rates over 3 days from frankfurter (2026-01-02 to 2026-01-07), 8 new" in result.output
    again = run(app, "fx", "history", "--sync")
    assert "8 rates over 3 days from frankfurter (2026-01-02 to 2026-01-07), 0 new" in again.output
    assert count_rates(app) == 3 + 8
    with app.app_context():
        per_eur, as_of, _ = rates_per_eur_from_db()
    assert per_eur == {"USD": Decimal("1.05"), "GBP": Decimal("0.85"), "INR": Decimal("94")}
    assert as_of.date() == date(2026, 1, 8)


def test_history_without_sync_enqueues_a_job_on_low(app, redis_client):
    from rq import Queue

    result = run(app, "fx", "history", "--since", "2026-01-01")
    assert result.exit_code == 0, result.output
    jobs = Queue("low", connection=redis_client).jobs
    assert [(j.func_name, j.args) for j in jobs] == [("workers.fx.load_fx_history", ("2026-01-01",))]
    assert run(app, "fx", "history", "--since", "Jan 1").exit_code == 2


@pytest.fixture
def history_app(make_app, server):
    server.route(payloads.ECB_HIST, body=payloads.ecb_hist(HIST), content_type="text/xml")
    app = fx_app(make_app, server)
    with app.app_context():
        from workers.fx import load_fx_history

        assert load_fx_history()["stored"] == 8
    return app


def test_rate_on_uses_the_nearest_earlier_day(history_app):
    with history_app.app_context():
        from webapp.services.pricing.fx import rate_on, rates_on

        assert rate_on("EUR", "USD", date(2026, 1, 2)) == Decimal("1.0321")
        assert rate_on("EUR", "USD", date(2026, 1, 4)) == Decimal("1.0321")  # Sunday: Friday's rate
        assert rate_on("EUR", "USD", date(2026, 1, 6)) == Decimal("1.0350")  # holiday: Monday's
        assert rate_on("EUR", "GBP", date(2026, 1, 5)) == Decimal("0.8412")  # GBP missing Monday
        assert rate_on("USD", "EUR", date(2026, 1, 1)) is None  # before the first known day
        assert rate_on("EUR", "CHF", date(2026, 1, 7)) is None  # never published
        assert rate_on("EUR", "EUR", date(2000, 1, 1)) == Decimal(1)
        # a cross through EUR, to the digit: 1 GBP = (EUR→INR) / (EUR→GBP) in 80 digits
        gbp_inr = rate_on("GBP", "INR", date(2026, 1, 6))
        assert gbp_inr == EXACT.divide(Decimal("93.25"), Decimal("0.8412"))
        assert str(gbp_inr) == "110.85354255825011887779362815026153114598193057536852116024726581074655254398478"
        assert rate_on("USD", "EUR", date(2026, 1, 8)) == EXACT.divide(1, Decimal("1.0400"))
        many = rates_on([("GBP", "INR", date(2026, 1, 6)), ("EUR", "USD", date(2026, 1, 3)),
                         ("USD", "GBP", date(2025, 12, 31))])
        assert many == {("GBP", "INR", date(2026, 1, 6)): gbp_inr, ("EUR", "USD", date(2026, 1, 3)): Decimal("1.0321"),
                        ("USD", "GBP", date(2025, 12, 31)): None}


def test_show_the_rate_of_a_day(history_app):
    history_app.config["BASE_CURRENCY"] = "USD"
    result = run(history_app, "fx", "show", "GBP", "--date", "2026-01-06")
    assert result.exit_code == 0, result.output
    usd = EXACT.divide(Decimal("1.0350"), Decimal("0.8412"))  # Monday's USD, Friday's GBP
    eur = EXACT.divide(1, Decimal("0.8412"))
    assert f"1 GBP = {usd.normalize():f} USD  on 2026-01-06" in result.output
    assert f"1 GBP = {eur.normalize():f} EUR  on 2026-01-06" in result.output
    before = run(history_app, "fx", "show", "GBP", "--date", "2025-12-31")
    assert before.exit_code == 2 and "no rate for GBP on or before 2025-12-31" in before.output


GOOD_FX = """Rate,FROM,to,date
1.27,GBP,USD,2026-01-05
0.0117,INR,EUR,2026-01-06
"""


def test_fx_import_a_good_file_twice_adds_once_and_a_direct_pair_wins_when_as_recent(history_app, tmp_path):
    f = tmp_path / "rates.csv"
    f.write_text(GOOD_FX)
    result = run(history_app, "fx", "import", str(f))
    assert result.exit_code == 0, result.output
    assert "2 rates read, 2 new, 0 already known" in result.output
    again = run(history_app, "fx", "import", str(f))
    assert "2 rates read, 0 new, 2 already known" in again.output
    assert count_rates(history_app) == 8 + 2
    with history_app.app_context():
        from webapp.services.pricing.fx import rate_on

        assert rate_on("GBP", "USD", date(2026, 1, 5)) == Decimal("1.27")  # as given
        assert rate_on("USD", "GBP", date(2026, 1, 6)) == EXACT.divide(1, Decimal("1.27"))  # inverted
        # the ECB's GBP of the 7th is newer than the imported pair: the cross wins
        assert rate_on("GBP", "USD", date(2026, 1, 7)) == EXACT.divide(Decimal("1.0400"), Decimal("0.8400"))
        # a pair with EUR is a leg: 1 INR = 0.0117 EUR on the 6th, newer than the ECB's INR of the 5th
        inr_eur = rate_on("INR", "EUR", date(2026, 1, 6))
        assert abs(inr_eur - Decimal("0.0117")) < Decimal("1e-75")  # inverted twice, in 80 digits


def test_fx_import_reports_every_bad_line_and_imports_nothing(app, tmp_path):
    f = tmp_path / "rates.csv"
    f.write_text("date,from,to,rate\n"
                 "2026-01-05,GBP,USD,1.27\n"
                 "05/01/2026,GBP,USD,1.27\n"
                 "2026-01-05,GBP,US,1.27\n"
                 "\n"
                 "2026-01-05,USD,USD,1\n"
                 "2026-01-05,EUR,INR,-93\n"
                 "2026-01-05,EUR,INR,abc\n"
                 "2999-01-05,EUR,INR,93\n"
                 "2026-01-05,GBP,USD,1.28\n"
                 "2026-01-05,EUR\n")
    result = run(app, "fx", "import", str(f))
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("Error: line")]
    assert [line.split(":")[1].strip() for line in lines] == [
        "line 3", "line 4", "line 6", "line 7", "line 8", "line 9", "line 10", "line 11"]
    assert "line 3: date “05/01/2026” is not YYYY-MM-DD" in result.output
    assert "line 4: to “US” is not a three-letter currency code" in result.output
    assert "line 6: from and to are both USD" in result.output
    assert "line 7: rate -93 is not a positive number" in result.output
    assert "line 8: rate “abc” is not a number" in result.output
    assert "line 9: date 2999-01-05 is in the future" in result.output
    assert "line 10: another rate for GBP→USD on 2026-01-05 than line 2" in result.output
    assert "line 11: 2 fields, the header has 4" in result.output
    assert "nothing imported" in result.output
    assert count_rates(app) == 0
    f.write_text("day,from,to,rate\n2026-01-05,GBP,USD,1.27\n")
    missing = run(app, "fx", "import", str(f))
    assert missing.exit_code == 2
    assert "line 1: the header must name date,from,to,rate: missing column(s) date; unknown column(s) day" \
        in missing.output
