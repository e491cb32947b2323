"""fleet.html: the fleet summary (fleet.json) as one self-contained page."""

from __future__ import annotations

from typing import Any

from compliance.reports.html import environment
from compliance.reports.summary import STATUSES


def render_fleet_html(fleet: dict[str, Any]) -> str:
    return environment().get_template("fleet.html.j2").render(fleet=fleet, statuses=STATUSES)
