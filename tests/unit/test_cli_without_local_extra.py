"""The CLI installed without its ``local`` extra: the maintainers' commands work, and the local
runtime's commands say what to install instead of failing with a traceback."""

import subprocess
import sys
import textwrap

# A Python whose import of moto or aws-sam-translator fails, as where the extra is not installed.
WITHOUT_THE_EXTRA = textwrap.dedent("""
    import sys
    from importlib.abc import MetaPathFinder

    class Absent(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("moto", "samtranslator"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Absent())
""")


def run_without_the_extra(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_THE_EXTRA + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)


def test_the_maintainers_commands_import_without_moto():
    finished = run_without_the_extra("""
        import atomic_release.cli.main, atomic_release.cli.releases, atomic_release.cli.page_proxy
        import atomic_release.cli.repo_show, atomic_release.cli.images
        assert "moto" not in sys.modules
        print("imported")
    """)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "imported"


def test_a_local_command_without_the_extra_names_what_to_install():
    finished = run_without_the_extra("""
        from atomic_release.cli.main import main
        sys.exit(main(["local", "release", "--stream", "developer"]))
    """)
    assert finished.returncode == 2
    assert "Traceback" not in finished.stderr
    assert finished.stderr.strip() == (
        "atomic-release: the local runtime needs moto, which this installation lacks: install the CLI "
        "with its local extra (pip install 'atomic-release[local]')")
