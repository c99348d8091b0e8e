"""The fixed test sessions: both sides of the 2024 DST switches, two early closes, and a holiday."""
from __future__ import annotations

import datetime as dt

DST_SPRING = [dt.date(2024, 3, 8), dt.date(2024, 3, 11)]  # EST Friday, EDT Monday
DST_FALL = [dt.date(2024, 11, 1), dt.date(2024, 11, 4)]  # EDT Friday, EST Monday
EARLY_CLOSES = [dt.date(2024, 7, 3), dt.date(2024, 11, 29)]
HOLIDAY = dt.date(2024, 11, 28)  # Thanksgiving: no file
