"""A fresh clone has no reference folder beside it: the tests that read real files from the wild must pass on
the repository's own copies alone. Runs them in a copy of the tracked files with the reference folder
unset, as a user's clone would."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from conftest import REFERENCE_ENVIRONMENT, REPO

REFERENCE_TESTS = ["tests/test_architectures.py", "tests/test_attention.py"]


def test_reference_dependent_tests_pass_without_the_shared_folder(tmp_path):
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    clone = tmp_path / "clone"
    for name in tracked:
        if (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)
    environment = {key: value for key, value in os.environ.items() if key != REFERENCE_ENVIRONMENT}
    environment |= {"PYTHONPATH": str(clone), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "(fagan or conf) and not progressive_train",
                             *REFERENCE_TESTS], cwd=clone, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed and int(passed.group(1)) >= 8, result.stdout[-2000:]
