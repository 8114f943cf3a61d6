"""Plan three requests with examples/router.toml and print where each would go.

Run: .venv/bin/python examples/quickstart.py   (no model is called, no key needed)
"""

from pathlib import Path
from typing import Any

import router

CONFIG = Path(__file__).with_name("router.toml")


def main() -> None:
    r = router.Router.from_config(CONFIG)
    requests: list[tuple[str, list[dict[str, str]], dict[str, Any]]] = [
        ("easy", [{"role": "user", "content": "Suggest a name for a bakery."}], {}),
        (
            "card number",
            [{"role": "user", "content": "Refund card 4111 1111 1111 1111 please."}],
            {},
        ),
        ("needs 60k tokens", [{"role": "user", "content": "word " * 60_000}], {}),
    ]
    for label, messages, options in requests:
        decision = r.plan(messages, **options)
        chosen = decision.chosen
        assert chosen is not None  # plan() raises NoEligibleDeployment otherwise
        print(f"{label:<18} -> {chosen.name:<14} ${chosen.est_cost_usd:.6f}  ({chosen.why})")


if __name__ == "__main__":
    main()
