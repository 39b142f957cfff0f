"""The job page's live counters say a duration as the server does."""

import json
import re

from django.conf import settings

from tests.builds.test_durations import SPOKEN


def test_it_says_durations_as_the_server_does(browser):
    source = (settings.BASE_DIR / "static" / "herald" / "job.js").read_text()
    spoken = re.search(r"^  function spoken\(t\) \{$.*?^  \}$", source, re.M | re.S).group(0)
    page = browser.new_page()
    try:
        said = page.evaluate(f"(() => {{ {spoken}\n return {json.dumps([s for s, _ in SPOKEN])}.map(spoken); }})()")
    finally:
        page.close()
    assert said == [text for _, text in SPOKEN]
