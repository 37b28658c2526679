"""A long differential run of the nftables judgement against a real kernel.

Draws `--rulesets` rulesets (fixed `--seed`), loads each on the server side, tries TCP
connections to 11434 from every client source over IPv4 and IPv6, and compares the kernel's
answer with `compliance.syntax.nft.judge`. Prints the tally (rulesets, tries, the share
judged, agreements, disagreements, why the rest was unknown) and every disagreement with its
ruleset; exits 1 on any disagreement.

    python3 bench/nft_differential.py --rulesets 1000             # the lab: CT 955, ollama-lan
    python3 bench/nft_differential.py --rulesets 1000 --side private   # two namespaces made here

`--side lab` changes the lab's CT (its ruleset is flushed at the end; reset the lab after,
`python3 -c "from lab import states; states.reset()"`). `--side private` touches nothing but
the two namespaces it makes and deletes. Both need root.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from selftests.nftdiff import differential  # noqa: E402
from selftests.nftdiff.sides import Side, lab_side, private_pair  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rulesets", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=955)
    parser.add_argument("--side", choices=("lab", "private"), default="lab")
    parser.add_argument("--ctid", type=int, default=955)
    parser.add_argument(
        "--shrink", action="store_true", help="stop at the first disagreement and shrink it"
    )
    args = parser.parse_args()
    if args.side == "lab":
        from lab import lan, states

        states.reset()
        lan.ensure()
    made: AbstractContextManager[Side] = (
        lab_side(args.ctid) if args.side == "lab" else private_pair()
    )
    started = time.monotonic()
    with made as side:
        problems = []
        for name, text in differential.closed_examples(side):
            problems += differential.closed_problems(side, name, text)
        tally = differential.run(side, args.rulesets, args.seed, stop_at_first=args.shrink)
    took = time.monotonic() - started
    print(f"{side.name}, seed {args.seed}, {took:.0f}s: {tally.summary()}")
    print(f"refused by nft: {dict(tally.refusals.most_common())}")
    print(f"not judged, why: {dict(tally.unknowns.most_common())}")
    for problem in problems:
        print(f"CLOSED EXAMPLE: {problem}")
    for text, one in tally.disagreements:
        print(f"DISAGREEMENT: {one}\n{text}")
    return 1 if tally.disagreements or problems else 0


if __name__ == "__main__":
    sys.exit(main())
