//! Messages as the bot writes them: a plain and an HTML body, room names
//! escaped and shortened. Pure data, so the state machine can write them.

/// A message in both forms Matrix clients show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text {
    pub plain: String,
    pub html: String,
}

impl Text {
    /// Text without markup; escaped for the HTML body.
    pub fn plain(text: &str) -> Self {
        Self {
            plain: text.to_owned(),
            html: escape_html(text).replace('\n', "<br>"),
        }
    }

    /// A preformatted block, for clap's help and errors.
    pub fn code(text: &str) -> Self {
        Self {
            plain: text.to_owned(),
            html: format!("<pre><code>{}</code></pre>", escape_html(text)),
        }
    }

    /// Appends a line; `html` is trusted markup, `plain` its plain form.
    pub fn line(&mut self, plain: &str, html: &str) {
        if !self.plain.is_empty() {
            self.plain.push('\n');
            self.html.push_str("<br>");
        }
        self.plain.push_str(plain);
        self.html.push_str(html);
    }
}

/// Escapes text for an HTML body.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        let t = Text::plain("<b>x</b> & \"y\"\nz");
        assert_eq!(t.html, "&lt;b&gt;x&lt;/b&gt; &amp; &quot;y&quot;<br>z");
        let c = Text::code("<script>");
        assert_eq!(c.html, "<pre><code>&lt;script&gt;</code></pre>");
    }
}
