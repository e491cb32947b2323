"""`phistack cost`: the planned stack's monthly cost from the plan itself (infra/cost.py), as a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phistack.errors import EXIT_INCOMPLETE, EXIT_OK

if TYPE_CHECKING:
    from infra.config import ClientConfig
    from infra.cost import Assumptions, Estimate
    from infra.prices import PriceTable


def _plan_and_config(args: argparse.Namespace) -> tuple[dict[str, Any], ClientConfig]:
    """The plan (from --plan, or made now) and the client config it was made from (the plan carries it)."""
    from infra.config import parse_client_config
    from phistack.pipeline import plan_document

    plan = plan_document(args)
    return plan, parse_client_config(plan["config"], args.plan or "the stack file")


def monthly(
    plan: dict[str, Any], cfg: ClientConfig, prices: Path | None = None, assume: list[str] | None = None
) -> tuple[Estimate, PriceTable, Assumptions]:
    """(estimate, table, assumptions) for a plan; NoPrices when the table has nothing for its region."""
    from infra.cost import Assumptions, estimate
    from infra.prices import NoPrices, load_prices

    table = load_prices(prices)
    assumptions = Assumptions().with_overrides(assume or [])
    if cfg.region not in table.regions:
        raise NoPrices(
            f"no prices for {cfg.region} in {prices or 'the bundled table'} (it has {', '.join(table.regions)}): "
            "pass --prices FILE with that region's figures"
        )
    return estimate(plan, cfg, table, assumptions), table, assumptions


def summary_line(plan: dict[str, Any], cfg: ClientConfig) -> str:
    """The one line `phistack plan` prints: the estimate's total, or why there is none."""
    from infra.errors import InfraError

    try:
        result, table, assume = monthly(plan, cfg)
    except InfraError as exc:
        return f"estimated monthly cost: none ({exc})"
    total = _money(result.low) if result.low == result.high else f"{_money(result.low)} to {_money(result.high)}"
    missing = f"at least {total}; {len(result.unpriced)} items not priced" if result.unpriced else total
    return (
        f"estimated monthly cost: {missing} ({table.currency} list prices in {cfg.region}, recorded "
        f"{table.recorded}, GPU hosts {assume.gpu_hours_per_day:g} h/day); `phistack cost` for the lines"
    )


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


def _print_table(document: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 140)
    lines = Table(title=f"{document['client']}: monthly estimate in {document['region']} ({document['currency']})")
    for column in ("service", "item", "quantity", "monthly"):
        lines.add_column(column, justify="right" if column == "monthly" else "left")
    for line in document["lines"]:
        if line["priced"]:
            low, high = line["monthly_low"], line["monthly_high"]
            amount = _money(low) if low == high else f"{_money(low)} to {_money(high)}"
        else:
            amount = f"not priced: {line['reason']}"
        lines.add_row(line["service"], line["item"], line["quantity"], amount)
    low, high = document["monthly_low"], document["monthly_high"]
    total = _money(low) if low == high else f"{_money(low)} to {_money(high)}"
    lines.add_row("", "total" if document["complete"] else "total of what is priced (at least)", "", total)
    console.print(lines)

    options = Table(title="GPU options for the configured model (monthly for the planned hosts at the assumed hours)")
    for column in ("instance type", "GPUs", "usable GB", "model fits", "per hour", "monthly"):
        options.add_column(column, justify="left" if column == "instance type" else "right")
    for row in document["gpu_options"]:
        name = f"{row['instance_type']} (planned)" if row["planned"] else row["instance_type"]
        hourly = "-" if row["hourly"] is None else f"${row['hourly']:,.4f}"
        monthly = "not in the table" if row["monthly"] is None else _money(row["monthly"])
        options.add_row(
            name, str(row["gpus"]), f"{row['usable_gb']:g}", "yes" if row["fits"] else "no", hourly, monthly
        )
    console.print(options)
    assumed = ", ".join(f"{k}={v:.15g}" for k, v in document["assumptions"].items())
    console.print(
        f"{document['basis']}. Prices recorded {document['prices']['recorded']} ({document['prices']['table']}); "
        f"a month is {document['hours_per_month']:g} h. No data transfer beyond the lines above. "
        f"Assumed monthly usage (--assume NAME=VALUE): {assumed}.",
        soft_wrap=not sys.stdout.isatty(),
    )


def cmd_cost(args: argparse.Namespace) -> int:
    from infra.cost import to_json

    plan, cfg = _plan_and_config(args)
    assume = list(args.assume or [])
    if args.hours_per_day is not None:
        assume.append(f"gpu_hours_per_day={args.hours_per_day}")
    prices = Path(args.prices) if args.prices else None
    result, table, assumptions = monthly(plan, cfg, prices, assume)
    document = to_json(result, table, assumptions, str(prices) if prices else "infra/data/prices.yaml")
    if args.format == "json":
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        _print_table(document)
    for line in result.unpriced:
        print(f"not priced: {line.item}: {line.reason}", file=sys.stderr)  # noqa: T201
    return EXIT_INCOMPLETE if result.unpriced else EXIT_OK


def add_parser(sub: Any, target_options: Any) -> None:
    cost = sub.add_parser("cost", help="estimate the planned stack's monthly cost from list prices (before deploying)")
    target_options(cost).add_argument("--plan", metavar="PLAN_JSON", help="estimate this plan.json instead")
    cost.add_argument("--prices", metavar="FILE", help="a price table in infra/data/prices.yaml's format")
    cost.add_argument("--hours-per-day", type=float, metavar="H", help="hours a day the GPU hosts run (default 24)")
    cost.add_argument(
        "--assume", action="append", metavar="NAME=VALUE", help="change one usage assumption (repeatable)"
    )
    cost.add_argument("--format", choices=("table", "json"), default="table", help="default: table")
    cost.set_defaults(func=cmd_cost)
