"""What the staff home (clubhouse/admin/) asks each app: how many rows wait for a person, and
the admin list filter that shows exactly those rows. Each app's selectors answer with this type,
so the rule ("a report is waiting while open") and the filter that lists it live side by side in
the app that owns the rows, and the home page's count is the length of the list it links to."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Attention:
    count: int
    # The changelist's query string as a dict, e.g. {"status__exact": "open"}; empty for the
    # whole list.
    filters: dict[str, str] = field(default_factory=dict)
