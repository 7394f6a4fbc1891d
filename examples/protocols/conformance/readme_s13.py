"""The README's S13 examples, run: each `s13_check.py` command of the README's Diameter S13
section is run against a peer serving the demo's index, and its last line must be the last
`#` line shown after it (the verdict).

    python readme_s13.py README.md HOST PORT
"""

import subprocess
import sys
from pathlib import Path


def examples(readme: str):
    section = readme.split("### Diameter S13", 1)[1]
    block = section.split("```sh\ncd examples/protocols/conformance\n", 1)[1].split("\n```", 1)[0]
    lines = block.splitlines()
    for i, line in enumerate(lines):
        if "s13_check.py" not in line or line.startswith("#"):
            continue
        args = line.split("s13_check.py", 1)[1].split("|", 1)[0].split()
        following = []
        for l in lines[i + 1:]:
            if not l.startswith("# "):
                break
            following.append(l[2:])
        yield line, args, following[-1]


def main() -> int:
    readme, host, port = Path(sys.argv[1]).read_text(), sys.argv[2], sys.argv[3]
    here = Path(__file__).parent
    failed = checked = 0
    for line, args, expected in examples(readme):
        # The README talks to 127.0.0.1:3868; this run's peer listens elsewhere.
        args = [host, port] + args[2:]
        out = subprocess.run([sys.executable, str(here / "s13_check.py"), *args],
                             capture_output=True, text=True, timeout=60)
        last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
        checked += 1
        if last != expected:
            failed += 1
            print(f"README: {line}\n  printed: {last!r}\n  README shows: {expected!r}\n{out.stderr}")
    print(f"README S13 examples: {checked} checked, {failed} differ")
    return 1 if failed or checked < 3 else 0


if __name__ == "__main__":
    sys.exit(main())
