"""Settings: one place, every field described and listed in .env.example."""

from pathlib import Path

from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _env_name(name, field) -> str:
    alias = field.validation_alias
    return alias.choices[0] if alias is not None else f"PAPERS_{name.upper()}"


def test_every_setting_is_described_and_in_env_example():
    example = (ROOT / ".env.example").read_text()
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"
        assert f"# {_env_name(name, field)}=" in example, f"{name} missing from .env.example"


def test_standard_names_and_empty_values(monkeypatch, tmp_path):
    monkeypatch.setenv("CHROMA_HOST", "db.example")
    monkeypatch.setenv("CHROMA_PORT", "9000")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("PAPERS_LOCAL_MODEL_PATH", "")
    monkeypatch.setenv("PAPERS_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert (settings.chroma_host, settings.chroma_port) == ("db.example", 9000)
    assert settings.openai_base_url == "http://127.0.0.1:1/v1"
    assert settings.local_model_path is None
    assert settings.data_dir == tmp_path
    assert settings.chroma_dir == tmp_path / "chroma"


def test_api_key_is_secret(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-do-not-print")
    assert "sk-do-not-print" not in repr(Settings())
