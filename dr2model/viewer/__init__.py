"""`dr2 view`: one self-contained HTML page that animates results in 3D with their speech.

page.py builds it; page.html is its template; vendor/ holds three.js (MIT), inlined into every page.
"""

from dr2model.viewer.page import write_view

__all__ = ["write_view"]
