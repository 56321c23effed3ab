"""Regenerate the Python code of protos/ into src/regent/proto/ (or into another directory).

    python tools/genproto.py            # write src/regent/proto/*_pb2*.py(i)
    python tools/genproto.py --out DIR  # write into DIR/regent/proto/ (the staleness test uses this)

Generated code is never edited by hand: change the .proto and run this (`make protos`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"


def generate(out: Path) -> list[Path]:
    sources = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "regent" / "proto").glob("*.proto"))
    (out / "regent" / "proto").mkdir(parents=True, exist_ok=True)
    include = str(Path(protoc.__file__).parent / "_proto")
    # protoc finds the mypy plugins (protoc-gen-mypy, from mypy-protobuf) on PATH: use this interpreter's.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted((out / "regent" / "proto").glob("*_pb2*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "src")
    args = parser.parse_args()
    for path in generate(args.out):
        print(path.relative_to(args.out), file=sys.stderr)


if __name__ == "__main__":
    main()
