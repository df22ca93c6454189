"""What `nightly` prints: each SKIPPED line once, before any image work (issue 22 item 4)."""

from __future__ import annotations

from builder.cli import main


def test_nightly_says_each_skipped_profile_once(tmp_path, profiles_dir, capsys, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    args = [
        "nightly", "--bare", "--profiles", "a10-fp16", "t4-fp16", "--profiles-dir", str(profiles_dir),
        "--artifacts", str(tmp_path / "artifacts"), "--reports", str(tmp_path / "reports"),
        "--models", str(tmp_path / "models"), "--cache-dir", str(tmp_path / "cache"),
    ]  # fmt: skip
    main(args)
    out = capsys.readouterr().out.splitlines()
    skipped = [line for line in out if "SKIPPED" in line]
    assert [line.split(":")[0] for line in skipped] == ["SKIPPED a10-fp16", "SKIPPED t4-fp16"], out
    assert out[:2] == skipped, "said before anything else"
