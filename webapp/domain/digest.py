"""The daily digest e-mail's text: value, day change, top movers, stale prices. Pure."""
from __future__ import annotations

from decimal import Decimal
from html import escape

from webapp.domain.valuation import Valuation

TOP_MOVERS = 3


def _money(amount: Decimal | None, currency: str) -> str:
    return "unknown" if amount is None else f"{amount.quantize(Decimal('0.01')):,f} {currency}"


def _pct(value: Decimal | None) -> str:
    return "" if value is None else f" ({value.quantize(Decimal('0.01')):+f}%)"


def movers(valuation: Valuation, n: int = TOP_MOVERS) -> list[tuple[str, Decimal]]:
    """The n holdings (by symbol, once each) with the largest day change in percent, either way."""
    seen: dict[str, Decimal] = {}
    for account in valuation.accounts:
        for h in account.holdings:
            pct = h.day_change_pct
            if pct is not None and h.symbol not in seen:
                seen[h.symbol] = pct
    return sorted(seen.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[:n]


def lines(valuation: Valuation, stale: list[str]) -> list[str]:
    ccy = valuation.currency
    out = [f"Value: {_money(valuation.total, ccy)}",
           f"Day change: {_money(valuation.day_change, ccy)}{_pct(valuation.day_change_pct)}"]
    top = movers(valuation)
    if top:
        out.append("Top movers: " + ", ".join(f"{s} {p.quantize(Decimal('0.01')):+f}%" for s, p in top))
    out.append("Stale prices: " + (", ".join(sorted(stale)) if stale else "none"))
    return out


def render(valuation: Valuation, stale: list[str]) -> tuple[str, str, str]:
    """(subject, text, html) of the digest."""
    body = lines(valuation, stale)
    subject = f"Folio daily digest: {_money(valuation.total, valuation.currency)}"
    text = "\n".join(body) + "\n"
    html = "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in body) + "</ul>"
    return subject, text, html
