"""tools/gen_protos.py: the checked-in agwproto package matches proto/, and ``--check`` notices
when it does not. Leaves out what the messages mean (the translator and proxy tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import gen_protos


def test_generated_package_is_current() -> None:
    assert gen_protos.stale_files() == []
    assert gen_protos.main(["--check"]) == 0


def test_check_fails_on_a_stale_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "agwproto"
    for name, content in gen_protos.existing().items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes(content)
    stale = copy / "agw" / "filters" / "v1alpha1" / "authorization_pb2.py"
    stale.write_bytes(stale.read_bytes() + b"# edited by hand\n")
    (copy / "leftover_pb2.py").write_bytes(b"")
    monkeypatch.setattr(gen_protos, "PACKAGE_DIR", copy)
    assert gen_protos.main(["--check"]) == 1
    reported = capsys.readouterr().out
    assert "agw/filters/v1alpha1/authorization_pb2.py" in reported
    assert "leftover_pb2.py" in reported
    gen_protos.main([])
    assert gen_protos.stale_files() == []
