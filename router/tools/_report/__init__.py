"""`python -m router report`: what the ledger says about requests, money, speed and policy.

`build_report(ledger, since=..., tenant=...)` reads a ledger and returns a `Report`, a
frozen value (`to_dict()` is JSON-ready); `render_text` and `render_html` show it;
`main(argv)` is the command line. The ledger is only read, never written:
`Ledger(path, create=False)` refuses a missing, corrupt or foreign file with
`LedgerError`, untouched.

Modules: `values` (the frozen values and the constants that define them), `build` (the
SQL scan and the sums), `compliance` (the rule's SQL, the offenders), `text`
(`render_text` and the wording both views share), `html` (`render_html`: the page, its
SVG charts and CSS), `command` (`main`: arguments, `--html` target checks, atomic write).

Definitions (every figure is over the records selected by `since` and `tenant`):

- requests: every record: answered, failed, unservable or interrupted.
- served: outcome `ok` or `interrupted` (a stream cut after part of the answer reached
  the caller, by the provider's failure or by the caller leaving, error
  `ClosedByCaller`: the deployment did see the request and did answer).
- spend: the sum of `cost_micro` (integer micro-dollars, exact), shown in USD.
- baseline: what the same usage would have cost on the configured baseline model, summed
  over the records that have one (a Router built without `baseline` writes none).
  saved = baseline - spend over those same records; saved % = saved / baseline.
- your machines: deployments with `hosting` in `YOUR_MACHINES` = ("local",
  "self-hosted"): machines you control, where the shipped confidential-local pack lets
  confidential data go.
- free share: served requests that cost $0 (free deployments and cache hits), out of
  served. local share: served requests whose deployment is `hosting = "local"`, out of
  served. on-your-machines share ("yours"): served requests whose deployment is local or
  self-hosted, out of served. Self-hosted deployments (your GPUs, with a cost model) are
  on your machines but not "local", and not necessarily free.
- cache hit rate: served requests answered from the response cache, out of served.
- errors: outcome `error` (no deployment answered); unservable: nothing was allowed to
  serve (`NoEligibleDeployment`); fallbacks: the sum of fallback attempts (an attempt
  that moved on to the next deployment of the plan), and how many requests had one.
- latency: p50/p90/p99 of the served requests' end-to-end latency, nearest-rank.
- compliance: requests per sensitivity level x hosting kind of the deployment that
  served them ("not served" for the others). Confidential-or-above = `confidential` and
  `restricted`. "Non-local" in the compliance lines means *not on your machines*: a
  hosting other than local or self-hosted, or none recorded (fail closed: an unknown
  hosting counts). "served by non-local deployments" counts served requests of that
  level whose deployment is not on your machines; it must be 0. A second line counts
  requests of that level that such a deployment was *sent* (a failed attempt before a
  fallback, or before giving up) but did not serve: the prompt left your machines all
  the same. Offending records are listed by id, time, tenant, sensitivity and
  deployment, never with prompt text; in the page, the offending cells of the table are
  marked.
"""

from __future__ import annotations

from router.tools._report.build import build_report, parse_since
from router.tools._report.command import main
from router.tools._report.html import render_html
from router.tools._report.text import compliance_line, money, render_text
from router.tools._report.values import (
    CONFIDENTIAL_OR_ABOVE,
    HOSTING_KINDS,
    OFFENDERS_SHOWN,
    YOUR_MACHINES,
    Compliance,
    Latency,
    Offender,
    Report,
    Stats,
)

__all__ = [
    "CONFIDENTIAL_OR_ABOVE",
    "HOSTING_KINDS",
    "OFFENDERS_SHOWN",
    "YOUR_MACHINES",
    "Compliance",
    "Latency",
    "Offender",
    "Report",
    "Stats",
    "build_report",
    "compliance_line",
    "main",
    "money",
    "parse_since",
    "render_html",
    "render_text",
]
