"""Signed manifests: a forger who can write the output folder can rewrite files, manifest and run log
consistently, but not the signature; verify tells signed, unsigned and tampered apart."""

import hashlib
import json
import os
import stat

import pytest

from credit_lab.core.exceptions import ParamsError
from credit_lab.data import io
from credit_lab.run import cli, pipeline, signing
from credit_lab.run.store import compare_runs, verification


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    private, public, fp = signing.keygen(folder)
    return private, public, fp


def _sealed_run(out_root, run_id="r1", signer=None, rows="a,b\n1,2\n", key="k", inputs=None):
    """A run folder sealed the way the pipeline seals one: manifest with hashes, signature, chained log line."""
    folder = out_root / run_id
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "limits.csv").write_text(rows)
    (folder / "index.html").write_text("<p>run</p>")
    manifest = {"run_id": run_id, "status": "succeeded", "started_at": f"2026-12-0{len(run_id)}T00:00:00",
                "finished_at": "2026-12-07T00:01:00", "reproduction_key": key, "params": {"run_id": run_id},
                "inputs": inputs or {"invoices:/in/invoices.csv": "1"},
                "stages": {"01": {"seconds": 1.0 + len(run_id)}}}
    pipeline._close_run(out_root, folder, manifest, signer)
    return folder


def _forge(folder):
    """Change a file and rewrite its hash, the manifest and the run log's line, all consistently."""
    (folder / "data" / "limits.csv").write_text("a,b\n1,999999\n")
    manifest = io.read_json(folder / "manifest.json")
    manifest["outputs"]["data/limits.csv"] = io.sha256_file(folder / "data" / "limits.csv")
    io.write_json(folder / "manifest.json", manifest)
    log = folder.parent / "runs.jsonl"
    lines = log.read_bytes().splitlines()
    entry = json.loads(lines[-1])
    entry["manifest_sha256"] = io.sha256_file(folder / "manifest.json")
    entry["prev_entry_sha256"] = hashlib.sha256(lines[-2]).hexdigest() if len(lines) > 1 else None
    lines[-1] = json.dumps(entry, sort_keys=True).encode()
    log.write_bytes(b"\n".join(lines) + b"\n")


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(keys):
    private, public, fp = keys
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert fp.startswith("ed25519:") and fp == signing.fingerprint(signing.load_public_key(public))
    with pytest.raises(ParamsError, match="exists"):
        signing.keygen(private.parent)


def test_a_signing_key_must_be_private_outside_the_output_folder_and_a_key(tmp_path, keys):
    private, _, _ = keys
    with pytest.raises(ParamsError, match="inside the output folder"):
        signing.load_private_key(private, output_dir=private.parent)
    loose = tmp_path / "loose.key"
    loose.write_bytes(private.read_bytes())
    os.chmod(loose, 0o644)
    with pytest.raises(ParamsError, match="chmod 600"):
        signing.load_private_key(loose)
    junk = tmp_path / "junk.key"
    junk.write_text("not a key")
    os.chmod(junk, 0o600)
    with pytest.raises(ParamsError, match="not an unencrypted PEM private key"):
        signing.load_private_key(junk)
    with pytest.raises(ParamsError, match="credit-lab keygen"):
        signing.load_private_key(tmp_path / "none.key")


def test_a_signed_run_verifies_and_a_consistent_forgery_does_not(tmp_path, keys):
    private, public, fp = keys
    signer, pub = signing.load_private_key(private), signing.load_public_key(public)
    folder = _sealed_run(tmp_path / "out", signer=signer)
    assert io.read_json(tmp_path / "out" / "runs.jsonl")["signed_by"] == fp
    assert verification(folder, pub).status == "verified and signed"
    assert verification(folder).status == "hash-consistent, signature not checked"
    _forge(folder)
    # the hashes and the chain alone cannot see it: that is what the signature is for
    assert verification(folder).problems == []
    forged = verification(folder, pub)
    assert forged.status == "tampered" and any("bad signature" in p for p in forged.problems)
    # removing the signature does not help the forger: a key was given, so a signature is required
    (folder / signing.SIGNATURE).unlink()
    assert any("unsigned: a public key" in p for p in verification(folder, pub).problems)
    # nor signing with the forger's own key
    other_private, _, _ = signing.keygen(tmp_path / "forger")
    signing.sign_manifest(folder, signing.load_private_key(other_private))
    assert any("signed by another key" in p for p in verification(folder, pub).problems)


def test_an_unsigned_run_is_hash_consistent_and_says_what_that_does_not_prove(tmp_path, keys, capsys):
    folder = _sealed_run(tmp_path / "out")
    assert verification(folder).status == "hash-consistent, unsigned"
    assert cli.main(["verify", str(folder)]) == 0
    assert "not a forger" in capsys.readouterr().out
    assert cli.main(["verify", str(folder), "--public-key", str(keys[1])]) == 1
    assert "tampered" in capsys.readouterr().out


def test_verify_against_tells_a_rerun_from_a_different_run(tmp_path, capsys):
    out = tmp_path / "out"
    original, rerun = _sealed_run(out, "r1"), _sealed_run(out, "r22")
    differences, expected, n = compare_runs(rerun, original)
    assert differences == [] and n == 2
    assert any("started_at" in e for e in expected) and any("seconds" in e for e in expected)
    assert cli.main(["verify", str(rerun), "--against", str(original)]) == 0
    assert "all 2 files byte-identical" in capsys.readouterr().out
    other = _sealed_run(out, "r333", rows="a,b\n1,3\n")
    differences, _, _ = compare_runs(other, original)
    assert differences == ["differs: data/limits.csv"]
    assert cli.main(["verify", str(other), "--against", str(original)]) == 1
    new_data = _sealed_run(out, "r55555", key="k2", inputs={"invoices:/in/invoices.csv": "2"})
    differences, _, _ = compare_runs(new_data, original)
    assert differences[0] == "not a rerun: the params or the input files differ (input files: invoices)"


def test_keygen_command(tmp_path, capsys):
    assert cli.main(["keygen", str(tmp_path / "k")]) == 0
    out = capsys.readouterr().out
    assert "credit-lab-signing.key" in out and "--public-key" in out
    assert cli.main(["keygen", str(tmp_path / "k")]) == 2  # refuses to overwrite: a usage error
