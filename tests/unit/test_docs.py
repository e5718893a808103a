"""The docs stay in step with the product: every configuration key is in docs/configuration.md, under its
section, and the README links only inside the repository."""

from __future__ import annotations

import re
import typing

from pydantic import BaseModel

from config.settings import Settings
from tests.harness import ROOT

DOC = (ROOT / "docs" / "configuration.md").read_text()


def _model_of(annotation: object) -> type[BaseModel] | None:
    for candidate in [annotation, *typing.get_args(annotation)]:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _section(name: str) -> str:
    """The text from the heading that names `name` to the next heading of the same level."""
    found = re.search(rf"^## [^\n]*`{re.escape(name)}`[^\n]*\n(.*?)(?=^## |\Z)", DOC, re.S | re.M)
    assert found, f"docs/configuration.md has no section for `{name}`"
    return found.group(1)


def test_every_configuration_key_is_documented_in_its_section() -> None:
    missing = []
    for section, field in Settings.model_fields.items():
        text = _section(section)
        model = _model_of(field.annotation)
        if model is None:
            continue
        for key, inner in model.model_fields.items():
            nested = _model_of(inner.annotation)
            names = [f"{key}.{k}" for k in nested.model_fields] if nested else [key]
            missing += [f"{section}.{name}" for name in names
                        if not re.search(rf"`[^`]*\b{re.escape(name)}\b[^`]*`", text)]
    assert not missing, f"configuration keys missing from docs/configuration.md: {missing}"


def test_the_readme_and_docs_link_only_inside_the_repository() -> None:
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        assert "../shared" not in text and "DESIGN.md" not in text, f"{path.name} points outside the repository"
        for target in re.findall(r"\]\(([^)#]+)", text):
            if not target.startswith(("http://", "https://")):
                assert (path.parent / target).exists(), f"{path.name} links to {target}, which does not exist"
