"""Models: state left in the working directory and in $HOME by earlier runs.

test_export_creates_output_dir: the exporter creates ./export with os.mkdir
(no exist_ok), as a "fresh checkout" would allow; the second run in the same
checkout fails with FileExistsError.

test_first_run_shows_welcome: the app keeps its state in
~/.cache/flakebox-example-cwdhome/state.json and shows a welcome message only
on the first launch. The test assumes a pristine home directory, true on a
fresh CI runner, false on any machine that ran it before.

Expected: `flakebox diagnose` -> environment, fs: fixes (writes to cwd and
$HOME land in a throwaway copy-on-write layer). Plain runs: the first passes,
later ones fail both tests until you clean up:
    rm -rf export ~/.cache/flakebox-example-cwdhome
"""
import json
import os
from pathlib import Path


def export_report(rows):
    os.mkdir("export")  # bug: fails if a previous run left the directory
    Path("export/report.csv").write_text("".join(f"{r}\n" for r in rows))


def launch_app() -> str:
    state_file = Path.home() / ".cache" / "flakebox-example-cwdhome" / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {"launches": 0}
    state["launches"] += 1
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(state))
    return "Welcome!" if state["launches"] == 1 else "Welcome back!"


def test_export_creates_output_dir():
    export_report(["a", "b"])
    assert Path("export/report.csv").read_text() == "a\nb\n"


def test_first_run_shows_welcome():
    assert launch_app() == "Welcome!"
