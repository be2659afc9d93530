"""`make package`: the deployable stack, as `chalice package` makes it with infra/release.yaml.

The output folder holds `sam.yaml` (the functions, roles, API and rules chalice generates,
merged with infra/release.yaml), `deployment.zip` (the code of every function) and
`state_machines/` (the ASL the template's DefinitionUri names), so `aws cloudformation package`
can upload everything it references from there."""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MERGE_TEMPLATE = ROOT / "infra" / "release.yaml"
STATE_MACHINES = ROOT / "state_machines"
TEMPLATE_NAME = "sam.yaml"
BUNDLE_NAME = "deployment.zip"


class PackageError(RuntimeError):
    pass


def build_package(out: Path, stage: str = "prod") -> Path:
    """Package the app for ``stage`` into ``out`` (replaced); returns the template's path.

    chalice downloads Linux wheels of requirements.txt once and keeps them in
    .chalice/deployments/; later packages reuse them."""
    out = Path(out).resolve()
    if out.exists():
        shutil.rmtree(out)
    environment = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    command = [sys.executable, "-c", "import sys; from chalice.cli import main; sys.exit(main())",
               "--project-dir", str(ROOT), "package", "--stage", stage,
               "--merge-template", str(MERGE_TEMPLATE), str(out)]
    done = subprocess.run(command, env=environment, capture_output=True, text=True)
    if done.returncode != 0:
        raise PackageError(f"chalice package failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    shutil.copytree(STATE_MACHINES, out / STATE_MACHINES.name)
    return out / TEMPLATE_NAME


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make package", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write (replaced)")
    parser.add_argument("--stage", default="prod", help="the chalice stage in .chalice/config.json (default: prod)")
    args = parser.parse_args(argv)
    try:
        template = build_package(args.out, args.stage)
    except PackageError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{template}\n{template.with_name(BUNDLE_NAME)}\n{template.with_name(STATE_MACHINES.name)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
