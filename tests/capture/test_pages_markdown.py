"""capture.markdown: landing-page bodies are Markdown, shown to visitors as HTML that
keeps the marketer's formatting and nothing that runs."""

import pytest

from capture.markdown import render_markdown


@pytest.mark.parametrize("evil", [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<style>body{display:none}</style>",
    '<iframe src="https://evil.example/"></iframe>',
    '<object data="https://evil.example/x.swf"></object>',
    '<svg onload="alert(1)"><script>alert(1)</script></svg>',
])
def test_it_removes_scripts_styles_iframes_and_their_content(evil):
    html = render_markdown(f"Hello\n\n{evil}\n\nworld")

    lowered = html.lower()
    for needle in ("<script", "<style", "<iframe", "<object", "<svg", "alert(1)", "evil.example",
                   "display:none"):
        assert needle not in lowered
    assert "Hello" in html and "world" in html


@pytest.mark.parametrize("evil", [
    '<img src="https://x.example/a.png" onerror="alert(1)">',
    '<p onclick="alert(1)">hi</p>',
    '<a href="https://x.example/" onmouseover="alert(1)">x</a>',
    '<div style="background:url(javascript:alert(1))">x</div>',
])
def test_it_removes_event_handlers_and_style_attributes(evil):
    html = render_markdown(evil).lower()

    assert "onerror" not in html and "onclick" not in html and "onmouseover" not in html
    assert "style=" not in html and "alert(1)" not in html


@pytest.mark.parametrize("markdown", [
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    '<a href="  javascript:alert(1)">click</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">click</a>',
    '<a href="vbscript:msgbox(1)">click</a>',
    "[click](//evil.example/)",
])
def test_it_drops_links_that_are_not_http_https_or_mailto(markdown):
    html = render_markdown(markdown)

    assert "click" in html
    assert "href" not in html


def test_it_keeps_headings_lists_emphasis_quotes_code_and_tables():
    html = render_markdown(
        "# Title\n\n## Sub\n\nSome *em*, **strong** and `code`.\n\n"
        "- one\n- two\n\n1. first\n2. second\n\n> quoted\n\n"
        "```\nblock <b>\n```\n\n| a | b |\n|---|--:|\n| 1 | 2 |\n"
    )

    for tag in ("<h1>Title</h1>", "<h2>Sub</h2>", "<em>em</em>", "<strong>strong</strong>",
                "<code>code</code>", "<ul>", "<ol>", "<li>one</li>", "<blockquote>",
                "<pre><code>block &lt;b&gt;", "<table>", "<th>a</th>", '<td align="right">2</td>'):
        assert tag in html


def test_links_keep_their_target_and_get_noopener_nofollow():
    html = render_markdown("[site](https://www.example.com/a?b=1) [mail](mailto:hi@example.com)")

    assert '<a href="https://www.example.com/a?b=1" rel="noopener nofollow">site</a>' in html
    assert '<a href="mailto:hi@example.com" rel="noopener nofollow">mail</a>' in html


def test_it_keeps_https_images_and_drops_other_image_sources():
    html = render_markdown(
        "![cover](https://cdn.example.com/cover.png) ![plain](http://cdn.example.com/x.png) "
        '<img src="data:image/png;base64,AAAA" alt="data">'
    )

    assert '<img alt="cover" src="https://cdn.example.com/cover.png">' in html
    assert "http://cdn.example.com" not in html
    assert "data:image" not in html


def test_it_strips_unknown_tags_but_keeps_their_text():
    html = render_markdown('<form action="https://evil.example/"><input name="x">Text</form>')

    assert "<form" not in html and "<input" not in html
    assert "Text" in html
