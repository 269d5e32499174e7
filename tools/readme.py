"""Render nbs/index.ipynb to README.md (nbdev's own renderer needs Quarto, which this project does not install).

python tools/readme.py          write README.md
python tools/readme.py --check  exit 1 when README.md is not what index.ipynb renders to
"""
import sys
from pathlib import Path

import nbformat
from nbconvert import MarkdownExporter

root = Path(__file__).resolve().parent.parent


def render() -> str:
    nb = nbformat.read(root / "nbs" / "index.ipynb", as_version=4)
    nb.cells = [c for c in nb.cells if not c.source.lstrip().startswith("#|")]
    body, _ = MarkdownExporter(exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)
    note = "<!-- Generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file -->\n\n"
    return note + body.strip() + "\n"


if __name__ == "__main__":
    text, readme = render(), root / "README.md"
    if "--check" in sys.argv:
        if not readme.exists() or readme.read_text(encoding="utf-8") != text:
            sys.exit("README.md is not what nbs/index.ipynb renders to: run `python tools/readme.py` and commit it")
        print("README.md is up to date")
    else:
        readme.write_text(text, encoding="utf-8")
        print(f"wrote {readme}")
