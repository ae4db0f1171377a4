"""The bench report: ``results.json`` -> PNG figures, ``report.md`` and ``index.html``.

``data`` reads a run and groups its cells; ``winners`` picks the fastest correct contexts and the
lines a user copies; ``figures`` draws (matplotlib, Agg); ``document`` renders Markdown and HTML;
``build`` puts it together (``build_report``); ``compare`` sets two runs side by side.
"""
