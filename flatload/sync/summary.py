"""What a sync did: plain data the CLI prints (one line) and scripts read (``to_dict``)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class SyncSummary:
    """Rows sent to ``target`` (password hidden) ``table`` and what the target did with them.

    ``previous`` is the mark the rows were newer than (None: a first or ``full`` sync sent
    everything chosen); ``newest`` the newest journal change sent, the next sync's mark.
    """

    target: str
    table: str
    sent: int
    inserted: int
    updated: int
    unchanged: int
    batches: int
    created: bool
    full: bool
    previous: dt.datetime | None
    newest: dt.datetime | None
    seconds: float

    @property
    def written(self) -> int:
        """Rows inserted or updated."""
        return self.inserted + self.updated

    @property
    def exit_code(self) -> int:
        """0: a sync that returns did everything (failures raise)."""
        return 0

    def line(self) -> str:
        """``sync: N row(s) sent to TARGET TABLE: a inserted, b updated, c unchanged in 1.2s``."""
        made = " (table created)" if self.created else ""
        if self.sent == 0:
            since = f" since {self.previous:%Y-%m-%d %H:%M:%S} UTC" if self.previous else ""
            return (f"sync: {self.target} {self.table}{made} is up to date: no journal rows changed{since}; "
                    f"nothing sent in {self.seconds:.1f}s")
        return (f"sync: {self.sent:,} row(s) sent to {self.target} {self.table}{made}: {self.inserted:,} inserted, "
                f"{self.updated:,} updated, {self.unchanged:,} unchanged in {self.seconds:.1f}s")

    def to_dict(self) -> dict:
        """JSON-ready."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["written"] = self.written
        for k in ("previous", "newest"):
            out[k] = out[k].isoformat() if out[k] else None
        out["seconds"] = round(self.seconds, 3)
        return out
