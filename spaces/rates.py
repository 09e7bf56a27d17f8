"""Rates written as 'N/s', 'N/min' or 'N/hour' (request and failure throttles)."""


def parse_rate(rate: str) -> tuple[int, int] | None:
    """'600/min' -> (600, 60). Empty means no limit."""
    if not rate:
        return None
    count, _, period = rate.partition("/")
    seconds = {
        "s": 1,
        "sec": 1,
        "second": 1,
        "m": 60,
        "min": 60,
        "minute": 60,
        "h": 3600,
        "hour": 3600,
    }.get(period.strip().lower())
    if seconds is None or not count.strip().isdigit():
        raise ValueError(f"bad rate {rate!r}; use N/s, N/min or N/hour")
    return int(count), seconds
