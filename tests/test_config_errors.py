"""Config files that cannot be read: each error names the file (and line:column where there is one)."""

import pathlib

import pytest

from jaxrep import config
from jaxrep.cli import main


def _write(tmp_path, data: bytes, name="c.yaml") -> pathlib.Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "text, line_col, words",
    [
        (b"task: regression\ntrain:\n  steps: 10: 3\n", "3:12", ["mapping values are not allowed"]),
        (b"task: regression\ntrain:\n  steps: [1, 2\nmodel: {}\n", "4:6",
         ["flow sequence started at line 3"]),
        (b"task: regression\n\ttrain: {}\n", "2:1", ["'\\t'"]),
        (b"task: regression\x07\n", "1:17", ["'\\x07'"]),
    ],
)
def test_yaml_syntax_error_names_file_line_column(tmp_path, text, line_col, words):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError) as err:
        config.load(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:{line_col}: invalid YAML")
    assert "<unicode string>" not in msg
    for w in words:
        assert w in msg


def test_files_are_data_safe_load_only(tmp_path):
    marker = tmp_path / "ran"
    path = _write(tmp_path, f"task: regression\ntrain: !!python/object/apply:os.system ['touch {marker}']\n"
                  .encode())
    with pytest.raises(ValueError, match=rf"{path}:2:8: invalid YAML: could not determine a constructor"):
        config.load(path)
    assert not marker.exists()


def test_binary_file(tmp_path):
    path = _write(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image.yaml")
    with pytest.raises(ValueError, match=r"'.*image\.yaml' is a binary file"):
        config.load(path)


def test_non_utf8_file_names_the_byte_and_place(tmp_path):
    path = _write(tmp_path, "task: regression\n# r\u00e9gression\n".encode("latin-1"))
    with pytest.raises(ValueError) as err:
        config.load(path)
    assert str(err.value) == f"{path}:2:4: config file is not UTF-8 text (byte 0xe9); save it as UTF-8"
    # A UTF-8 file (with or without a byte-order mark) is fine.
    for bom in (b"", b"\xef\xbb\xbf"):
        path.write_bytes(bom + "task: regression\n# r\u00e9gression\n".encode())
        assert config.load(path).task == "regression"


def test_directory(tmp_path):
    (tmp_path / "mine.yaml").write_text("task: regression\n")
    with pytest.raises(IsADirectoryError, match=r"is a directory, not a YAML file; pass one of its YAML files"):
        config.load(tmp_path)


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"config file '.*missing\.yaml' does not exist"):
        config.load(tmp_path / "missing.yaml")
    with pytest.raises(FileNotFoundError, match=r"no config file or bundled config named 'burgrs'; "
                                                r"did you mean 'burgers'"):
        config.load("burgrs")


def test_empty_and_not_a_mapping(tmp_path):
    with pytest.raises(ValueError, match=r"'.*c\.yaml' is empty"):
        config.load(_write(tmp_path, b"# nothing here\n"))
    with pytest.raises(ValueError, match=r"must hold a YAML mapping, got list"):
        config.load(_write(tmp_path, b"- 1\n- 2\n"))


def test_override_with_invalid_yaml_names_the_override():
    with pytest.raises(ValueError, match=r"override 'train.steps=\[1,': the value is not valid YAML"):
        config.load("regression", overrides=["train.steps=[1,"])


@pytest.mark.parametrize(
    "data, words",
    [
        (b"task: regression\ntrain:\n  steps: 10: 3\n", [":3:12: invalid YAML"]),
        (b"\x00\x01\x02", ["is a binary file"]),
        (b"task: \xff\n", [":1:7: config file is not UTF-8"]),
    ],
)
def test_cli_prints_one_line_and_exits_2(tmp_path, capsys, data, words):
    path = _write(tmp_path, data)
    assert main(["show", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0]
    for w in words:
        assert w in err[0]
    assert main(["run", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a directory" in err[0]
