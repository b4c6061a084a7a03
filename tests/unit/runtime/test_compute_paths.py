"""An input's path_on_compute stays inside the task's working folder, whatever it says."""

from __future__ import annotations

import os

import pytest

from amlflow.exceptions import StepFailedError
from amlflow.runtime.compute_paths import input_path


def test_an_absolute_path_on_compute_is_re_rooted_under_the_working_folder(tmp_path):
    # The batch-scoring tutorial's as_mount("/tmp/<uuid>"): concurrent tasks on one worker must not share it.
    assert input_path(str(tmp_path), {"name": "labels", "path_on_compute": "/tmp/abc"}, "datasets") == os.path.join(
        tmp_path, "tmp", "abc"
    )


def test_a_relative_path_and_the_default_folder_are_inside_the_working_folder(tmp_path):
    assert input_path(str(tmp_path), {"name": "x", "path_on_compute": "data/in"}, "inputs") == str(tmp_path / "data/in")
    assert input_path(str(tmp_path), {"name": "x", "path_on_compute": None}, "inputs") == str(tmp_path / "inputs/x")


@pytest.mark.parametrize("given", ["../elsewhere", "/a/../../etc", "data/../../x"])
def test_a_path_leading_out_of_the_working_folder_is_refused_naming_input_and_field(tmp_path, given):
    with pytest.raises(StepFailedError, match=r"input 'labels', field 'path_on_compute': .* leads out of"):
        input_path(str(tmp_path), {"name": "labels", "path_on_compute": given}, "datasets")
