"""Models: state left on the machine before the diagnosis (International Dataset
of Flaky Tests: a test that exports a CSV file under $HOME and fails whenever that
file is already there).

test_export_report: exports to ~/.local/share/flakebox-example-stale/report.csv,
creating the file exclusively (open mode "x": the exporter refuses to overwrite a
report), checks it and removes it. A run that stopped between the export and the
removal (Ctrl-C, a crash) leaves the file behind, and from then on every run fails
with FileExistsError, on this machine only.

Expected, with a clean home: stable (pass). With the file left there before the
diagnosis, every condition fails alike (each copy-on-write view starts from the
host's files); `flakebox diagnose` names the file (a failing run opened it and it
predates the diagnosis), runs the command with it hidden (`run --hide`), and says
`fs fixes` with the clean-up:
    rm ~/.local/share/flakebox-example-stale/report.csv
"""
from pathlib import Path

REPORT = Path.home() / ".local" / "share" / "flakebox-example-stale" / "report.csv"


def export(rows):
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    with open(REPORT, "x") as f:  # refuses to overwrite: fails if a report is left
        f.writelines(f"{r}\n" for r in rows)


def test_export_report():
    export(["a", "b"])
    try:
        assert REPORT.read_text() == "a\nb\n"
    finally:
        REPORT.unlink()
