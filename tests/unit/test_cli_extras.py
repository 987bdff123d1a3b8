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


def test_run_names_the_launcher_extra_before_it_runs_anything(monkeypatch, capsys, tmp_path):
    """With [notebooks] alone, a run executed and then failed to render its page (nh3)."""
    import sys

    from mlmon_nb.cli import main
    monkeypatch.setitem(sys.modules, "nh3", None)  # as if not installed
    monkeypatch.setenv("MLMON_CONFIG", str(tmp_path / "absent.yaml"))
    assert main(["run", "HighErrorRate", "-p", "model_name", "m"]) == 2
    err = capsys.readouterr().err
    assert "run needs nh3" in err and "pip install 'mlmon_nb[launcher]'" in err
    assert not list(tmp_path.iterdir())  # no state, no run
