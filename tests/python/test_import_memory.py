"""`faultline import` holds to its memory budget: an OTLP/JSON export of 80 MB on one line (the
shape that used to be read whole, three times its size in memory) imports every span with a peak
RSS near --max-memory, not near the file's size."""

import subprocess
import sys
import time

SPANS = 260_000


def write_export(path):
    now = time.time_ns() - 3600 * 10**9
    with open(path, "w") as f:
        f.write('{"resourceSpans":[')
        for r in range(4):
            if r:
                f.write(",")
            f.write('{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc-%d"}}]},'
                    '"scopeSpans":[{"scope":{"name":"gen"},"spans":[' % r)
            per = SPANS // 4
            f.write(",".join(
                '{"traceId":"%032x","spanId":"%016x","name":"GET /api/items/{id}","kind":2,'
                '"startTimeUnixNano":"%d","endTimeUnixNano":"%d","attributes":[{"key":"user","value":'
                '{"stringValue":"user-%d"}}]}' % (k // 10 + 1, k + 1, now + k * 1000, now + k * 1000 + 500000, k)
                for k in range(r * per, (r + 1) * per)))
            f.write("]}]}")
        f.write("]}")


def test_a_huge_one_line_export_imports_within_the_budget(binary, tmp_path):
    src = tmp_path / "export.json"
    write_export(src)
    size_mb = src.stat().st_size / 2**20
    assert size_mb > 60
    # A fresh process runs the import, so its children's peak RSS is the import's alone.
    measure = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
               "print(r.stdout); print(r.stderr, file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", measure, binary, "import", "--data-dir", str(tmp_path / "d"),
                        "--max-memory", "64MB", str(src)], capture_output=True, text=True, timeout=600)
    code, peak_kb = r.stdout.split("\n", 1)[0].split()
    assert code == "0", r.stderr
    assert f"{SPANS} spans imported (OTLP/JSON)" in r.stdout, r.stdout
    peak_mb = int(peak_kb) / 1024
    # The budget, plus the program itself and one chunk being decoded: well under the file's size.
    assert peak_mb < 64 + 100, f"peak RSS {peak_mb:.0f} MB for a {size_mb:.0f} MB file with a 64 MB budget"
    s = subprocess.run([binary, "status", "--data-dir", str(tmp_path / "d"), "--format", "json"],
                       capture_output=True, text=True, timeout=120)
    assert s.returncode == 0, s.stderr
    import json
    assert json.loads(s.stdout)["tables"]["spans"]["rows"] == SPANS, s.stdout[:500]
