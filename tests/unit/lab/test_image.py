"""ovnmeta.lab.image: where the base comes from and when the image is rebuilt (pure parts)."""

from ovnmeta.lab.image import INPUTS, input_files, inputs_digest, mirror_from_sources

DEB822 = """\
Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb deb-src
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
"""


def test_mirror_from_deb822_skips_the_security_suite():
    assert mirror_from_sources([DEB822]) == "http://mirror.example/debian"


def test_mirror_from_one_line_lists_with_options_and_comments():
    text = (
        "# deb http://old.example/debian bookworm main\n"
        "deb [signed-by=/usr/share/keyrings/k.gpg] http://one.example/debian bookworm main\n"
    )
    assert mirror_from_sources(["", text]) == "http://one.example/debian"


def test_no_source_for_the_suite():
    assert mirror_from_sources(["deb http://x.example/debian bullseye main\n"]) is None
    assert mirror_from_sources(["Types: deb-src\nURIs: http://x\nSuites: bookworm\n"]) is None


def test_digest_changes_with_content_path_and_base(tmp_path):
    a = tmp_path / "a.py"
    a.write_text("x = 1\n")
    first = inputs_digest(tmp_path, [a], "base1")
    assert inputs_digest(tmp_path, [a], "base1") == first
    assert inputs_digest(tmp_path, [a], "base2") != first
    a.write_text("x = 2\n")
    assert inputs_digest(tmp_path, [a], "base1") != first


def test_the_checkout_inputs_are_found_without_caches(tmp_path):
    for name in INPUTS:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == "src":
            (path / "pkg" / "__pycache__").mkdir(parents=True)
            (path / "pkg" / "m.py").write_text("")
            (path / "pkg" / "__pycache__" / "m.cpython-311.pyc").write_text("")
        else:
            path.write_text(name)
    found = {p.relative_to(tmp_path).as_posix() for p in input_files(tmp_path)}
    assert "src/pkg/m.py" in found and not any("__pycache__" in f for f in found)
