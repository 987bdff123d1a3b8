"""A command whose extra is missing names the extra that installs what it lacks."""

from mlmon_nb.cli import extra_for


def test_the_missing_module_names_its_own_extra_unless_the_command_s_extra_has_it():
    assert extra_for("dask", "baseline") == "scale"        # only [scale] installs dask
    assert extra_for("duckdb.typing", "baseline") == "scale"
    assert extra_for("yaml", "stack") == "stack"           # [stack] includes [notebooks]
    assert extra_for("yaml", "baseline") == "notebooks"    # the smallest extra that has it
    assert extra_for("starlette", "run") == "launcher"
    assert extra_for("multipart") == "launcher"            # import name ≠ distribution name
    assert extra_for("not_a_dependency") == ""
