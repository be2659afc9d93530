"""``atomic-release plan``: a stream's next release before it runs, as the API plans it."""

import json

from atomic_release.cli.api_client import ApiClient
from atomic_release.cli.text import columns


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _next_release(plan: dict) -> list[str]:
    upcoming = plan["next_release"]
    lines = [f"next release: {upcoming['outcome']}: {upcoming['reason']}"]
    rows = [(c["arch"], c["ref"], c["checksum"][:12], c.get("version") or "-",
             (c.get("signature") or {}).get("reason", "not checked")) for c in upcoming.get("commits", [])]
    if rows:
        lines.append(columns(("arch", "ref", "commit", "version", "signature"), rows, indent="  "))
    return lines


def _preflight(plan: dict) -> list[str]:
    blocked = [r for r in plan["preflight"] if not r["ready"]]
    lines = [f"regions: {len(plan['regions'])} ({', '.join(plan['regions'])}); architectures: "
             f"{', '.join(plan['arches'])}",
             f"preflight now: {len(plan['preflight']) - len(blocked)} ready, {len(blocked)} would be skipped"]
    lines += [f"  {r['region']}: {r['reason']}" for r in blocked]
    return lines


def _timing(plan: dict) -> list[str]:
    timing = plan["timing"]
    rows = [(t["stage"] + (f" ({t['where']})" if t.get("where") else ""), _duration(t["median_s"]),
             _duration(t["p90_s"]), t["source"] if not t["samples"] else f"history: {t['samples']} samples")
            for t in [*timing["stages"], *timing["after_public"]]]
    path = " -> ".join(f"{s['stage']}" + (f" ({s['where']})" if s.get("where") else "")
                       for s in timing["critical_path"])
    return ["predicted stage times:", columns(("stage", "median", "p90", "from"), rows, indent="  "),
            f"commit to public: {_duration(timing['commit_to_public_median_s'])} at the median, "
            f"{_duration(timing['commit_to_public_p90_s'])} with every stage at its p90",
            f"critical path: {path}"]


def _cost(plan: dict) -> list[str]:
    cost = plan.get("cost")
    if cost is None:
        return [f"cost: unavailable: {plan['cost_unavailable']}"]
    def rows(items):
        return [(i["what"], i["quantity"], i["unit"], f"${i['unit_price_usd']}", f"${i['amount_usd']}") for i in items]
    header = ("what", "quantity", "unit", "unit price", "amount")
    prices = cost["prices"]
    return [f"cost (prices: {prices['source']} of {prices['as_of']}; snapshot size: {cost['snapshot_size']}):",
            f"  one release: ${cost['per_release_usd']}", columns(header, rows(cost["per_release"]), indent="    "),
            f"  the {cost['keep_releases']} kept releases' storage, each month: ${cost['kept_per_month_usd']}",
            columns(header, rows(cost["kept_per_month"]), indent="    "),
            f"  each month, at {cost['releases_per_month']} releases a month: ${cost['monthly_usd']}"]


def render(plan: dict) -> str:
    sections = [[f"plan of stream {plan['stream']} at {plan['planned_at']}"], _next_release(plan), _preflight(plan),
                _timing(plan), _cost(plan)]
    return "\n\n".join("\n".join(section) for section in sections)


def run(args) -> int:
    plan = ApiClient(args.api, profile=args.profile, region=args.region).plan(args.stream, args.regions)
    print(json.dumps(plan, indent=2) if args.output == "json" else render(plan))
    return 0
