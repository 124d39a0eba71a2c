"""No run-time download attempt: ESPnet's tokenizer chain no longer runs g2p_en's NLTK download.

``espnet2.text.phoneme_tokenizer`` imports ``g2p_en`` at module level and ``g2p_en`` calls
``nltk.download(...)`` when its data is absent (offline: ``[nltk_data] Error loading ...`` in every
log). The offline test imports what the recipe imports (ESPnet's ``CommonPreprocessor`` for char
tokens, as the probe and the latent TTS build it, and ``tokenize_text`` through
``espnet_plugin.bin.espnet``) with the network blocked, and asserts that g2p_en's body and NLTK
never ran and that no connection was attempted.
"""
from __future__ import annotations

import json
import subprocess

import sys
import textwrap
from pathlib import Path

from espnet_plugin import lazy_imports

ROOT = Path(__file__).resolve().parents[1]


def test_defer_runs_the_body_on_first_attribute(tmp_path, monkeypatch):
    pkg = tmp_path / "fake_g2p_pkg"
    pkg.mkdir()
    marker = tmp_path / "ran"
    (pkg / "__init__.py").write_text(
        f"open({str(marker)!r}, 'a').write('x')\nfrom .sub import G2p\n")
    (pkg / "sub.py").write_text("class G2p:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fake_g2p_pkg", raising=False)
    monkeypatch.delitem(sys.modules, "fake_g2p_pkg.sub", raising=False)

    assert lazy_imports.defer("fake_g2p_pkg") is True
    import fake_g2p_pkg  # noqa: F401  (binds the lazy module)

    assert not marker.exists(), "the module body ran at import time"
    import inspect
    inspect.getmodule(test_defer_runs_the_body_on_first_attribute)  # scans sys.modules' __file__
    assert fake_g2p_pkg.__file__ == str(pkg / "__init__.py")  # as the real module will have it
    assert not marker.exists(), "introspection of sys.modules ran the module body"
    assert fake_g2p_pkg.G2p.__name__ == "G2p"  # first attribute: the real body runs, once
    assert marker.read_text() == "x"
    assert lazy_imports.defer("fake_g2p_pkg") is False  # already imported: nothing to defer
    assert lazy_imports.defer("no_such_module_xyz") is False


def test_deferred_package_submodule_import(tmp_path, monkeypatch):
    pkg = tmp_path / "fake_g2p_pkg2"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .sub import G2p\n")
    (pkg / "sub.py").write_text("class G2p:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("fake_g2p_pkg2", "fake_g2p_pkg2.sub"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert lazy_imports.defer("fake_g2p_pkg2")
    import fake_g2p_pkg2.sub  # the parent's __path__ is needed: the real package runs

    assert fake_g2p_pkg2.sub.G2p is fake_g2p_pkg2.G2p


OFFLINE_DRIVER = textwrap.dedent('''
    import json, socket, sys, urllib.request
    attempts = []
    def blocked(*args, **kwargs):
        attempts.append(repr(args)[:80])
        raise OSError("network blocked by the test")
    socket.create_connection = blocked
    socket.socket.connect = blocked
    urllib.request.urlopen = blocked

    import espnet_plugin  # what every espnet_plugin.bin entry point imports first
    from espnet2.train.preprocessor import CommonPreprocessor
    pre = CommonPreprocessor(train=False, token_type="char", token_list=["<blank>", "<unk>", "a", "b", "<sos/eos>"],
                             text_cleaner=None, g2p_type=None)
    ids = pre("utt1", {"text": "ab ba"})["text"].tolist()

    from espnet_plugin.bin.espnet import main
    main(["espnet2.bin.tokenize_text", "--token_type", "char", "--input", sys.argv[1], "--output", sys.argv[2],
          "--field", "2-", "--cleaner", "none", "--g2p", "none", "--write_vocabulary", "true"])
    print("RESULT " + json.dumps({"ids": ids, "attempts": attempts,
                                  "g2p_en_ran": "g2p_en.g2p" in sys.modules, "nltk": "nltk" in sys.modules}))
''')


def test_offline_path_makes_no_download_attempt(tmp_path):
    text = tmp_path / "text"
    text.write_text("utt1 ab ba\nutt2 aab\n")
    vocab = tmp_path / "tokens.txt"
    driver = tmp_path / "driver.py"
    driver.write_text(OFFLINE_DRIVER)
    proc = subprocess.run([sys.executable, str(driver), str(text), str(vocab)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    result = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    assert "[nltk_data]" not in out, out[-3000:]
    assert result["attempts"] == [], result
    assert result["g2p_en_ran"] is False and result["nltk"] is False, result  # the body never ran
    assert result["ids"] == [2, 3, 1, 3, 2]  # a b <space>-><unk> b a: the char tokens still work
    assert set(vocab.read_text().split()) >= {"a", "b"}
