"""Generate the README's configuration table from workflow/schemas (the schema is the truth).

Usage: python tools/config_table.py            # print the table
       python tools/config_table.py --write    # replace the block between the README markers
tests/test_docs.py fails when the README's table drifts from the schema.
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from skelvis.config import load_schema

BEGIN, END = "<!-- config-table:begin -->", "<!-- config-table:end -->"


def _rows(schema, prefix=""):
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        if sub.get("type") == "object" and "properties" in sub:
            yield from _rows(sub, path + ".")
            continue
        if sub.get("type") == "object" and isinstance(sub.get("additionalProperties"), dict):
            yield path, "mapping", "", sub.get("description", "")
            yield from _rows(sub["additionalProperties"], path + ".<name>.")
            continue
        typ = sub.get("type", "")
        if "enum" in sub:
            typ = " \\| ".join(map(str, sub["enum"]))
        elif typ == "array" and "items" in sub and len(sub["items"].get("enum", ())) > 12:
            typ = f"list of string (one of {len(sub['items']['enum'])} names)"
        elif typ == "array" and "items" in sub and "enum" in sub["items"]:
            typ = "list of " + " \\| ".join(map(str, sub["items"]["enum"]))
        elif typ == "array":
            typ = f"list of {sub.get('items', {}).get('type', 'any')}"
        default = (json.dumps(sub["default"]) if "default" in sub
                   else "(required)" if key in schema.get("required", ()) else "(unset)")
        yield path, typ, default, " ".join(str(sub.get("description", "")).split())


def table() -> str:
    schema = load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml")
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for path, typ, default, desc in _rows(schema):
        desc = desc.replace("|", "\\|")
        lines.append(f"| `{path}` | {typ} | `{default}` | {desc} |")
    return "\n".join(lines)


def readme_block(text: str) -> str:
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


if __name__ == "__main__":
    if "--write" in sys.argv:
        readme = ROOT / "README.md"
        text = readme.read_text()
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        readme.write_text(f"{head}{BEGIN}\n{table()}\n{END}{tail}")
    else:
        print(table())
